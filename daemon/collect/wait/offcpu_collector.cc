#include "collect/wait/offcpu_collector.h"

#include <bpf/libbpf.h>

#include "offcpu.skel.h"

namespace profd {

std::unique_ptr<OffCpuCollector> OffCpuCollector::Load(const Options& options, std::string* error) {
  std::unique_ptr<OffCpuCollector> collector(new OffCpuCollector());
  auto configure = [&options](offcpu_bpf* skel) {
    Configure(options, skel->rodata);
    skel->rodata->min_wait_nanos = options.min_block_nanos;
  };
  if (!collector->skel_.Load("the block profiler", configure, error)) return nullptr;
  offcpu_bpf* skel = collector->skel_.get();
  if (!collector->UseWaitObject(skel->obj, skel->progs.profd_block_switch_out, options,
                                options.min_block_nanos, error))
    return nullptr;
  return collector;
}

OffCpuCollector::~OffCpuCollector() { Stop(); }

}  // namespace profd

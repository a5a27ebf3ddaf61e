#include "collect/wait/offcpu_collector.h"

#include <bpf/libbpf.h>

#include <cerrno>

#include "collect/bpf_support.h"
#include "offcpu.skel.h"

namespace profd {

std::unique_ptr<OffCpuCollector> OffCpuCollector::Load(const Options& options, std::string* error) {
  std::unique_ptr<OffCpuCollector> collector(new OffCpuCollector());
  collector->skel_ = offcpu_bpf__open();
  if (!collector->skel_) {
    *error = DescribeBpfError("cannot open the block profiler's BPF object", errno);
    return nullptr;
  }
  offcpu_bpf* skel = collector->skel_;
  Configure(options, skel->rodata);
  skel->rodata->min_wait_nanos = options.min_block_nanos;
  if (int err = offcpu_bpf__load(skel)) {
    *error = DescribeBpfError("cannot load the block profiler's BPF programs", err);
    return nullptr;
  }
  if (!collector->UseWaitObject(skel->obj, skel->progs.profd_block_switch_out, options,
                                options.min_block_nanos, error))
    return nullptr;
  return collector;
}

OffCpuCollector::~OffCpuCollector() {
  Stop();
  if (skel_) offcpu_bpf__destroy(skel_);
}

}  // namespace profd

#include "collect/wait/mutex_collector.h"

#include <bpf/libbpf.h>

#include "mutex.skel.h"

namespace profd {

std::unique_ptr<MutexCollector> MutexCollector::Load(const Options& options, std::string* error) {
  std::unique_ptr<MutexCollector> collector(new MutexCollector());
  auto configure = [&options](mutex_bpf* skel) { Configure(options, skel->rodata); };
  if (!collector->skel_.Load("the mutex profiler", configure, error)) return nullptr;
  mutex_bpf* skel = collector->skel_.get();
  if (!collector->UseWaitObject(skel->obj, skel->progs.profd_mutex_switch_out, options,
                                /*min_wait_nanos=*/0, error))
    return nullptr;
  return collector;
}

MutexCollector::~MutexCollector() { Stop(); }

}  // namespace profd

#include "collect/wait/mutex_collector.h"

#include <bpf/libbpf.h>

#include <cerrno>

#include "collect/bpf_support.h"
#include "mutex.skel.h"

namespace profd {

std::unique_ptr<MutexCollector> MutexCollector::Load(const Options& options, std::string* error) {
  std::unique_ptr<MutexCollector> collector(new MutexCollector());
  collector->skel_ = mutex_bpf__open();
  if (!collector->skel_) {
    *error = DescribeBpfError("cannot open the mutex profiler's BPF object", errno);
    return nullptr;
  }
  mutex_bpf* skel = collector->skel_;
  Configure(options, skel->rodata);
  if (int err = mutex_bpf__load(skel)) {
    *error = DescribeBpfError("cannot load the mutex profiler's BPF programs", err);
    return nullptr;
  }
  if (!collector->UseWaitObject(skel->obj, skel->progs.profd_mutex_switch_out, options,
                                /*min_wait_nanos=*/0, error))
    return nullptr;
  return collector;
}

MutexCollector::~MutexCollector() {
  Stop();
  if (skel_) mutex_bpf__destroy(skel_);
}

}  // namespace profd

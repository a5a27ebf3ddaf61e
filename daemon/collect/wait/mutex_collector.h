// The mutex profile collector: mutex.bpf.c at every switch-out of the target threads, counting the
// ones that sleep in a futex lock wait.
#ifndef PROFD_DAEMON_COLLECT_WAIT_MUTEX_COLLECTOR_H
#define PROFD_DAEMON_COLLECT_WAIT_MUTEX_COLLECTOR_H

#include <memory>
#include <string>

#include "collect/bpf_skeleton.h"
#include "collect/wait/wait_collector.h"

struct mutex_bpf;

namespace profd {

class MutexCollector : public WaitCollector {
 public:
  using Options = CollectorOptions;

  static std::unique_ptr<MutexCollector> Load(const Options& options, std::string* error);
  ~MutexCollector() override;

 private:
  MutexCollector() = default;
  BpfSkeleton<mutex_bpf> skel_;
};

}  // namespace profd

#endif  // PROFD_DAEMON_COLLECT_WAIT_MUTEX_COLLECTOR_H

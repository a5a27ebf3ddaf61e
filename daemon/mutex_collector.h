// The mutex profile collector: mutex.bpf.c on the futex syscall tracepoints (tracefs is mounted if
// it is not, since tracepoints are found by their tracefs id).
#ifndef PROFD_DAEMON_MUTEX_COLLECTOR_H
#define PROFD_DAEMON_MUTEX_COLLECTOR_H

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "stack_collector.h"

struct mutex_bpf;

namespace profd {

class MutexCollector : public StackCollector {
 public:
  using Options = CollectorOptions;

  static std::unique_ptr<MutexCollector> Load(const Options& options, std::string* error);
  ~MutexCollector() override;
  bool Attach(std::string* error) override;

 private:
  MutexCollector() = default;
  mutex_bpf* skel_ = nullptr;
};

// Mounts tracefs at /sys/kernel/tracing unless it (or debugfs's tracing) is there already; "" or
// why not.
std::string EnsureTracefs();

}  // namespace profd

#endif  // PROFD_DAEMON_MUTEX_COLLECTOR_H

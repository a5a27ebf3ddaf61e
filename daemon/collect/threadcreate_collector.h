// The threadcreate profile collector: threadcreate.bpf.c on the task_newtask raw tracepoint.
#ifndef PROFD_DAEMON_COLLECT_THREADCREATE_COLLECTOR_H
#define PROFD_DAEMON_COLLECT_THREADCREATE_COLLECTOR_H

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "collect/bpf_skeleton.h"
#include "collect/stack_collector.h"

struct threadcreate_bpf;

namespace profd {

class ThreadCreateCollector : public StackCollector {
 public:
  using Options = CollectorOptions;

  static std::unique_ptr<ThreadCreateCollector> Load(const Options& options, std::string* error);
  ~ThreadCreateCollector() override;
  bool Attach(std::string* error) override;

 private:
  ThreadCreateCollector() = default;
  BpfSkeleton<threadcreate_bpf> skel_;
};

}  // namespace profd

#endif  // PROFD_DAEMON_COLLECT_THREADCREATE_COLLECTOR_H

#include "collect/threadcreate_collector.h"

#include <bpf/libbpf.h>

#include <cerrno>

#include "collect/bpf_support.h"
#include "threadcreate.skel.h"

namespace profd {

std::unique_ptr<ThreadCreateCollector> ThreadCreateCollector::Load(const Options& options,
                                                                   std::string* error) {
  std::unique_ptr<ThreadCreateCollector> collector(new ThreadCreateCollector());
  collector->skel_ = threadcreate_bpf__open();
  if (!collector->skel_) {
    *error = DescribeBpfError("cannot open the threadcreate profiler's BPF object", errno);
    return nullptr;
  }
  threadcreate_bpf* skel = collector->skel_;
  Configure(options, skel->rodata);
  if (int err = threadcreate_bpf__load(skel)) {
    *error = DescribeBpfError("cannot load the threadcreate profiler's BPF programs", err);
    return nullptr;
  }
  if (!collector->UseObject(skel->obj, options.pids, error)) return nullptr;
  return collector;
}

bool ThreadCreateCollector::Attach(std::string* error) {
  return AttachProgram(skel_->progs.profd_task_newtask, error) && AttachProcessEvents(error);
}

ThreadCreateCollector::~ThreadCreateCollector() {
  Stop();
  if (skel_) threadcreate_bpf__destroy(skel_);
}

}  // namespace profd

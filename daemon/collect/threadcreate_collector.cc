#include "collect/threadcreate_collector.h"

#include <bpf/libbpf.h>

#include "threadcreate.skel.h"

namespace profd {

std::unique_ptr<ThreadCreateCollector> ThreadCreateCollector::Load(const Options& options,
                                                                   std::string* error) {
  std::unique_ptr<ThreadCreateCollector> collector(new ThreadCreateCollector());
  auto configure = [&options](threadcreate_bpf* skel) { Configure(options, skel->rodata); };
  if (!collector->skel_.Load("the threadcreate profiler", configure, error) ||
      !collector->UseObject(collector->skel_->obj, options, error))
    return nullptr;
  return collector;
}

bool ThreadCreateCollector::Attach(std::string* error) {
  return AttachProgram(skel_->progs.profd_task_newtask, error) && AttachProcessEvents(error);
}

ThreadCreateCollector::~ThreadCreateCollector() { Stop(); }

}  // namespace profd

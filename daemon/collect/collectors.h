// The collectors whose class stays in its own .cc: one load function each, which loads its
// type's BPF programs for `options`' targets and returns the collector, or the error that stopped
// it. (The cpu sampler and the heap collector have headers of their own: the shared
// sampler and the launch command call more of them.)
#ifndef PROFD_DAEMON_COLLECT_COLLECTORS_H
#define PROFD_DAEMON_COLLECT_COLLECTORS_H

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "base/result.h"
#include "collect/stack_collector.h"

namespace profd {

// block: offcpu.bpf.c at every switch-out of the target threads (wait/offcpu_collector.cc),
// counting waits of at least `min_block_nanos`.
Result<std::unique_ptr<StackCollector>> LoadOffCpuCollector(const CollectorOptions& options,
                                                            uint64_t min_block_nanos);

// mutex: mutex.bpf.c at every switch-out of the target threads, counting the ones that sleep in a
// futex lock wait (wait/mutex_collector.cc).
Result<std::unique_ptr<StackCollector>> LoadMutexCollector(const CollectorOptions& options);

// threadcreate: threadcreate.bpf.c on the task_newtask raw tracepoint (threadcreate_collector.cc).
Result<std::unique_ptr<StackCollector>> LoadThreadCreateCollector(const CollectorOptions& options);

// For the files above: makes a `Collector` and calls its Load(args..., &error).
template <class Collector, class... Args>
Result<std::unique_ptr<StackCollector>> MakeLoadedCollector(Args&&... args) {
  auto collector = std::make_unique<Collector>();
  std::string error;
  if (!collector->Load(std::forward<Args>(args)..., &error)) return Error{error};
  return collector;
}

}  // namespace profd

#endif  // PROFD_DAEMON_COLLECT_COLLECTORS_H

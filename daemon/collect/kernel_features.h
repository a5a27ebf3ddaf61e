// What profd's BPF programs need of the kernel beyond BPF itself, probed at run time (until found)
// so that a type the kernel cannot serve is refused before anything loads, in words that
// name the feature and the Linux release it came in, and the schedule leaves it out.
#ifndef PROFD_DAEMON_COLLECT_KERNEL_FEATURES_H
#define PROFD_DAEMON_COLLECT_KERNEL_FEATURES_H

#include <cstdint>
#include <string>

namespace profd {

// Bits of a set of features (ProfileTypeInfo::kernel_features).
enum KernelFeature : uint32_t {
  kFeatureStackWalk = 1 << 0,        // perf_event programs with bpf_loop, bpf_task_pt_regs (5.17)
  kFeatureCpuClock = 1 << 1,         // software CPU-clock perf events (the samplers' timers)
  kFeatureRawTracepoints = 1 << 2,   // raw tracepoints: exec, exit, fork, new tasks
  kFeatureRingBuffer = 1 << 3,       // BPF ring buffers (5.8): the heap's peak events
  kFeatureTaskStorage = 1 << 4,      // task-local storage (5.11): the heap's per-thread state
  kFeatureUprobeSessions = 1 << 5,   // uprobe session links (6.13): the allocator probes
};

// "" when the kernel has every feature of `needed`; else a sentence naming what it lacks, with the
// Linux release each came in and this kernel's release. A feature found is not probed again; one
// missing is probed again at the next call.
std::string MissingKernelFeatures(uint32_t needed);

// The sentence for `missing` (the features of `needed` the kernel lacks) on kernel `release`: ""
// when none is missing.
std::string DescribeMissingFeatures(uint32_t missing, const std::string& release);

}  // namespace profd

#endif  // PROFD_DAEMON_COLLECT_KERNEL_FEATURES_H

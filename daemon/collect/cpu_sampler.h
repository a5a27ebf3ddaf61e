// The CPU profile collector: a perf_event CPU-clock sampler on every online CPU running cpu.bpf.c,
// filtered in the kernel to the target processes, counting stacks in kernel maps.
#ifndef PROFD_DAEMON_COLLECT_CPU_SAMPLER_H
#define PROFD_DAEMON_COLLECT_CPU_SAMPLER_H

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/unique_fd.h"
#include "collect/bpf_skeleton.h"
#include "collect/stack_collector.h"

struct cpu_bpf;

namespace profd {

class CpuSampler : public StackCollector {
 public:
  struct Options : CollectorOptions {
    int frequency_hz = 99;
    // Distinct stacks and (thread, stack) keys kept in the kernel; preallocated, so they size the
    // kernel memory profd holds: about 1 KiB per stack and 100 bytes per key.
    uint32_t max_stacks = 16384;
    uint32_t max_counts = 65536;
  };

  // Loads the BPF programs; null with `error` set (saying what is missing) on failure. Sampling
  // starts with Attach, so that unwind tables can be loaded first.
  static std::unique_ptr<CpuSampler> Load(const Options& options, std::string* error);
  ~CpuSampler() override;

  // Opens a CPU-clock perf event on every online CPU and attaches the sampler to each.
  bool Attach(std::string* error) override;
  // Detaches and closes the perf events: no timer fires for it until Attach again.
  void Stop() override;

  int64_t period_nanos() const { return period_nanos_; }

 private:
  CpuSampler() = default;

  BpfSkeleton<cpu_bpf> skel_;
  int64_t period_nanos_ = 0;
};

}  // namespace profd

#endif  // PROFD_DAEMON_COLLECT_CPU_SAMPLER_H

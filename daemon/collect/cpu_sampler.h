// The CPU profile collector: a perf_event CPU-clock sampler on every online CPU running cpu.bpf.c,
// filtered in the kernel to the target processes, counting stacks in kernel maps.
#ifndef PROFD_DAEMON_COLLECT_CPU_SAMPLER_H
#define PROFD_DAEMON_COLLECT_CPU_SAMPLER_H

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "base/result.h"
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
    // Time each sample's phases in BPF (the unwinding, the stores, the count) and say where the
    // time went in Notes; costs a clock read per phase, so only for --bpf-stats.
    bool phase_timing = false;
  };

  // Loads the BPF programs, or says what is missing. Sampling starts with Attach, so that unwind
  // tables can be loaded first.
  static Result<std::unique_ptr<CpuSampler>> Load(const Options& options);
  ~CpuSampler() override;

  // Opens a CPU-clock perf event on every online CPU and attaches the sampler to each.
  Result<void> Attach() override;
  // Detaches and closes the perf events: no timer fires for it until Attach again.
  void Stop() override;
  // Disables or enables the perf events, which stay open: no timer fires while off.
  void SetSampling(bool on) override;
  // Draws each CPU's period anew when it is due (see Retune).
  double Poll() override;
  std::vector<std::string> Notes() const override;

  int64_t period_nanos() const { return period_nanos_; }

 private:
  using Clock = std::chrono::steady_clock;
  CpuSampler() = default;
  // A fixed period aliases with a workload periodic near it: a thread that runs 5 ms and sleeps
  // 5 ms showed 27% to 100% of its 50% at 99 Hz, its wake-ups drawn onto the sampler's ticks by
  // timer slack. So each CPU's period is drawn anew, within ±20% of the nominal one, every 0.2 to
  // 0.6 s; the change restarts the timer at a random phase. The BPF program weighs each sample by
  // its CPU's period in effect (cpu_periods), and the sample after a change also by the part of
  // the period the restart cut off.
  void Retune(size_t event, Clock::time_point now);

  BpfSkeleton<cpu_bpf> skel_;
  int64_t period_nanos_ = 0;
  struct Event {
    int cpu;
    int fd;  // the perf event's; its link owns and closes it
    Clock::time_point retune_at;
  };
  int cpu_periods_fd_ = -1;
  int phase_nanos_fd_ = -1;  // with Options::phase_timing
  std::vector<Event> events_;
  std::mt19937_64 random_{std::random_device{}()};
};

}  // namespace profd

#endif  // PROFD_DAEMON_COLLECT_CPU_SAMPLER_H

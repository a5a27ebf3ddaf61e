// The heap and allocs collector: heap.bpf.c's session uprobe on each target's allocator (the file
// that defines the malloc it calls), one uprobe_multi link per target, attached in duty-cycled
// windows when its cost would exceed the budget. Collect() returns Go's four heap values per stack,
// each sample counting 1/p allocations (p its chance of being sampled).
#ifndef PROFD_DAEMON_COLLECT_HEAP_HEAP_COLLECTOR_H
#define PROFD_DAEMON_COLLECT_HEAP_HEAP_COLLECTOR_H

#include <sys/types.h>

#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"
#include "collect/bpf_skeleton.h"
#include "collect/heap/allocator_probes.h"
#include "collect/stack_collector.h"
#include "process/process_table.h"
#include "profd_abi.h"

struct heap_bpf;
struct ring_buffer;

namespace profd {

class HeapCollector : public StackCollector {
 public:
  struct Options : CollectorOptions {
    uint64_t sample_rate = 512 * 1024;  // mean bytes between samples; 1: every allocation
    double max_overhead_percent = 3;    // probe cost budget, percent of the targets' CPU time
    // A launched command runs profd's preload sampler from one of these files (preload/: with or
    // without jemalloc's API): where a target's allocator is it, the sampler's labels are probed
    // instead (one trap per sample, always on).
    std::vector<std::string> preload_libraries;
    // heap: also the sampled blocks live at the peak of live sampled bytes (heaptrack's peak), as
    // values 5 and 6 of each row; found from every sampled allocation and free in order.
    bool track_peak = false;
  };

  // Finds every target's allocator in `processes` (they must be observed) and loads the programs.
  static Result<std::unique_ptr<HeapCollector>> Load(const Options& options,
                                                     const ProcessTable& processes);
  ~HeapCollector() override;
  // Measures what a probe hit costs here, then attaches the first window.
  Result<void> Attach() override;
  void Stop() override;
  double Poll() override;
  void Checkpoint() override;
  StackSamples Collect() const override;
  std::vector<std::string> Notes() const override;

  // What one probe hit costs on this host, measured on profd's own process.
  struct ProbeCost {
    double entry_seconds = 0;   // an entry probe
    double return_seconds = 0;  // the return probe a sampled allocation adds
  };

 private:
  // heap_duty_cycle.cc: the budget.
  static double Now();  // steady-clock seconds, the windows' time
  // What a probe hit costs here (cost_), measured at most every 10 minutes for the process.
  bool MeasureProbeCostLately(std::string* error);
  HeapCollector() = default;
  struct Target {
    pid_t pid;
    std::shared_ptr<MappedFile> file;  // keeps the allocator's file open for attaching
    std::string path;                  // as the process maps it
    std::map<std::string, AllocatorFunction> functions;
    UniqueFd link;         // its uprobe_multi link while attached
    UniqueFd free_link;    // the preload sampler's frees of sampled blocks
    bool preload = false;  // functions are the preload sampler's labels
    bool gone = false;     // exited: no more windows
  };
  struct HitCounts {
    uint64_t alloc_calls = 0, alloc_returns = 0, frees = 0, nested = 0;
  };
  bool AttachProbes(std::string* error);
  bool AttachPreloadProbes(Target* target, std::string* error);
  void DetachProbes();
  HitCounts ReadHits() const;
  // The user-time meter: a user-mode task-clock event on every target thread (inherited by the
  // threads they create), whose ticks heap.bpf.c counts apart while the probes are attached.
  bool OpenUserTickEvents(std::string* error);
  struct UserTicks {
    uint64_t detached = 0, attached = 0;
  };
  UserTicks ReadUserTicks() const;
  // The targets' CPU time (all of it, and in user mode: probes cost system time, so user time is
  // the work they got done).
  struct CpuTimes {
    double total = 0, user = 0;
  };
  CpuTimes TargetCpuTimes() const;
  // Adds the window since window_start_ to the totals; `closes`: false when it goes on
  // (Checkpoint).
  void EndWindow(double now, bool closes = true);
  double ProbeSeconds(const HitCounts& hits) const;
  // What allocation values are multiplied by for the time the probes were detached, what it was
  // measured from, and whether it can be trusted.
  struct Estimate {
    double scale;
    std::string basis;
    bool trusted;
    std::string why_not;  // when not trusted: why, in words
  };
  Estimate WindowScale() const;
  std::string UntrustedTotalsWarning(const Estimate& estimate) const;
  // Starts the next window (probes on or off) at `now`.
  void StartWindow(double now);

  // The peak: every sampled block's allocation and free in order, the live bytes after each, and
  // where they were highest; Stop() replays them to that point.
  static int OnPeakEvent(void* self, void* data, size_t size);
  void FindPeak();
  ring_buffer* peak_events_ = nullptr;
  std::vector<profd_heap_event> peak_log_;
  double live_bytes_ = 0, peak_bytes_ = 0;
  size_t peak_at_ = 0;  // events up to the peak
  bool peak_log_full_ = false;
  std::vector<profd_live_block> peak_blocks_;
  std::map<std::pair<uint32_t, uint64_t>, uint64_t> peak_live_now_;  // (pid, address) → bytes

  Options options_;
  BpfSkeleton<heap_bpf> skel_;
  std::vector<Target> targets_;
  ProbeCost cost_;
  uint64_t rate_in_force_ = 0;  // the sample rate in BPF now (lowered when duty-cycled)
  bool probes_attached_ = false;
  bool stopped_ = false;

  // Duty cycle state; times in seconds of the steady clock.
  double window_start_ = 0;
  double next_switch_ = 0;
  double on_length_ = 0.01;  // the first window measures the rate
  HitCounts hits_at_window_start_;
  CpuTimes cpu_at_window_start_;
  uint64_t attached_ticks_at_window_start_ = 0;
  // Sums over the attached windows in which the targets worked of each window's allocation calls c
  // and user-mode ticks t: how much c/t varies from window to window sets the scale's error (a
  // program's phases allocate at other rates). Sums, not a list: a cumulative collection has
  // millions of windows.
  struct WindowSums {
    double n = 0, c = 0, t = 0, cc = 0, ct = 0, tt = 0;
  };
  WindowSums attached_windows_;
  // Totals over the collection.
  double seconds_on_ = 0, seconds_off_ = 0;
  double cpu_on_ = 0, cpu_off_ = 0;  // targets' CPU time with probes attached / detached
  double user_off_ = 0;              // the user-mode part of cpu_off_ (the probes cost system time)
  double probe_seconds_ = 0;  // what the probes cost them (hits × calibrated cost, or measured)
  int measured_cost_windows_ = 0;  // windows whose probes cost more than calibrated
  HitCounts hits_on_;
  int windows_ = 0;
  std::set<pid_t> ticked_threads_;
  std::mt19937_64 jitter_{std::random_device{}()};  // detached windows' lengths vary by ±50%
  bool duty_cycled_ = false;
  bool preload_ = false;  // every target samples in its own process: no probe cost to budget
  std::vector<std::string> window_errors_;
};

// What a sampled allocation's bytes are multiplied by: h(x) = x / (1 - exp(-x)) for x = size /
// rate, i.e. size / p with p = 1 - exp(-x) its chance of being sampled, in units of the rate
// (heap.bpf.c has it as a table).
double SampleBytesWeight(double x);

}  // namespace profd

#endif  // PROFD_DAEMON_COLLECT_HEAP_HEAP_COLLECTOR_H

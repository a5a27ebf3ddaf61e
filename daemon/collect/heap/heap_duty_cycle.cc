// The heap collector's budget: what a probe hit costs here, the targets' user-time meter, the
// duty-cycle windows that keep the probes' cost under --max-overhead, and the estimate of what
// share of the allocations the attached windows saw.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/perf_event.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <mutex>

#include "base/log.h"
#include "collect/bpf_support.h"
#include "collect/heap/heap_collector.h"
#include "collect/heap/session_probes.h"
#include "heap.skel.h"
#include "process/proc_files.h"

namespace profd {
namespace {

// The user-time meter's tick: 1 ms of a thread's user-mode run time.
constexpr uint64_t kUserTickNanos = 1000000;
// The largest standard error of the duty-cycle scale called trustworthy (100 ticks attached).
constexpr double kTrustedScaleError = 0.1;
// The fewest attached windows in which the targets worked that can tell how their allocation rate
// varies between windows (below it the error estimate itself is not to be trusted).
constexpr size_t kTrustedWindows = 10;
// What a uprobe hit costs at least of the probed program's own user-mode time: its code runs
// slower after each trap (0.14 µs per hit with no working set, 0.5-0.7 µs for a few pages or
// sqlite3, measured on this project's VMs: BENCHMARKS.md section 12, bench/probe_penalty). The
// meter counts that as work, so where it is a large share of the user time seen attached, the
// scale comes out low by at least that share.
constexpr double kTrapUserSecondsFloor = 0.14e-6;
// The largest such share (a low bias of the totals) still called trustworthy.
constexpr double kTrustedTrapShare = 0.1;

double SteadySeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// free(), called through a pointer the compiler cannot see through (it drops free(nullptr)).
void (*volatile g_free)(void*) = free;

// Seconds per free(nullptr), the median of five runs of `calls` calls.
double SecondsPerFree(int calls) {
  std::vector<double> runs;
  for (int run = 0; run < 5; run++) {
    const double start = SteadySeconds();
    for (int i = 0; i < calls; i++) g_free(nullptr);
    runs.push_back((SteadySeconds() - start) / calls);
  }
  std::sort(runs.begin(), runs.end());
  return runs[runs.size() / 2];
}

// Measures an entry probe, and an entry with its return probe, on profd's own glibc free(): the
// same code, and so the same trap (an instruction emulated or stepped out of line), as most
// targets' allocators. profd is no target, so the program returns at the filter: what is measured
// is what every hit costs a target before BPF does anything.
bool MeasureProbeCost(heap_bpf* skel, HeapCollector::ProbeCost* cost, std::string* error) {
  std::string libc;
  uint64_t offset;
  if (!FindOwnFree(&libc, &offset, error)) return false;
  const double bare = SecondsPerFree(20000);
  double with[2];
  for (int with_return = 0; with_return < 2; with_return++) {
    skel->bss->calibrate_return = with_return;
    UniqueFd link =
        AttachSessionProbes(skel->progs.profd_calibrate, libc, {offset}, {}, getpid());
    if (!link.valid()) {
      *error = DescribeAttachError("cannot attach a uprobe", errno);
      return false;
    }
    SecondsPerFree(20);  // the first hits map the probe's trampoline page
    with[with_return] = SecondsPerFree(300);
  }
  cost->entry_seconds = std::max(0.0, with[0] - bare);
  cost->return_seconds = std::max(0.0, with[1] - with[0]);
  return true;
}

// MeasureProbeCost once per 10 minutes for the whole process: the daemon serves many heap requests,
// and concurrent measurements would also count each other's traps.
bool ProbeCostMeasuredLately(heap_bpf* skel, HeapCollector::ProbeCost* cost, std::string* error) {
  static std::mutex mutex;
  static HeapCollector::ProbeCost last;
  static double measured_at = -1;
  std::lock_guard<std::mutex> lock(mutex);
  const double now = SteadySeconds();
  if (measured_at < 0 || now - measured_at > 600) {
    if (!MeasureProbeCost(skel, &last, error)) return false;
    measured_at = now;
  }
  *cost = last;
  return true;
}

}  // namespace

double HeapCollector::Now() { return SteadySeconds(); }

bool HeapCollector::MeasureProbeCostLately(std::string* error) {
  return ProbeCostMeasuredLately(skel_.get(), &cost_, error);
}

bool HeapCollector::OpenUserTickEvents(std::string* error) {
  bpf_program* program = skel_->progs.profd_heap_user_tick;
  std::vector<pid_t> pids;
  for (const Target& target : targets_)
    if (!target.preload) pids.push_back(target.pid);
  return ForEachNewThread(pids, &ticked_threads_, [&](pid_t tid) {
    UniqueFd fd(OpenSoftwarePerfEvent(PERF_COUNT_SW_TASK_CLOCK, kUserTickNanos, tid, -1,
                                      /*inherit=*/true, /*user_only=*/true));
    if (!fd.valid() && errno == ESRCH) return true;  // the thread has exited meanwhile
    bpf_link* link = fd.valid() ? AttachToPerfEvent(program, std::move(fd)) : nullptr;
    if (!link) {
      *error = DescribeBpfError(
          "cannot time thread " + std::to_string(tid) + "'s user-mode work (a task-clock perf "
          "event), which scales what duty-cycled probes see",
          errno);
      return false;
    }
    links_.push_back(link);
    return true;
  });
}

HeapCollector::UserTicks HeapCollector::ReadUserTicks() const {
  const volatile __u64* ticks = skel_->bss->user_ticks;
  return {ticks[0], ticks[1]};
}

HeapCollector::HitCounts HeapCollector::ReadHits() const {
  HitCounts hits;
  const int fd = bpf_map__fd(skel_->maps.heap_stats);
  const int cpus = libbpf_num_possible_cpus();
  std::vector<uint64_t> per_cpu(std::max(cpus, 1));
  auto sum = [&](uint32_t id) {
    uint64_t total = 0;
    if (bpf_map_lookup_elem(fd, &id, per_cpu.data()) == 0)
      for (uint64_t v : per_cpu) total += v;
    return total;
  };
  hits.alloc_calls = sum(PROFD_HEAP_ALLOC_CALLS);
  hits.alloc_returns = sum(PROFD_HEAP_ALLOC_RETURNS);
  hits.frees = sum(PROFD_HEAP_FREE_CALLS);
  hits.nested = sum(PROFD_HEAP_NESTED_CALLS);
  return hits;
}

HeapCollector::CpuTimes HeapCollector::TargetCpuTimes() const {
  CpuTimes times;
  for (const Target& target : targets_) {
    times.total += ProcessRunSeconds(target.pid);
    times.user += ProcessUserSeconds(target.pid);
  }
  return times;
}

double HeapCollector::ProbeSeconds(const HitCounts& hits) const {
  return (hits.alloc_calls + hits.frees) * cost_.entry_seconds +
         hits.alloc_returns * cost_.return_seconds;
}

// Closes the current window (probes on or off) into the totals.
void HeapCollector::EndWindow(double now, bool closes) {
  const CpuTimes times = TargetCpuTimes();
  const double cpu = std::max(0.0, times.total - cpu_at_window_start_.total);
  const double user = std::max(0.0, times.user - cpu_at_window_start_.user);
  if (probes_attached_) {
    const HitCounts now_hits = ReadHits();
    HitCounts window = {now_hits.alloc_calls - hits_at_window_start_.alloc_calls,
                        now_hits.alloc_returns - hits_at_window_start_.alloc_returns,
                        now_hits.frees - hits_at_window_start_.frees,
                        now_hits.nested - hits_at_window_start_.nested};
    hits_on_.alloc_calls += window.alloc_calls;
    hits_on_.alloc_returns += window.alloc_returns;
    hits_on_.frees += window.frees;
    hits_on_.nested += window.nested;
    const double c = static_cast<double>(window.alloc_calls);
    const double t = static_cast<double>(ReadUserTicks().attached - attached_ticks_at_window_start_);
    if (c > 0 || t > 0) {
      WindowSums& w = attached_windows_;
      w.n += 1;
      w.c += c;
      w.t += t;
      w.cc += c * c;
      w.ct += c * t;
      w.tt += t * t;
    }
    // What the probes cost the targets: the calibrated cost of their hits, or, where more, the
    // system time the targets spent in this window beyond what their user work has cost them in
    // system time while detached. Traps are system time, so that excess is the probes' real cost
    // in the targets (calibration runs on profd, whose mappings and caches are not theirs), and
    // it includes attaching: the breakpoints written into their pages.
    const double baseline = user_off_ > 0 ? (cpu_off_ - user_off_) / user_off_ * user : 0;
    const double measured = std::max(0.0, (cpu - user) - baseline);
    probe_seconds_ += std::max(ProbeSeconds(window), measured);
    if (measured > ProbeSeconds(window)) measured_cost_windows_++;
    seconds_on_ += now - window_start_;
    cpu_on_ += cpu;
    if (closes) windows_++;
    LogDebug("heap window: " + std::to_string(now - window_start_) + " s attached, target cpu " +
             std::to_string(cpu) + " s, probes " + std::to_string(ProbeSeconds(window)) + " s");
  } else {
    seconds_off_ += now - window_start_;
    cpu_off_ += cpu;
    user_off_ += user;
    LogDebug("heap window: " + std::to_string(now - window_start_) + " s detached, target cpu " +
             std::to_string(cpu) + " s");
  }
}

double HeapCollector::Poll() {
  if (peak_events_) ring_buffer__consume(peak_events_);
  if (preload_) return 0.1;  // always attached: a trap per sample only, nothing to budget
  const double now = SteadySeconds();
  if (stopped_ || now < next_switch_) return std::min(0.1, std::max(0.0, next_switch_ - now));
  const bool was_attached = probes_attached_;
  const double window_started = window_start_;
  const double cpu_before = cpu_on_;
  const double probe_before = probe_seconds_;
  EndWindow(now);
  if (was_attached) {
    // The share of the targets' CPU the probes took in this window decides the duty cycle.
    const double cpu = cpu_on_ - cpu_before;
    const double probes = probe_seconds_ - probe_before;
    // Aim under the budget: the cost per hit is measured on profd, not in the target.
    const double budget = 0.8 * options_.max_overhead_percent / 100;
    const double share = cpu > 0 ? std::min(1.0, probes / cpu) : 0;
    const bool always_on = options_.max_overhead_percent >= 100;
    const double duty = share > budget && !always_on ? budget / share : 1;
    if (duty < 1) {
      if (!duty_cycled_ && options_.sample_rate > 1) {
        // Only `duty` of the allocations will be seen: sampled that much more densely, they give
        // as many samples as an always-on window would.
        rate_in_force_ = std::max<uint64_t>(
            1, static_cast<uint64_t>(static_cast<double>(options_.sample_rate) * duty));
        skel_->data->sample_rate = rate_in_force_;
        skel_->bss->sample_rate_generation += 1;
      }
      duty_cycled_ = true;
      // A cycle of about 0.25 s: many windows, so that the scale's error can be measured and
      // the program's phases average out (each window costs an attach and a detach).
      on_length_ = std::clamp(duty / 4, 0.01, 1.0);
      DetachProbes();
      // Off long enough for this cycle's share, and for the whole collection's to come back under
      // the budget (the first window, at full rate, may have gone over it).
      const double cpu_rate = cpu / std::max(1e-3, now - window_started);
      const double catch_up =
          (probe_seconds_ / budget - (cpu_on_ + cpu_off_)) / std::max(cpu_rate, 1e-3);
      // Detached windows of random length: windows in step with a periodic program would see
      // only one phase of it.
      const double off = on_length_ * (1 - duty) / duty *
                         std::uniform_real_distribution<double>(0.5, 1.5)(jitter_);
      next_switch_ = now + std::max(off, std::min(catch_up, 10.0));
    } else {
      // Stays attached; looks again soon, as an idle target may start allocating any moment.
      next_switch_ = now + 0.02;
    }
  } else {
    std::string error;
    if (!AttachProbes(&error)) {
      window_errors_.push_back(error);
      stopped_ = true;
      return 0.1;
    }
    next_switch_ = now + on_length_;
  }
  StartWindow(now);
  return std::min(0.1, next_switch_ - now);
}

void HeapCollector::StartWindow(double now) {
  window_start_ = now;
  hits_at_window_start_ = ReadHits();
  cpu_at_window_start_ = TargetCpuTimes();
  attached_ticks_at_window_start_ = ReadUserTicks().attached;
}

void HeapCollector::Checkpoint() {
  if (stopped_ || !skel_) return;
  const double now = SteadySeconds();
  EndWindow(now, /*closes=*/false);
  StartWindow(now);
}

std::string HeapCollector::UntrustedTotalsWarning(const Estimate& estimate) const {
  return "allocation totals are NOT to be trusted: " + estimate.why_not +
         ", so what share of its allocations the windows saw cannot be measured well (totals may "
         "be many times off); the proportions between stacks hold. --max-overhead 100 keeps the "
         "probes attached, for true totals at a large cost to the target";
}

HeapCollector::Estimate HeapCollector::WindowScale() const {
  // Allocations are seen only while the probes are attached. A program allocates in step with the
  // work it does, and its work is its user-mode time: the probes' traps are kernel time, so they
  // slow the program without adding to it. The meter's ticks in all windows over attached ones
  // scale what was seen to the whole (windows of random lengths, so no phase of the program is
  // favoured). The error: the attached windows are a sample of the program's time, each with its
  // allocation calls and ticks; how their calls per tick vary (a ratio estimator's variance, which
  // holds the ticks' own Poisson noise and the program's phases) gives the scale's standard error.
  if (!duty_cycled_) return {1, "", true, ""};
  const UserTicks ticks = ReadUserTicks();
  const double on = static_cast<double>(ticks.attached);
  const double all = on + static_cast<double>(ticks.detached);
  if (on <= 0)
    return {seconds_on_ > 0 ? (seconds_on_ + seconds_off_) / seconds_on_ : 1,
            "wall time: the probes took all of the targets' time while attached, so their work "
            "then could not be measured",
            false, "the probes took all of the target's time while they were attached"};
  const WindowSums& w = attached_windows_;
  const size_t worked = static_cast<size_t>(w.n);  // windows in which the targets worked
  double error = std::sqrt(std::max(0.0, 1 - on / all) / on);  // the ticks' Poisson noise alone
  if (w.n >= 2 && w.c > 0 && w.t > 0) {
    const double rate = w.c / w.t;
    // Σ (c - rate·t)², expanded into the sums kept.
    const double residuals = std::max(0.0, w.cc - 2 * rate * w.ct + rate * rate * w.tt);
    const double ratio_error = std::sqrt(residuals / (w.n * (w.n - 1))) / (w.t / w.n) / rate;
    error = std::max(error, ratio_error);
  }
  char basis[400];
  std::snprintf(basis, sizeof(basis),
                "the targets' user-mode time in all windows over attached ones: %.0f of %.0f "
                "ticks of %.0f ms in %zu attached windows with work, standard error %.0f%% (from "
                "how their allocation calls per tick vary)",
                on, all, kUserTickNanos / 1e6, worked, 100 * error);
  const double hits = static_cast<double>(hits_on_.alloc_calls + hits_on_.alloc_returns +
                                          hits_on_.frees);
  const double trap_share = hits * kTrapUserSecondsFloor / (on * kUserTickNanos / 1e9);
  Estimate estimate{all / on, basis,
                    error <= kTrustedScaleError && worked >= kTrustedWindows &&
                        trap_share <= kTrustedTrapShare,
                    ""};
  char why[400];
  if (trap_share > kTrustedTrapShare) {
    std::snprintf(why, sizeof(why),
                  "the target did only %.2f us of user-mode work per probe hit while the probes "
                  "were attached, and each trap slows the code after it by at least %.2f us per "
                  "hit on VMs like this one (its user time then overstates its work by %.0f%% or "
                  "more, and the totals come out low by as much)",
                  on * kUserTickNanos / 1e3 / hits, kTrapUserSecondsFloor * 1e6,
                  100 * trap_share);
    estimate.why_not = why;
  } else if (worked < kTrustedWindows) {
    std::snprintf(why, sizeof(why),
                  "the probes were attached in only %zu windows in which the target worked (at "
                  "least %zu are needed to tell how its allocation rate varies), because they "
                  "cost it so much while attached",
                  worked, kTrustedWindows);
    estimate.why_not = why;
  } else if (!estimate.trusted) {
    std::snprintf(why, sizeof(why),
                  "the target's allocation calls per unit of work varied so much between the %zu "
                  "attached windows (or so little of its work fell in them) that the scale's "
                  "standard error is %.0f%%",
                  worked, 100 * error);
    estimate.why_not = why;
  }
  return estimate;
}

}  // namespace profd

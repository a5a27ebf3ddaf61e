#include "profiles/profile_collection.h"

#include <bpf/bpf.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <future>
#include <optional>
#include <set>

#include "base/log.h"
#include "collect/bpf_support.h"
#include "collect/kernel_features.h"
#include "collect/unwind_maps.h"
#include "process/loaded_unwind_tables.h"
#include "process/process_table.h"
#include "process/process_tracker.h"
#include "profiles/profile_finish.h"
#include "profiles/profile_types.h"
#include "profiles/shared_sampler.h"
#include "profiles/symbolizer_warm_up.h"
#include "profiles/thread_dump_profile.h"
#include "symbolizer.h"

namespace profd {
namespace {

// User + system CPU time profd has used so far.
double OwnCpuSeconds() {
  rusage usage = {};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
         (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

// Checks every target before anything is loaded: a clear message for each that cannot be profiled.
bool CheckTargets(const std::vector<pid_t>& pids, CollectedProfile* result) {
  for (pid_t pid : pids) {
    if (!ProcessExists(pid)) {
      result->status = CollectedProfile::Status::kTargetMissing;
      result->error = "no process with pid " + std::to_string(pid) +
                      " (is it still running? see ps -p " + std::to_string(pid) + ")";
      return false;
    }
    if (IsKernelThread(pid)) {
      result->status = CollectedProfile::Status::kBadRequest;
      result->error =
          "pid " + std::to_string(pid) + " (" + ReadProcessComm(pid) +
          ") is a kernel thread: it has no user space to profile; use --all to see kernel time";
      return false;
    }
  }
  return true;
}

// The targets that exited during a window, and what the profile says about them.
struct TargetExits {
  std::set<pid_t> exited;
  std::string note;

  // True when `pid` has exited; noted the first time it is found gone.
  bool Check(pid_t pid, double elapsed, double window) {
    if (exited.count(pid)) return true;
    if (ProcessExists(pid)) return false;
    exited.insert(pid);
    note += "pid " + std::to_string(pid) + " exited " + Seconds(elapsed) + " into the " +
            Seconds(window) + " window; ";
    return true;
  }
  bool All(const std::vector<pid_t>& pids) const {
    return !pids.empty() && exited.size() == pids.size();
  }
};

// The targets that stopped being wholly the caller's during a window (a set-user-ID exec): their
// BPF filter takes nothing of them from then on (owner_uid), profd stops reading them, and the
// profile says so. Only for a request of a caller who may profile only its own processes.
struct CredentialChanges {
  std::set<pid_t> changed;
  std::string note;

  // True when `pid` no longer runs wholly as `owner`; noted the first time.
  bool Check(pid_t pid, int64_t owner, double elapsed, double window) {
    if (owner < 0) return false;
    if (changed.count(pid)) return true;
    ProcessCredentials c;
    if (!ReadProcessCredentials(pid, &c)) return false;  // gone: TargetExits notes it
    if (c.WhollyUsers(static_cast<uint32_t>(owner))) return false;
    changed.insert(pid);
    char caps[32];
    std::snprintf(caps, sizeof(caps), "%" PRIx64, c.permitted_capabilities);
    note += "pid " + std::to_string(pid) + "'s credentials changed " + Seconds(elapsed) +
            " into the " + Seconds(window) + " window (now uids " + std::to_string(c.uids[0]) +
            "/" + std::to_string(c.uids[1]) + "/" + std::to_string(c.uids[2]) + "/" +
            std::to_string(c.uids[3]) + ", gids " + std::to_string(c.gids[0]) + "/" +
            std::to_string(c.gids[1]) + "/" + std::to_string(c.gids[2]) + "/" +
            std::to_string(c.gids[3]) + ", capabilities " + caps +
            ": it exec'ed a set-user-ID, set-group-ID or file-capability program, or changed "
            "user): it is no longer yours to profile, so its samples from then on are left out; ";
    return true;
  }
};

// What a collection of `type` needs of the kernel: "" when it has it all, else what lacks.
std::string MissingFeaturesFor(ProfileType type) {
  if (std::string missing = MissingKernelFeatures(InfoOf(type).kernel_features); !missing.empty())
    return ProfileTypeName(type) + " profiles cannot be collected here: " + missing;
  return "";
}

// Loads the type's collector with `unwind_maps`.
Result<std::unique_ptr<StackCollector>> LoadCollector(const ProfileRequest& request,
                                                      const ProcessTable& processes,
                                                      const UnwindMaps* unwind_maps,
                                                      ProfileKind* kind) {
  CollectorFactory load = InfoOf(request.type).load_collector;
  if (!load) return Error{ProfileTypeName(request.type) + " profiles have no collector"};
  return load(request, processes, unwind_maps, kind);
}

// Records how the window ended in `result`; true when it is abandoned (stop_requested ended it and
// the hooks say not to build what was collected): `result` is then kStopped.
bool WindowAbandoned(bool stopped, double elapsed, const CollectionHooks& hooks,
                     CollectedProfile* result) {
  result->stopped_early = stopped;
  result->seconds = elapsed;
  if (!stopped || !hooks.abandon_when_stopped) return false;
  result->status = CollectedProfile::Status::kStopped;
  result->error = "stopped";
  return true;
}

// A CPU profile from the daemon's shared sampler: subscribe, wait out the window, take the samples.
CollectedProfile CollectShared(const ProfileRequest& request, const CollectionHooks& hooks) {
  CollectedProfile result;
  SharedSampler& shared = *hooks.shared_cpu;
  const std::vector<pid_t> subscription_pids =
      request.all_processes ? std::vector<pid_t>{} : request.pids;
  std::chrono::steady_clock::time_point start;
  std::shared_ptr<SharedSampler::Subscription> subscription =
      shared.Subscribe(subscription_pids, &start, &result.error);
  if (!subscription) return result;
  // The window starts once subscribed: loading the sampler, or waiting behind other requests'
  // subscriptions, is not part of it.
  const auto wall_start = std::chrono::system_clock::now() -
                          std::chrono::duration_cast<std::chrono::system_clock::duration>(
                              std::chrono::steady_clock::now() - start);
  // The shared symbolizer reads the targets' files now (the first request for a file reads it for
  // all), so that the window's end finds their DWARF ready. Not for the whole host (the
  // schedule): every file of every process would be read, most of which no sample will need.
  const SharedSampler::Symbolizers symbolizers = shared.symbolizers();
  std::optional<SymbolizerWarmUp> warm_up;
  if (!request.all_processes)
    warm_up.emplace(symbolizers.user.get(), nullptr, subscription_pids,
                    shared.Processes(subscription_pids), SymbolizerWarmUp::Priority::kNormal);
  const ProfileKind kind = CpuProfileKind(hooks.shared_cpu_frequency());
  TargetExits exits;
  double elapsed = 0;
  bool stopped = false;
  auto last_tick = start;
  while (elapsed < request.seconds && !(stopped = hooks.stop_requested && hooks.stop_requested())) {
    struct timespec nap = {0, static_cast<long>(std::min(request.seconds - elapsed, 0.1) * 1e9)};
    nanosleep(&nap, nullptr);
    const auto now = std::chrono::steady_clock::now();
    elapsed = std::chrono::duration<double>(now - start).count();
    if (now - last_tick < std::chrono::seconds(1)) continue;
    last_tick = now;
    for (pid_t pid : request.pids) exits.Check(pid, elapsed, request.seconds);
    if (exits.All(request.pids)) break;
  }
  // Symbolized against a copy of the processes, so other requests and the drain go on meanwhile.
  ProcessTable processes;
  std::unique_ptr<PythonFrameNames> python;
  std::optional<LoadedUnwindTables::Stats> unwind;
  StackSamples samples = shared.Finish(subscription, &processes, &python, &unwind);
  if (WindowAbandoned(stopped, elapsed, hooks, &result)) return result;
  WindowFacts facts;
  facts.wall_start = wall_start;
  facts.duration = std::chrono::steady_clock::now() - start;
  facts.elapsed = elapsed;
  facts.notes = {"sampled by the daemon's host-wide sampler, shared with its other requests"};
  for (std::string& note : shared.CollectorNotes()) facts.notes.push_back(std::move(note));
  facts.unwind = unwind;
  facts.exit_note = exits.note;
  // One symbolizer for all requests: DWARF is read once, not once per request (50 concurrent
  // requests each reading libc's would take a gigabyte). Used by several requests at once: behind
  // one lock, 50 requests ending together answered one after another.
  if (warm_up) warm_up->Wait();
  facts.symbolizer = symbolizers.user.get();
  facts.kernel = symbolizers.kernel.get();
  facts.python = python.get();
  FinishProfile(request, kind, samples, processes, facts, &result);
  return result;
}

// A profile from a collector of its own (the one-shot command, the daemon's types other than its
// shared cpu): load and attach, run the window (following the targets' execs, exits, forks and
// credentials), then symbolize and build.
class OwnCollection {
 public:
  OwnCollection(const ProfileRequest& request, const CollectionHooks& hooks)
      : request_(request),
        hooks_(hooks),
        tracker_({.dwarf_unwinding = request.dwarf_unwinding,
                  .follow_forks = request.follow_forks,
                  .reread_after_exec = true}),
        own_symbolizer_(ProfileSymbolizerOptions()) {}

  CollectedProfile Run() {
    CollectedProfile result;
    if (!Start(&result.error)) return result;
    bool stopped = false;
    while (elapsed_ < request_.seconds &&
           !(stopped = hooks_.stop_requested && hooks_.stop_requested())) {
      if (!Step()) break;
    }
    sampler_->Stop();
    WindowFacts facts = Facts();
    if (WindowAbandoned(stopped, elapsed_, hooks_, &result)) return result;
    StackSamples samples = sampler_->Collect();
    if (bpf_stats_.valid()) facts.bpf_line = BpfLine(samples);
    Finish(samples, facts, &result);
    return result;
  }

 private:
  // Loads the collector with the targets' unwind tables and attaches it; the window starts then.
  bool Start(std::string* error) {
    // The targets' mappings, for their unwind tables once the collector is loaded.
    for (pid_t pid : request_.pids) tracker_.Read(pid, &changes_);
    // The one-shot command's symbolizers, warmed up while the collector loads and the window runs.
    if (!hooks_.shared_symbolizer)
      warm_up_.emplace(&own_symbolizer_, &own_kernel_, request_.pids, tracker_.table(),
                       SymbolizerWarmUp::Priority::kIdle);
    // The unwind maps are made first so that, while another thread loads the collector (libbpf,
    // the maps, the verifier), this one puts the targets' tables in (an RCU grace period, 5-20 ms)
    // and checks the kernel's features (the first perf event of a host enables the scheduler's
    // perf hooks: 10-15 ms).
    Result<UnwindMaps> maps = CreateUnwindMaps();
    if (!maps) {
      *error = maps.error();
      return false;
    }
    unwind_maps_ = std::move(*maps);
    std::future<Result<std::unique_ptr<StackCollector>>> loading = std::async(
        std::launch::async,
        [this] { return LoadCollector(request_, tracker_.table(), &unwind_maps_, &kind_); });
    unwind_tables_.emplace(unwind_maps_.tables.get(), unwind_maps_.processes.get(),
                           unwind_maps_.python.get());
    ApplyChanges();
    const std::string missing = MissingFeaturesFor(request_.type);
    Result<std::unique_ptr<StackCollector>> loaded = loading.get();
    if (!missing.empty()) {  // says why better than the load's error
      *error = missing;
      return false;
    }
    if (!loaded) {
      *error = loaded.error();
      return false;
    }
    sampler_ = std::move(*loaded);
    // Kernel BPF run-time stats stay on while this fd is open.
    if (request_.bpf_stats) {
      bpf_stats_ = UniqueFd(bpf_enable_stats(BPF_STATS_RUN_TIME));
      if (!bpf_stats_.valid())
        LogWarning("cannot enable BPF stats: " + std::string(strerror(errno)));
    }
    if (Result<void> attached = sampler_->Attach(); !attached) {
      *error = attached.error();
      return false;
    }
    if (hooks_.attached) {
      hooks_.attached();
      for (pid_t pid : request_.pids) tracker_.Read(pid, &changes_);
      ApplyChanges();
    }
    if (hooks_.release) hooks_.release();
    // The window starts once samples can be taken: loading and verifying the BPF program takes
    // 0.15-0.5 s that would otherwise be an empty part of it.
    wall_start_ = std::chrono::system_clock::now();
    start_ = last_tick_ = std::chrono::steady_clock::now();
    cpu_at_attach_ = OwnCpuSeconds();
    return true;
  }

  // One wait of the window and what follows it; false when every target is gone.
  bool Step() {
    const double left = request_.seconds - elapsed_;
    const double wanted = sampler_->Poll();
    const double recheck = tracker_.SecondsToNextReread(std::chrono::steady_clock::now());
    // Following a process tree, its new processes and execs are read within 20 ms: until then
    // their samples unwind without their tables.
    const double poll = request_.follow_forks ? 0.02 : 0.1;
    struct timespec nap = {
        0, static_cast<long>(std::max(0.0, std::min({left, poll, wanted, recheck})) * 1e9)};
    nanosleep(&nap, nullptr);
    const auto now = std::chrono::steady_clock::now();
    elapsed_ = std::chrono::duration<double>(now - start_).count();
    if (hooks_.snapshots) AnswerSnapshots();
    TrackProcesses(now);
    if (now - last_tick_ < std::chrono::seconds(1) && elapsed_ < request_.seconds) return true;
    last_tick_ = now;
    // Re-read the targets' mappings for code they dlopen'ed; notice targets that exited.
    for (pid_t pid : request_.pids) {
      if (exits_.exited.count(pid) || credentials_.changed.count(pid)) continue;
      if (exits_.Check(pid, elapsed_, request_.seconds) || Ended(pid))
        tracker_.Release(pid, &changes_);
      else
        tracker_.Read(pid, &changes_);
    }
    tracker_.RereadFollowed(&changes_);  // code the processes a target started dlopen'ed
    ApplyChanges();
    // Python code objects are read while their processes live: a launched command is gone by the
    // time its profile is assembled. Only those the walk met for the first time.
    python_.Learn(sampler_->TakeNewPythonCodes(), tracker_.table());
    if (exits_.exited.size() + credentials_.changed.size() >= request_.pids.size() &&
        !request_.pids.empty())
      return false;
    if (hooks_.progress) hooks_.progress(elapsed_, request_.seconds);
    return true;
  }

  // A cumulative profile's askers get what has been collected so far; collection goes on.
  void AnswerSnapshots() {
    for (std::promise<CollectedProfile>& asker : hooks_.snapshots->Take()) {
      CollectedProfile snapshot;
      snapshot.seconds = elapsed_;
      sampler_->Checkpoint();
      WindowFacts facts = Facts();
      facts.warn_when_empty = false;
      facts.notes.push_back(
          "cumulative: everything counted in the " + Seconds(elapsed_) +
          " since the first request without ?seconds for these targets (profd counts while they "
          "are asked for); the difference of two such profiles (pprof -diff_base) is a window");
      StackSamples samples = sampler_->Collect();
      Finish(samples, facts, &snapshot);
      asker.set_value(std::move(snapshot));
    }
  }

  void TrackProcesses(std::chrono::steady_clock::time_point now) {
    // Capture new processes' mappings while they are alive: short-lived ones may be gone in a
    // second.
    if (request_.all_processes || request_.follow_forks)
      for (pid_t pid : sampler_->TakeSampledPids()) tracker_.Sampled(pid, &changes_);
    // An exec replaces a process's code: read its mappings again, unless it made the target
    // another user's (set-user-ID), which ends its part of the window; an exit releases its
    // tables.
    for (const ProcessEvent& event : sampler_->TakeProcessEvents())
      tracker_.Notice(
          event, now, [this](pid_t pid) { return Ended(pid); }, &changes_);
    tracker_.RereadDue(now, &changes_);
    ApplyChanges();
  }

  // A target that stopped being the caller's: its part of the window has ended.
  bool Ended(pid_t pid) {
    const bool target =
        std::find(request_.pids.begin(), request_.pids.end(), pid) != request_.pids.end();
    return target && credentials_.Check(pid, request_.owner_uid, elapsed_, request_.seconds);
  }

  void ApplyChanges() {
    unwind_tables_->Apply(changes_);  // one batch for every new table
    changes_.clear();
  }

  // What the profile says of how it was collected, as of now.
  WindowFacts Facts() const {
    WindowFacts facts;
    facts.wall_start = wall_start_;
    facts.duration = std::chrono::steady_clock::now() - start_;
    facts.elapsed = elapsed_;
    facts.notes = sampler_->Notes();
    if (request_.dwarf_unwinding) facts.unwind = unwind_tables_->stats();
    if (!hooks_.until_exit) facts.exit_note = exits_.note;  // a launched command's exit is the end
    facts.credentials_note = credentials_.note;
    facts.own_cpu_seconds = OwnCpuSeconds() - cpu_at_attach_;
    return facts;
  }

  std::string BpfLine(const StackSamples& samples) const {
    const StackCollector::ProgramCost cost = sampler_->program_cost();
    // Runs for other processes and the idle task return at the filter; the time is in the samples
    // taken.
    char line[200];
    std::snprintf(
        line, sizeof(line), "BPF program: %llu runs, %llu samples taken, %.2f us per sample taken",
        static_cast<unsigned long long>(cost.runs), static_cast<unsigned long long>(samples.events),
        samples.events ? cost.nanoseconds / 1e3 / samples.events : 0.0);
    return line;
  }

  void Finish(StackSamples& samples, WindowFacts& facts, CollectedProfile* out) {
    SharedSampler::Symbolizers shared;
    if (hooks_.shared_symbolizer) {
      shared = hooks_.shared_symbolizer->symbolizers();
      facts.symbolizer = shared.user.get();
      facts.kernel = shared.kernel.get();
    } else if (warm_up_) {
      warm_up_->Wait();
      facts.symbolizer = &own_symbolizer_;
      facts.kernel = &own_kernel_;
    }
    facts.python = &python_;
    FinishProfile(request_, kind_, samples, tracker_.table(), facts, out);
  }

  const ProfileRequest& request_;
  const CollectionHooks& hooks_;
  ProcessTracker tracker_;
  UnwindTableChanges changes_;
  Symbolizer own_symbolizer_;
  KernelSymbolizer own_kernel_;
  std::optional<SymbolizerWarmUp> warm_up_;  // after the symbolizers it reads into
  ProfileKind kind_;
  std::unique_ptr<StackCollector> sampler_;
  UnwindMaps unwind_maps_;                           // the sampler's, made before it loads
  std::optional<LoadedUnwindTables> unwind_tables_;  // fills unwind_maps_
  PythonFrameNames python_;
  UniqueFd bpf_stats_;
  std::chrono::system_clock::time_point wall_start_;
  std::chrono::steady_clock::time_point start_, last_tick_;
  double cpu_at_attach_ = 0;
  double elapsed_ = 0;
  TargetExits exits_;
  CredentialChanges credentials_;
};

}  // namespace

void ApplyDaemonSettings(const DaemonConfig& config, ProfileRequest* request) {
  request->frequency_hz = config.frequency_hz;
  request->dwarf_unwinding = config.dwarf_unwinding;
  request->min_block_seconds = std::chrono::duration<double>(config.block.min_block).count();
  request->sample_rate_bytes = config.heap.sample_rate;
  request->max_overhead_percent = config.heap.max_overhead_percent;
}

std::string Seconds(double s) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), s < 10 ? "%.1fs" : "%.0fs", s);
  return buffer;
}

CollectedProfile CollectProfile(const ProfileRequest& request, const CollectionHooks& hooks) {
  CollectedProfile result;
  if (request.type == ProfileType::kCmdline) {
    result.status = CollectedProfile::Status::kBadRequest;
    result.error = "cmdline is not a profile: read /proc/PID/cmdline";
    return result;
  }
  std::string error;
  if (!CheckTargets(request.pids, &result)) return result;
  if (request.type == ProfileType::kGoroutine) return CollectThreadDump(request);
  if (std::string missing = CheckBpfPrerequisites(); !missing.empty()) {
    result.error = missing;
    return result;
  }
  if (request.type == ProfileType::kCpu && hooks.shared_cpu) {
    if (std::string missing = MissingFeaturesFor(request.type); !missing.empty()) {
      result.error = missing;
      return result;
    }
    return CollectShared(request, hooks);
  }

  InstallLibbpfLogger();
  return OwnCollection(request, hooks).Run();
}

std::future<CollectedProfile> SnapshotRequests::Ask() {
  std::lock_guard<std::mutex> lock(mutex_);
  std::promise<CollectedProfile> asker;
  std::future<CollectedProfile> answer = asker.get_future();
  if (closed_) {
    CollectedProfile failed;
    failed.status = closed_status_;
    failed.error = closed_why_;
    asker.set_value(std::move(failed));
  } else {
    pending_.push_back(std::move(asker));
  }
  return answer;
}

std::vector<std::promise<CollectedProfile>> SnapshotRequests::Take() {
  std::lock_guard<std::mutex> lock(mutex_);
  return std::exchange(pending_, {});
}

void SnapshotRequests::Close(CollectedProfile::Status status, const std::string& why) {
  std::vector<std::promise<CollectedProfile>> pending;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    closed_ = true;
    closed_status_ = status;
    closed_why_ = why;
    pending = std::exchange(pending_, {});
  }
  for (std::promise<CollectedProfile>& asker : pending) {
    CollectedProfile failed;
    failed.status = status;
    failed.error = why;
    asker.set_value(std::move(failed));
  }
}

}  // namespace profd

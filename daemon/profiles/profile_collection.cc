#include "profiles/profile_collection.h"

#include <bpf/bpf.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "base/log.h"
#include "collect/bpf_support.h"
#include "collect/thread_dump.h"
#include "process/loaded_unwind_tables.h"
#include "process/process_table.h"
#include "process/process_tracker.h"
#include "profd_abi.h"
#include "profile_builder.h"
#include "profiles/collectors.h"
#include "profiles/profile_assembler.h"
#include "profiles/shared_sampler.h"
#include "profiles/top_table.h"
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

std::unique_ptr<StackCollector> LoadCollector(const ProfileRequest& request,
                                              const ProcessTable& processes, ProfileKind* kind,
                                              std::string* error) {
  CollectorFactory load = InfoOf(request.type).load_collector;
  if (!load) {
    *error = ProfileTypeName(request.type) + " profiles have no collector";
    return nullptr;
  }
  return load(request, processes, kind, error);
}

// goroutine (alias threads): every thread's stack now; the window does not apply.
CollectedProfile CollectThreadDump(const ProfileRequest& request) {
  CollectedProfile result;
  std::string error;
  if (request.all_processes) {
    result.status = CollectedProfile::Status::kBadRequest;
    result.error =
        "the goroutine profile dumps the threads of given processes, not of the whole host";
    return result;
  }
  if (!CheckTargets(request.pids, &result)) return result;
  KernelSymbolizer kernel;
  if (!kernel.Load("/proc/kallsyms", &error)) LogWarning("kernel stacks are left out: " + error);
  ProcessTable processes;
  ThreadDump dump;
  const auto wall_start = std::chrono::system_clock::now();
  for (pid_t pid : request.pids) {
    if (!processes.Observe(pid)) {
      result.error = "pid " + std::to_string(pid) + " exited before its threads could be read";
      return result;
    }
    if (DumpThreads(*processes.Find(pid), kernel, request.dwarf_unwinding, &dump) == 0) {
      result.error = "no thread of pid " + std::to_string(pid) + " could be read" +
                     (dump.errors.empty() ? "" : ": " + dump.errors.back());
      return result;
    }
  }
  // Ownership was checked before the dump; a set-user-ID exec meanwhile makes it another user's
  // (and undumpable: its /proc directory root's), and what was read is not handed out.
  for (pid_t pid : request.pids) {
    ProcessCredentials c;
    struct stat st;
    if (request.owner_uid < 0 || !ReadProcessCredentials(pid, &c) ||
        stat(("/proc/" + std::to_string(pid)).c_str(), &st) != 0)
      continue;
    if (c.WhollyUsers(static_cast<uint32_t>(request.owner_uid)) && st.st_uid == request.owner_uid)
      continue;
    result.status = CollectedProfile::Status::kBadRequest;
    result.error = "pid " + std::to_string(pid) +
                   " changed credentials (or became undumpable) while its threads were read: it "
                   "is no longer yours to profile";
    LogWarning(result.error);
    return result;
  }
  for (const std::string& e : dump.errors) LogWarning(e);
  std::vector<double>& pauses = dump.pause_micros;
  Symbolizer symbolizer(ProfileSymbolizerOptions());
  ProfileAssembler assembler(&symbolizer, &kernel, &processes);
  result.builder = std::make_unique<ProfileBuilder>(std::vector<ValueType>{{"goroutine", "count"}},
                                                    "", ValueType{"goroutine", "count"}, 1);
  ProfileBuilder& builder = *result.builder;
  assembler.Add(dump.samples, &builder);
  builder.SetTime(
      std::chrono::duration_cast<std::chrono::nanoseconds>(wall_start.time_since_epoch()).count(),
      0);
  std::sort(pauses.begin(), pauses.end());
  char line[200];
  std::snprintf(line, sizeof(line),
                "profd 0.1.0 thread dump: %zu threads, each stopped (ptrace) for median %.0f us, "
                "max %.0f us",
                pauses.size(), pauses.empty() ? 0.0 : pauses[pauses.size() / 2],
                pauses.empty() ? 0.0 : pauses.back());
  builder.AddComment(line);
  LogDebug(line);
  result.status = CollectedProfile::Status::kOk;
  return result;
}

// Reading kallsyms and opening the targets' ELF files and DWARF (inflating it, indexing its units)
// took a few hundred ms after a profile's window: done on a thread during the window instead.
// The one-shot command runs it at the lowest priority (SCHED_IDLE), so that on a busy host it takes
// no CPU from the targets, raised to normal priority when the window ends and its result is waited
// for. The daemon runs it at normal priority into its shared symbolizer: on a host whose every
// core is busy an idle thread would not run before the window's end, and then 50 requests waited
// behind the one that read libc's DWARF at a fiftieth of a core.
class SymbolizerWarmUp {
 public:
  enum class Priority { kIdle, kNormal };
  // `kernel` is loaded when not null; `pids` empty: every process of `processes`.
  SymbolizerWarmUp(Symbolizer* symbolizer, KernelSymbolizer* kernel, std::vector<pid_t> pids,
                   const ProcessTable& processes, Priority priority)
      : symbolizer_(symbolizer), kernel_(kernel), priority_(priority) {
    // The files (and the roots their debug files are looked up under) are held here: the table
    // changes during the window.
    std::vector<File> files;
    std::set<const MappedFile*> seen;
    if (pids.empty()) pids = processes.pids();
    for (pid_t pid : pids)
      if (const ProcessInfo* process = processes.Find(pid))
        for (const Mapping& mapping : process->mappings)
          if (mapping.file && seen.insert(mapping.file.get()).second)
            files.push_back({mapping.file, process->root, process->root_dir});
    thread_ = std::thread([this, files = std::move(files)] { Run(files); });
  }
  // Unless waited for: what is left is not read (a failed or abandoned window, the daemon
  // stopping).
  ~SymbolizerWarmUp() {
    cancelled_ = true;
    Wait();
  }
  SymbolizerWarmUp(const SymbolizerWarmUp&) = delete;
  SymbolizerWarmUp& operator=(const SymbolizerWarmUp&) = delete;

  // Back to normal priority, and done.
  void Wait() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      hurry_ = true;
      sched_param normal = {};
      if (tid_ > 0 && priority_ == Priority::kIdle) sched_setscheduler(tid_, SCHED_OTHER, &normal);
    }
    if (thread_.joinable()) thread_.join();
  }

 private:
  struct File {
    std::shared_ptr<MappedFile> file;
    std::string root;
    std::shared_ptr<UniqueFd> root_dir;  // what `root` names, kept open
  };
  void Run(const std::vector<File>& files) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      tid_ = gettid();
      sched_param idle = {};
      if (!hurry_ && priority_ == Priority::kIdle)
        sched_setscheduler(0, SCHED_IDLE, &idle);  // this thread only
    }
    std::string error;
    if (kernel_ && !kernel_->Load("/proc/kallsyms", &error))
      LogWarning("kernel frames stay unsymbolized: " + error);
    for (const auto& [file, root, root_dir] : files) {
      if (cancelled_) return;
      ElfFileInfo info;
      // Errors are the assembler's to report when it describes the file again; nothing thrown
      // here may end the process (a request's handler would have caught it).
      try {
        symbolizer_->Describe(file->open_path(), &info, &error, root);
      } catch (const std::exception& e) {
        LogDebug("reading " + file->path + " ahead of symbolizing failed: " + e.what());
      }
    }
  }

  Symbolizer* symbolizer_;  // thread-safe: the thread's work stays in its cache
  KernelSymbolizer* kernel_;
  const Priority priority_;
  std::mutex mutex_;
  pid_t tid_ = 0;
  bool hurry_ = false;
  std::atomic<bool> cancelled_{false};
  std::thread thread_;
};

// One profile per process of `samples` (the busiest `request.split_max_pids` of them), each with
// `whole`'s time and comments.
void SplitByPid(const StackSamples& samples, ProfileBuilder& whole, ProfileAssembler* assembler,
                const ProfileKind& kind, const ProcessTable& processes, CollectedProfile* result) {
  std::map<uint32_t, StackSamples> by_pid;
  std::map<uint32_t, int64_t> weight;
  for (const StackSample& s : samples.samples) {
    StackSamples& subset = by_pid[s.pid];
    subset.samples.push_back(s);
    for (uint64_t id : {s.user_stack_id, s.kernel_stack_id})
      if (auto it = samples.stacks.find(id); id && it != samples.stacks.end())
        subset.stacks.emplace(id, it->second);
    weight[s.pid] += s.values.empty() ? 0 : s.values.back();
  }
  const perftools::profiles::Profile& profile = whole.profile();
  for (auto& [pid, subset] : by_pid) {
    auto builder = std::make_unique<ProfileBuilder>(kind.sample_types, kind.default_sample_type,
                                                    kind.period_type, kind.period);
    assembler->Add(subset, builder.get());
    builder->SetTime(profile.time_nanos(), profile.duration_nanos());
    for (int64_t index : profile.comment()) builder->AddComment(profile.string_table(index));
    const ProcessInfo* process = processes.Find(static_cast<pid_t>(pid));
    result->per_pid.push_back(
        {static_cast<pid_t>(pid), weight[pid], std::move(builder), process ? process->comm : ""});
  }
  std::sort(result->per_pid.begin(), result->per_pid.end(),
            [](const auto& a, const auto& b) { return a.weight > b.weight; });
}

// How a window went, for the profile's comments.
struct WindowFacts {
  std::chrono::system_clock::time_point wall_start;
  std::chrono::steady_clock::duration duration{};
  double elapsed = 0;
  std::vector<std::string> notes;                   // the collector's
  std::optional<LoadedUnwindTables::Stats> unwind;  // with DWARF unwinding
  std::string exit_note;                            // targets that exited
  std::string credentials_note;                     // targets that became another user's
  double own_cpu_seconds = -1;                      // profd's CPU while collecting (< 0: unknown)
  std::string bpf_line;                             // with --bpf-stats
  // The daemon's long-lived symbolizers (their caches outlive a request); null: fresh ones.
  Symbolizer* symbolizer = nullptr;
  const KernelSymbolizer* kernel = nullptr;
  bool warn_when_empty = true;  // false for a cumulative profile's snapshot
};

// Symbolizes `samples` against `processes` and builds the profile (and the per-process ones) with
// the comments that say how it was collected.
void FinishProfile(const ProfileRequest& request, const ProfileKind& kind, StackSamples& samples,
                   ProcessTable& processes, const WindowFacts& facts, CollectedProfile* result) {
  // Collectors count {events, total weight}; a profile with one sample type keeps the events.
  for (StackSample& s : samples.samples) s.values.resize(kind.sample_types.size());
  for (const StackSample& s : samples.samples) processes.Observe(static_cast<pid_t>(s.pid));

  std::string error;
  KernelSymbolizer own_kernel;
  if (!facts.kernel && !own_kernel.Load("/proc/kallsyms", &error))
    LogWarning("kernel frames stay unsymbolized: " + error);
  Symbolizer own_symbolizer(ProfileSymbolizerOptions());
  ProfileAssembler assembler(facts.symbolizer ? facts.symbolizer : &own_symbolizer,
                             facts.kernel ? facts.kernel : &own_kernel, &processes);
  result->builder = std::make_unique<ProfileBuilder>(kind.sample_types, kind.default_sample_type,
                                                     kind.period_type, kind.period);
  ProfileBuilder& builder = *result->builder;
  assembler.Add(samples, &builder);
  builder.SetTime(
      std::chrono::duration_cast<std::chrono::nanoseconds>(facts.wall_start.time_since_epoch())
          .count(),
      std::chrono::duration_cast<std::chrono::nanoseconds>(facts.duration).count());
  builder.AddComment("profd 0.1.0 " + kind.description);
  for (const std::string& note : facts.notes) {
    builder.AddComment(note);
    LogDebug(note);
  }
  if (facts.unwind) {
    const LoadedUnwindTables::Stats& u = *facts.unwind;
    char line[300];
    std::snprintf(
        line, sizeof(line),
        "user stacks unwound with tables: %llu files (%llu Go binaries, from .gopclntab), %llu "
        "rows (%.1f MiB of map memory), built in %.3f s; frame pointers for %llu files without "
        "tables",
        static_cast<unsigned long long>(u.tables_loaded),
        static_cast<unsigned long long>(u.go_tables_loaded),
        static_cast<unsigned long long>(u.rows_built),
        u.rows_built * sizeof(profd_unwind_row) / 1048576.0, u.build_seconds,
        static_cast<unsigned long long>(u.files_without_table));
    builder.AddComment(line);
  } else {
    builder.AddComment("user stacks walked with frame pointers (--unwind fp)");
  }
  for (const DropCounter& drop : samples.drops) {
    const std::string line = drop.name + ": " + std::to_string(drop.count);
    builder.AddComment(line);
    LogWarning(line);
  }
  const ProfileAssembler::FrameStats& frames = assembler.frame_stats();
  if (frames.outside_mappings)
    builder.AddComment("frames outside any mapping read: " +
                       std::to_string(frames.outside_mappings));
  if (frames.without_symbols)
    builder.AddComment("frames without symbols: " + std::to_string(frames.without_symbols));
  if (frames.kernel)
    builder.AddComment("kernel frames not in kallsyms: " + std::to_string(frames.kernel));
  if (frames.jit)
    builder.AddComment("JIT frames named from /tmp/perf-PID.map: " + std::to_string(frames.jit));
  if (frames.jit_dump)
    builder.AddComment("JIT frames named from jitdump files: " + std::to_string(frames.jit_dump));
  if (!facts.exit_note.empty()) builder.AddComment(facts.exit_note);
  if (!facts.credentials_note.empty()) builder.AddComment(facts.credentials_note);
  if (facts.own_cpu_seconds >= 0) {
    char line[160];
    std::snprintf(line, sizeof(line), "profd CPU while collecting: %.3f s (%.2f%% of one core)",
                  facts.own_cpu_seconds,
                  facts.elapsed > 0 ? 100 * facts.own_cpu_seconds / facts.elapsed : 0.0);
    builder.AddComment(line);
  }
  if (!facts.bpf_line.empty()) {
    builder.AddComment(facts.bpf_line);
    LogInfo(facts.bpf_line);
  }
  if (request.split_by_pid) SplitByPid(samples, builder, &assembler, kind, processes, result);

  result->status = CollectedProfile::Status::kOk;
  if (samples.samples.empty()) {
    result->empty = true;
    if (facts.warn_when_empty) LogWarning("no samples: " + kind.no_samples);
  }
  if (!facts.exit_note.empty()) {
    LogWarning(facts.exit_note + "the profile holds what was collected until then");
    result->status = CollectedProfile::Status::kPartial;
  }
  if (!facts.credentials_note.empty()) {
    LogWarning(facts.credentials_note + "the profile holds what was collected until then");
    result->status = CollectedProfile::Status::kPartial;
  }
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
  std::optional<LoadedUnwindTables::Stats> unwind;
  StackSamples samples = shared.Finish(subscription, &processes, &unwind);
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
  FinishProfile(request, kind, samples, processes, facts, &result);
  return result;
}

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
  if (request.type == ProfileType::kGoroutine) return CollectThreadDump(request);
  CollectedProfile result;
  if (request.type == ProfileType::kCmdline) {
    result.status = CollectedProfile::Status::kBadRequest;
    result.error = "cmdline is not a profile: read /proc/PID/cmdline";
    return result;
  }
  std::string error;
  if (!CheckTargets(request.pids, &result)) return result;
  if (std::string missing = CheckBpfPrerequisites(); !missing.empty()) {
    result.error = missing;
    return result;
  }
  if (request.type == ProfileType::kCpu && hooks.shared_cpu) return CollectShared(request, hooks);

  InstallLibbpfLogger();
  ProcessTracker tracker({.dwarf_unwinding = request.dwarf_unwinding,
                          .follow_forks = request.follow_forks,
                          .reread_after_exec = true});
  // The targets' mappings, for their unwind tables once the collector is loaded.
  UnwindTableChanges changes;
  for (pid_t pid : request.pids) tracker.Read(pid, &changes);
  ProcessTable& processes = tracker.table();

  // The one-shot command's symbolizers, warmed up while the collector loads and the window runs.
  Symbolizer own_symbolizer(ProfileSymbolizerOptions());
  KernelSymbolizer own_kernel;
  std::optional<SymbolizerWarmUp> warm_up;
  if (!hooks.shared_symbolizer)
    warm_up.emplace(&own_symbolizer, &own_kernel, request.pids, processes,
                    SymbolizerWarmUp::Priority::kIdle);
  ProfileKind kind;
  std::unique_ptr<StackCollector> sampler = LoadCollector(request, processes, &kind, &error);
  if (!sampler) {
    result.error = error;
    return result;
  }
  // Unwind tables of the targets go in before sampling starts, so no early sample walks without
  // them.
  LoadedUnwindTables unwind_tables(sampler->unwind_tables_fd(), sampler->process_unwind_fd());
  auto apply_changes = [&] {
    for (const UnwindTableChange& change : changes) unwind_tables.Apply(change);
    changes.clear();
  };
  apply_changes();
  // Kernel BPF run-time stats stay on while this fd is open.
  UniqueFd bpf_stats;
  if (request.bpf_stats) {
    bpf_stats = UniqueFd(bpf_enable_stats(BPF_STATS_RUN_TIME));
    if (!bpf_stats.valid()) LogWarning("cannot enable BPF stats: " + std::string(strerror(errno)));
  }
  if (!sampler->Attach(&error)) {
    result.error = error;
    return result;
  }
  if (hooks.attached) {
    hooks.attached();
    for (pid_t pid : request.pids) tracker.Read(pid, &changes);
    apply_changes();
  }
  if (hooks.release) hooks.release();
  // The window starts once samples can be taken: loading and verifying the BPF program takes
  // 0.15-0.5 s that would otherwise be an empty part of it.
  const auto wall_start = std::chrono::system_clock::now();
  const auto start = std::chrono::steady_clock::now();

  const double cpu_at_attach = OwnCpuSeconds();
  TargetExits exits;
  CredentialChanges credentials;
  double elapsed = 0;
  auto last_tick = start;
  bool stopped = false;
  // What the profile says of how it was collected, as of now.
  auto window_facts = [&] {
    WindowFacts facts;
    facts.wall_start = wall_start;
    facts.duration = std::chrono::steady_clock::now() - start;
    facts.elapsed = elapsed;
    facts.notes = sampler->Notes();
    if (request.dwarf_unwinding) facts.unwind = unwind_tables.stats();
    if (!hooks.until_exit) facts.exit_note = exits.note;  // a launched command's exit is the end
    facts.credentials_note = credentials.note;
    facts.own_cpu_seconds = OwnCpuSeconds() - cpu_at_attach;
    return facts;
  };
  auto finish = [&](StackSamples& samples, WindowFacts& facts, CollectedProfile* out) {
    SharedSampler::Symbolizers shared;
    if (hooks.shared_symbolizer) {
      shared = hooks.shared_symbolizer->symbolizers();
      facts.symbolizer = shared.user.get();
      facts.kernel = shared.kernel.get();
    } else if (warm_up) {
      warm_up->Wait();
      facts.symbolizer = &own_symbolizer;
      facts.kernel = &own_kernel;
    }
    FinishProfile(request, kind, samples, processes, facts, out);
  };
  while (elapsed < request.seconds && !(stopped = hooks.stop_requested && hooks.stop_requested())) {
    const double left = request.seconds - elapsed;
    const double wanted = sampler->Poll();
    const double recheck = tracker.SecondsToNextReread(std::chrono::steady_clock::now());
    // Following a process tree, its new processes and execs are read within 20 ms: until then
    // their samples unwind without their tables.
    const double poll = request.follow_forks ? 0.02 : 0.1;
    struct timespec nap = {
        0, static_cast<long>(std::max(0.0, std::min({left, poll, wanted, recheck})) * 1e9)};
    nanosleep(&nap, nullptr);
    const auto now = std::chrono::steady_clock::now();
    elapsed = std::chrono::duration<double>(now - start).count();

    // A cumulative profile's askers get what has been collected so far; collection goes on.
    if (hooks.snapshots) {
      for (std::promise<CollectedProfile>& asker : hooks.snapshots->Take()) {
        CollectedProfile snapshot;
        snapshot.seconds = elapsed;
        sampler->Checkpoint();
        WindowFacts facts = window_facts();
        facts.warn_when_empty = false;
        facts.notes.push_back(
            "cumulative: everything counted in the " + Seconds(elapsed) +
            " since the first request without ?seconds for these targets (profd counts while they "
            "are asked for); the difference of two such profiles (pprof -diff_base) is a window");
        StackSamples samples = sampler->Collect();
        finish(samples, facts, &snapshot);
        asker.set_value(std::move(snapshot));
      }
    }

    // Capture new processes' mappings while they are alive: short-lived ones may be gone in a
    // second.
    if (request.all_processes || request.follow_forks)
      for (pid_t pid : sampler->TakeSampledPids()) tracker.Sampled(pid, &changes);
    // An exec replaces a process's code: read its mappings again, unless it made the target
    // another user's (set-user-ID), which ends its part of the window; an exit releases its
    // tables.
    auto ended = [&](pid_t pid) {
      const bool target =
          std::find(request.pids.begin(), request.pids.end(), pid) != request.pids.end();
      return target && credentials.Check(pid, request.owner_uid, elapsed, request.seconds);
    };
    for (const ProcessEvent& event : sampler->TakeProcessEvents())
      tracker.Notice(event, now, ended, &changes);
    tracker.RereadDue(now, &changes);
    apply_changes();
    if (now - last_tick < std::chrono::seconds(1) && elapsed < request.seconds) continue;
    last_tick = now;
    // Re-read the targets' mappings for code they dlopen'ed; notice targets that exited.
    for (pid_t pid : request.pids) {
      if (exits.exited.count(pid) || credentials.changed.count(pid)) continue;
      if (exits.Check(pid, elapsed, request.seconds) || ended(pid))
        tracker.Release(pid, &changes);
      else
        tracker.Read(pid, &changes);
    }
    tracker.RereadFollowed(&changes);  // code the processes a target started dlopen'ed
    apply_changes();
    if (exits.exited.size() + credentials.changed.size() >= request.pids.size() &&
        !request.pids.empty())
      break;
    if (hooks.progress) hooks.progress(elapsed, request.seconds);
  }
  sampler->Stop();
  WindowFacts facts = window_facts();
  if (WindowAbandoned(stopped, elapsed, hooks, &result)) return result;

  StackSamples samples = sampler->Collect();
  if (bpf_stats.valid()) {
    const StackCollector::ProgramCost cost = sampler->program_cost();
    // Runs for other processes and the idle task return at the filter; the time is in the samples
    // taken.
    char line[200];
    std::snprintf(
        line, sizeof(line), "BPF program: %llu runs, %llu samples taken, %.2f us per sample taken",
        static_cast<unsigned long long>(cost.runs), static_cast<unsigned long long>(samples.events),
        samples.events ? cost.nanoseconds / 1e3 / samples.events : 0.0);
    facts.bpf_line = line;
  }
  finish(samples, facts, &result);
  return result;
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
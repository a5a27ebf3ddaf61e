#include "profile_command.h"

#include <bpf/bpf.h>
#include <signal.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>

#include "atomic_file.h"
#include "bpf_support.h"
#include "cpu_sampler.h"
#include "heap_collector.h"
#include "loaded_unwind_tables.h"
#include "log.h"
#include "mutex_collector.h"
#include "offcpu_collector.h"
#include "process_table.h"
#include "profd_abi.h"
#include "profile_assembler.h"
#include "profile_builder.h"
#include "symbolizer.h"
#include "thread_dump.h"
#include "threadcreate_collector.h"
#include "top_table.h"

namespace profd {
namespace {

volatile sig_atomic_t g_stop_requested = 0;

void RequestStop(int) { g_stop_requested = 1; }

// Ctrl-C and SIGTERM end the window early; the profile of what was collected is still written.
void InstallStopHandlers() {
  struct sigaction action = {};
  action.sa_handler = RequestStop;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

std::string DefaultOutputPath(const CliOptions& options) {
  std::string target = "all";
  if (!options.all_processes) {
    target.clear();
    for (pid_t pid : options.pids) target += (target.empty() ? "" : "_") + std::to_string(pid);
  }
  char stamp[32];
  time_t now = time(nullptr);
  struct tm tm;
  localtime_r(&now, &tm);
  strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
  return "profd-" + ProfileTypeName(options.type) + "-" + target + "-" + stamp + ".pb.gz";
}

std::string OutputPath(const CliOptions& options) {
  return options.output.empty() ? DefaultOutputPath(options) : options.output;
}

// Opened before any collecting, so an unwritable path fails at once.
bool OpenOutput(const std::string& output, AtomicFile* file) {
  std::string error;
  if (file->Open(output, &error)) return true;
  LogError(error + " (choose another path with -o)");
  return false;
}

// User + system CPU time profd has used so far.
double OwnCpuSeconds() {
  rusage usage = {};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
         (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

std::string Seconds(double s) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), s < 10 ? "%.1fs" : "%.0fs", s);
  return buffer;
}

// Checks every target before anything is loaded: a clear message for each that cannot be profiled.
bool CheckTargets(const std::vector<pid_t>& pids, std::string* error) {
  for (pid_t pid : pids) {
    if (!ProcessExists(pid)) {
      *error = "no process with pid " + std::to_string(pid) + " (is it still running? see ps -p " +
               std::to_string(pid) + ")";
      return false;
    }
    if (IsKernelThread(pid)) {
      *error =
          "pid " + std::to_string(pid) + " (" + ReadProcessComm(pid) +
          ") is a kernel thread: it has no user space to profile; use --all to see kernel time";
      return false;
    }
  }
  return true;
}

// What a profile type records: its pprof sample types and period, and its collector.
struct ProfileKind {
  std::vector<ValueType> sample_types;  // {events, total weight}, as the collectors count them
  std::string default_sample_type;
  ValueType period_type;
  int64_t period = 0;
  std::string description;
  std::string no_samples;  // why a profile can be empty, for the warning
};

std::unique_ptr<StackCollector> LoadCollector(const CliOptions& options,
                                              const ProcessTable& processes, ProfileKind* kind,
                                              std::string* error) {
  CollectorOptions common;
  common.all_processes = options.all_processes;
  common.dwarf_unwinding = options.dwarf_unwinding;
  common.pids = options.pids;
  // block and mutex are Go's two "delay" profiles: contentions and delay, one event per period.
  const std::vector<ValueType> kDelayTypes = {{"contentions", "count"}, {"delay", "nanoseconds"}};
  switch (options.type) {
    case ProfileType::kBlock: {
      OffCpuCollector::Options o;
      static_cast<CollectorOptions&>(o) = common;
      o.min_block_nanos = static_cast<uint64_t>(options.min_block_seconds * 1e9);
      *kind = {kDelayTypes,
               "delay",
               {"contentions", "count"},
               1,
               "block profile: off-CPU waits of at least " +
                   FormatValue(static_cast<int64_t>(o.min_block_nanos), "nanoseconds"),
               "no thread of the target blocked (and woke) during the window"};
      return OffCpuCollector::Load(o, error);
    }
    case ProfileType::kMutex:
      *kind = {kDelayTypes,
               "delay",
               {"contentions", "count"},
               1,
               "mutex profile: waits on contended locks (futex wait and lock-pi)",
               "no thread of the target waited on a contended lock during the window"};
      return MutexCollector::Load(common, error);
    case ProfileType::kHeap:
    case ProfileType::kAllocs: {
      HeapCollector::Options o;
      static_cast<CollectorOptions&>(o) = common;
      o.sample_rate = options.sample_rate_bytes;
      o.max_overhead_percent = options.max_overhead_percent;
      const bool heap = options.type == ProfileType::kHeap;
      // Go's four heap values; the two profiles differ only in the default, as in Go.
      *kind = {{{"alloc_objects", "count"},
                {"alloc_space", "bytes"},
                {"inuse_objects", "count"},
                {"inuse_space", "bytes"}},
               heap ? "inuse_space" : "alloc_space",
               {"space", "bytes"},
               static_cast<int64_t>(options.sample_rate_bytes),
               heap ? "heap profile: allocations made during the window and still live at its "
                      "end (blocks allocated before the window are not seen)"
                    : "allocs profile: allocations made during the window",
               heap ? "no allocation made during the window was sampled and still live"
                    : "no allocation made during the window was sampled (the target allocated "
                      "less than --sample-rate bytes, or not through the probed malloc)"};
      return HeapCollector::Load(o, processes, error);
    }
    case ProfileType::kThreadCreate:
      // As Go's threadcreate profile: one count per thread created, at the creating stack.
      *kind = {{{"threadcreate", "count"}},
               "",
               {"threadcreate", "count"},
               1,
               "threadcreate profile: threads created, by the creating thread's stack",
               "the target created no thread during the window"};
      return ThreadCreateCollector::Load(common, error);
    default: {
      CpuSampler::Options o;
      static_cast<CollectorOptions&>(o) = common;
      o.frequency_hz = options.frequency_hz;
      *kind = {{{"samples", "count"}, {"cpu", "nanoseconds"}},
               "cpu",
               {"cpu", "nanoseconds"},
               1000000000LL / options.frequency_hz,
               "cpu profile at " + std::to_string(options.frequency_hz) + " Hz",
               "the target did not run on a CPU during the window"};
      return CpuSampler::Load(o, error);
    }
  }
}

// Writes `builder`'s profile to `output` and prints what the one-shot command prints.
int WriteProfile(const CliOptions& options, ProfileBuilder* builder, AtomicFile* file,
                 const std::string& output) {
  std::string error;
  // The same rules pprof checks on reading: a profile it would reject is a bug of ours.
  if (std::string invalid = CheckValid(builder->profile()); !invalid.empty())
    LogError("internal error: the profile breaks pprof's rules (" + invalid +
             "); it is written anyway, please report this");
  if (!file->Commit(builder->SerializeGzipped(), &error)) {
    LogError(error);
    return kExitFailed;
  }
  std::cout << output << "\n";
  if (!options.quiet && options.top_rows > 0)
    std::cout << FormatTopTable(builder->profile(), static_cast<size_t>(options.top_rows));
  return kExitOk;
}

// goroutine (alias threads): every thread's stack now; --seconds does not apply.
int RunThreadDump(const CliOptions& options) {
  std::string error;
  if (options.all_processes) {
    LogError("--type goroutine dumps the threads of the processes given with --pid, not --all");
    return kExitUsage;
  }
  if (!CheckTargets(options.pids, &error)) {
    LogError(error);
    return kExitFailed;
  }
  const std::string output = OutputPath(options);
  AtomicFile file;
  if (!OpenOutput(output, &file)) return kExitFailed;
  KernelSymbolizer kernel;
  if (!kernel.Load("/proc/kallsyms", &error)) LogWarning("kernel stacks are left out: " + error);
  ProcessTable processes;
  ThreadDump dump;
  const auto wall_start = std::chrono::system_clock::now();
  for (pid_t pid : options.pids) {
    if (!processes.Observe(pid)) {
      LogError("pid " + std::to_string(pid) + " exited before its threads could be read");
      return kExitFailed;
    }
    if (DumpThreads(*processes.Find(pid), kernel, options.dwarf_unwinding, &dump) == 0) {
      LogError("no thread of pid " + std::to_string(pid) + " could be read" +
               (dump.errors.empty() ? "" : ": " + dump.errors.back()));
      return kExitFailed;
    }
  }
  for (const std::string& e : dump.errors) LogWarning(e);
  std::vector<double>& pauses = dump.pause_micros;
  Symbolizer symbolizer;
  ProfileAssembler assembler(&symbolizer, &kernel, &processes);
  ProfileBuilder builder({{"goroutine", "count"}}, "", {"goroutine", "count"}, 1);
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
  return WriteProfile(options, &builder, &file, output);
}

int RunCmdline(const CliOptions& options) {
  const pid_t pid = options.pids.front();
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  std::stringstream ss;
  if (in) ss << in.rdbuf();
  std::string cmdline = ss.str();
  if (!in || !ProcessExists(pid)) {
    LogError("no process with pid " + std::to_string(pid));
    return kExitFailed;
  }
  // As net/http/pprof serves it: the arguments joined by NUL, without a trailing one.
  if (!cmdline.empty() && cmdline.back() == '\0') cmdline.pop_back();
  if (options.output.empty() || options.output == "-") {
    std::cout << cmdline;
    return kExitOk;
  }
  AtomicFile file;
  std::string error;
  if (!file.Open(options.output, &error) || !file.Commit(cmdline, &error)) {
    LogError(error);
    return kExitFailed;
  }
  std::cout << options.output << "\n";
  return kExitOk;
}

}  // namespace

int RunProfileCommand(const CliOptions& options) {
  if (options.type == ProfileType::kCmdline) return RunCmdline(options);
  if (options.type == ProfileType::kGoroutine) return RunThreadDump(options);

  std::string error;
  if (!CheckTargets(options.pids, &error)) {
    LogError(error);
    return kExitFailed;
  }
  if (std::string missing = CheckBpfPrerequisites(); !missing.empty()) {
    LogError(missing);
    return kExitFailed;
  }
  const std::string output = OutputPath(options);
  AtomicFile file;
  if (!OpenOutput(output, &file)) return kExitFailed;

  InstallLibbpfLogger();
  InstallStopHandlers();
  ProcessTable processes;
  for (pid_t pid : options.pids) processes.Observe(pid);

  const auto wall_start = std::chrono::system_clock::now();
  const auto start = std::chrono::steady_clock::now();
  ProfileKind kind;
  std::unique_ptr<StackCollector> sampler = LoadCollector(options, processes, &kind, &error);
  if (!sampler) {
    LogError(error);
    return kExitFailed;
  }
  // Unwind tables of the targets go in before sampling starts, so no early sample walks without
  // them.
  LoadedUnwindTables unwind_tables(sampler->unwind_tables_fd(), sampler->process_unwind_fd());
  auto add_to_unwinder = [&](pid_t pid) {
    if (!options.dwarf_unwinding) return;
    if (const ProcessInfo* process = processes.Find(pid)) unwind_tables.AddProcess(*process);
  };
  for (pid_t pid : options.pids) add_to_unwinder(pid);
  // Kernel BPF run-time stats stay on while this fd is open.
  UniqueFd bpf_stats;
  if (options.bpf_stats) {
    bpf_stats = UniqueFd(bpf_enable_stats(BPF_STATS_RUN_TIME));
    if (!bpf_stats.valid()) LogWarning("cannot enable BPF stats: " + std::string(strerror(errno)));
  }
  if (!sampler->Attach(&error)) {
    LogError(error);
    return kExitFailed;
  }

  const double cpu_at_attach = OwnCpuSeconds();
  const bool show_progress = !options.quiet && isatty(STDERR_FILENO);
  std::set<pid_t> exited;
  std::string exit_note;
  double elapsed = 0;
  auto last_tick = start;
  while (!g_stop_requested && elapsed < options.seconds) {
    const double left = options.seconds - elapsed;
    const double wanted = sampler->Poll();
    struct timespec nap = {0, static_cast<long>(std::max(0.0, std::min({left, 0.1, wanted})) * 1e9)};
    nanosleep(&nap, nullptr);
    const auto now = std::chrono::steady_clock::now();
    elapsed = std::chrono::duration<double>(now - start).count();

    // Capture new processes' mappings while they are alive: short-lived ones may be gone in a
    // second.
    if (options.all_processes) {
      for (pid_t pid : sampler->TakeSampledPids()) {
        const bool known = processes.Find(pid) != nullptr;
        if (!known && processes.Observe(pid)) add_to_unwinder(pid);
      }
    }
    // An exec replaces a process's code: read its mappings again; an exit releases its tables.
    for (const StackCollector::ProcessEvent& event : sampler->TakeProcessEvents()) {
      if (!processes.Find(event.pid)) continue;
      if (event.exited)
        unwind_tables.RemoveProcess(event.pid);
      else if (processes.Refresh(event.pid))
        add_to_unwinder(event.pid);
    }
    if (now - last_tick < std::chrono::seconds(1) && elapsed < options.seconds) continue;
    last_tick = now;
    // Re-read the targets' mappings for code they dlopen'ed; notice targets that exited.
    for (pid_t pid : options.pids) {
      if (exited.count(pid)) continue;
      if (!ProcessExists(pid)) {
        exited.insert(pid);
        exit_note += "pid " + std::to_string(pid) + " exited " + Seconds(elapsed) + " into the " +
                     Seconds(options.seconds) + " window; ";
        unwind_tables.RemoveProcess(pid);
        continue;
      }
      if (processes.Refresh(pid)) add_to_unwinder(pid);
    }
    if (!options.pids.empty() && exited.size() == options.pids.size()) break;
    if (show_progress)
      std::fprintf(stderr, "\rprofd: %s profile, %s / %s (Ctrl-C ends early)  ",
                   ProfileTypeName(options.type).c_str(), Seconds(elapsed).c_str(),
                   Seconds(options.seconds).c_str());
  }
  sampler->Stop();
  const double cpu_while_sampling = OwnCpuSeconds() - cpu_at_attach;
  const auto duration = std::chrono::steady_clock::now() - start;
  if (show_progress) std::fprintf(stderr, "\n");
  if (g_stop_requested)
    LogInfo("interrupted after " + Seconds(elapsed) + ": writing what was collected");

  StackSamples samples = sampler->Collect();
  // Collectors count {events, total weight}; a profile with one sample type keeps the events.
  for (StackSample& s : samples.samples) s.values.resize(kind.sample_types.size());
  for (const StackSample& s : samples.samples) processes.Observe(static_cast<pid_t>(s.pid));

  KernelSymbolizer kernel;
  if (!kernel.Load("/proc/kallsyms", &error))
    LogWarning("kernel frames stay unsymbolized: " + error);
  Symbolizer symbolizer;
  ProfileAssembler assembler(&symbolizer, &kernel, &processes);
  ProfileBuilder builder(kind.sample_types, kind.default_sample_type, kind.period_type,
                         kind.period);
  assembler.Add(samples, &builder);
  builder.SetTime(
      std::chrono::duration_cast<std::chrono::nanoseconds>(wall_start.time_since_epoch()).count(),
      std::chrono::duration_cast<std::chrono::nanoseconds>(duration).count());
  builder.AddComment("profd 0.1.0 " + kind.description);
  for (const std::string& note : sampler->Notes()) {
    builder.AddComment(note);
    LogDebug(note);
  }
  if (options.dwarf_unwinding) {
    const LoadedUnwindTables::Stats& u = unwind_tables.stats();
    char line[300];
    std::snprintf(
        line, sizeof(line),
        "user stacks unwound with .eh_frame tables: %llu files, %llu rows (%.1f MiB of map "
        "memory), built in %.3f s; frame pointers for %llu files without tables",
        static_cast<unsigned long long>(u.tables_loaded),
        static_cast<unsigned long long>(u.rows_loaded),
        u.rows_loaded * sizeof(profd_unwind_row) / 1048576.0, u.build_seconds,
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
  if (!exit_note.empty()) builder.AddComment(exit_note);
  {
    char line[160];
    std::snprintf(line, sizeof(line), "profd CPU while collecting: %.3f s (%.2f%% of one core)",
                  cpu_while_sampling, elapsed > 0 ? 100 * cpu_while_sampling / elapsed : 0.0);
    builder.AddComment(line);
  }
  if (bpf_stats.valid()) {
    const StackCollector::ProgramCost cost = sampler->program_cost();
    // Runs for other processes and the idle task return at the filter; the time is in the samples
    // taken.
    char line[200];
    std::snprintf(
        line, sizeof(line), "BPF program: %llu runs, %llu samples taken, %.2f us per sample taken",
        static_cast<unsigned long long>(cost.runs), static_cast<unsigned long long>(samples.events),
        samples.events ? cost.nanoseconds / 1e3 / samples.events : 0.0);
    builder.AddComment(line);
    LogInfo(line);
  }

  if (const int written = WriteProfile(options, &builder, &file, output); written != kExitOk)
    return written;
  if (samples.samples.empty()) LogWarning("no samples: " + kind.no_samples);
  if (!exit_note.empty()) {
    LogWarning(exit_note + "the profile holds what was collected until then");
    return kExitPartial;
  }
  return kExitOk;
}

}  // namespace profd

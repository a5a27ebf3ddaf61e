#include "cli/launch_command.h"

#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/atomic_file.h"
#include "base/log.h"
#include "cli/daemon_client.h"
#include "cli/profile_command.h"
#include "collect/heap/allocator_probes.h"
#include "process/loader_stop.h"
#include "profiles/profile_collection.h"
#include "profiles/profile_types.h"

namespace profd {
namespace {

volatile sig_atomic_t g_command = 0;     // the command's pid once forked
volatile sig_atomic_t g_interrupts = 0;  // Ctrl-Cs from the terminal

constexpr int kForwardedSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};

// The terminal sends its Ctrl-C to the whole foreground process group, the command included
// (si_code SI_KERNEL): it is only counted here. A signal sent to profd alone is the command's.
void OnSignal(int sig, siginfo_t* info, void*) {
  if (sig == SIGINT && info->si_code == SI_KERNEL) {
    g_interrupts = g_interrupts + 1;
    return;
  }
  if (g_command > 0) kill(g_command, sig);
}

void InstallForwarding() {
  struct sigaction action = {};
  action.sa_sigaction = OnSignal;
  action.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&action.sa_mask);
  for (int sig : kForwardedSignals) sigaction(sig, &action, nullptr);
}

// True once the command has exited; it stays a zombie (WNOWAIT) until reaped after the window.
bool CommandExited(pid_t pid) {
  siginfo_t info = {};
  return waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
         info.si_pid == pid;
}

std::string CommandLine(const std::vector<std::string>& command) {
  std::string line;
  for (const std::string& word : command) line += (line.empty() ? "" : " ") + word;
  return line;
}

// profd-TYPE-NAME-TIME.pb.gz, NAME the command's file name in letters, digits and ._-
std::string DefaultOutputPath(const CliOptions& options, ProfileType type) {
  const std::string& program = options.command.front();
  std::string name;
  for (char c : program.substr(program.rfind('/') + 1))
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-') name += c;
  if (name.empty()) name = "command";
  return DefaultOutputName(type, name);
}

// Where the profile of `type` goes. With several types -o names a folder (one that exists, or a
// path ending in /) that gets the default names, or a prefix: -o run gives run-cpu.pb.gz,
// run-allocs.pb.gz (a .pb.gz given is moved to the end).
std::string OutputPath(const CliOptions& options, ProfileType type, bool several) {
  if (options.output.empty()) return DefaultOutputPath(options, type);
  if (!several) return options.output;
  struct stat st;
  if (options.output.back() == '/' ||
      (stat(options.output.c_str(), &st) == 0 && S_ISDIR(st.st_mode)))
    return options.output + (options.output.back() == '/' ? "" : "/") +
           DefaultOutputPath(options, type);
  std::string prefix = options.output;
  const std::string suffix = ".pb.gz";
  if (prefix.size() > suffix.size() &&
      prefix.compare(prefix.size() - suffix.size(), suffix.size(), suffix) == 0)
    prefix.resize(prefix.size() - suffix.size());
  return prefix + "-" + ProfileTypeName(type) + suffix;
}

// The file execvp runs for `program`: itself when it names a path, else the first executable of
// that name in $PATH; "" when there is none.
std::string ExecutablePath(const std::string& program) {
  if (program.find('/') != std::string::npos) return program;
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/bin:/usr/bin";
  for (size_t at = 0; at <= dirs.size();) {
    const size_t colon = std::min(dirs.find(':', at), dirs.size());
    const std::string dir = colon > at ? dirs.substr(at, colon - at) : ".";
    const std::string candidate = dir + "/" + program;
    struct stat st;
    if (stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        access(candidate.c_str(), X_OK) == 0)
      return candidate;
    at = colon + 1;
  }
  return "";
}

// The command's environment: profd's own, with the preload sampler first in LD_PRELOAD and its
// rate in PROFD_SAMPLE_RATE when `preload` is set.
std::vector<std::string> CommandEnvironment(const std::string& preload, uint64_t sample_rate) {
  std::vector<std::string> env;
  std::string preloaded;
  for (char** e = environ; *e; e++) {
    const std::string entry = *e;
    if (!preload.empty() && entry.rfind("LD_PRELOAD=", 0) == 0) {
      preloaded = entry.substr(11);
      continue;
    }
    if (!preload.empty() &&
        (entry.rfind("PROFD_SAMPLE_RATE=", 0) == 0 || entry.rfind("PROFD_PRELOAD_PID=", 0) == 0))
      continue;  // profd's own, when it runs under a launch: the command's first process is its
    env.push_back(entry);
  }
  if (!preload.empty()) {
    env.push_back("LD_PRELOAD=" + preload + (preloaded.empty() ? "" : ":" + preloaded));
    env.push_back("PROFD_SAMPLE_RATE=" + std::to_string(sample_rate));
  }
  return env;
}

// Forks and execs the command under PTRACE_TRACEME, so it stops at its first instruction after
// the exec (SIGTRAP), its new image mapped and nothing of it run; an exec failure's errno comes
// back on `failed`. Only async-signal-safe calls in the child.
pid_t ForkStoppedCommand(const std::vector<std::string>& command,
                         const std::vector<std::string>& environment, int failed[2]) {
  std::vector<char*> argv, envp;
  for (const std::string& word : command) argv.push_back(const_cast<char*>(word.c_str()));
  argv.push_back(nullptr);
  for (const std::string& entry : environment) envp.push_back(const_cast<char*>(entry.c_str()));
  envp.push_back(nullptr);
  const pid_t pid = fork();
  if (pid != 0) return pid;
  for (int sig : kForwardedSignals) signal(sig, SIG_DFL);
  close(failed[0]);
  if (ptrace(PTRACE_TRACEME, 0, nullptr, nullptr) == 0) execvpe(argv[0], argv.data(), envp.data());
  const int error = errno;
  ssize_t ignored = write(failed[1], &error, sizeof(error));
  (void)ignored;
  _exit(error == ENOENT ? 127 : 126);  // as shells answer "not found" and "cannot execute"
}

int WaitFor(pid_t pid, int flags = 0) {
  int status = 0;
  while (waitpid(pid, &status, flags) < 0 && errno == EINTR) {
  }
  return status;
}

// The exit code profd passes on for a wait status: the command's, or 128+N for signal N.
int ExitCode(int status, std::string* ending) {
  if (WIFSIGNALED(status)) {
    *ending = std::string("was killed by signal ") + std::to_string(WTERMSIG(status)) + " (SIG" +
              sigabbrev_np(WTERMSIG(status)) + ")";
    return 128 + WTERMSIG(status);
  }
  *ending = "exited with status " + std::to_string(WEXITSTATUS(status));
  return WEXITSTATUS(status);
}

// The command ended while its loader was still at work: nothing of it to profile.
int ReportEnded(const CliOptions& options, int status) {
  g_command = 0;
  std::string ending;
  const int code = ExitCode(status, &ending);
  LogError(options.command.front() + " " + ending +
           " before its libraries were loaded: no profile written");
  return code;
}

// The daemon's connections for a launch through it, one per type: empty when no daemon answers
// (profd then profiles in its own process). False, reported, when one should answer and cannot be
// reached: the command is not run.
bool ConnectForLaunch(const CliOptions& options, size_t count, std::vector<UniqueFd>* connections,
                      std::vector<DaemonReply>* replies) {
  if (options.no_daemon || options.request.bpf_stats) return true;
  replies->resize(count);
  for (size_t i = 0; i < count; i++) {
    UniqueFd fd;
    if (ConnectToDaemon(DaemonSocketPath(), &fd, &(*replies)[i]) == ClientResult::kNoDaemon) {
      connections->clear();
      return true;
    }
    if (!fd.valid()) {
      LogError((*replies)[i].error + "; the command was not run");
      return false;
    }
    connections->push_back(std::move(fd));
  }
  LogDebug("launching through the profd daemon on " + DaemonSocketPath());
  return true;
}

// The daemon's profile of a launched command, with `note` among its comments, written as the
// one-shot command writes one; false (reported) when the daemon sent none.
bool WriteDaemonProfile(const CliOptions& options, const DaemonReply& reply,
                        const std::string& note, AtomicFile* file, const std::string& output) {
  if (reply.status != 200) {
    ReportDaemonFailure(reply);
    return false;
  }
  perftools::profiles::Profile profile;
  if (!ParseGzippedProfile(reply.body, &profile)) {
    LogError("the profd daemon on " + reply.socket_path + " sent something that is no profile");
    return false;
  }
  profile.add_string_table(note);
  profile.add_comment(profile.string_table_size() - 1);
  return WriteProfileBytes(options, Gzip(profile.SerializeAsString()), profile, file, output,
                           std::cerr) == kExitOk;
}

// One run of a launched command: its output files, the command held until every collector is
// attached (here, or the daemon's), its profiles written at its exit, its status passed on.
class LaunchedRun {
 public:
  explicit LaunchedRun(const CliOptions& options)
      : options_(options), line_(CommandLine(options.command)) {
    types_ = options.launch_types;
    if (types_.empty()) types_ = {options.request.type};
    request_ = options.request;
    request_.launched = true;
  }

  int Run() {
    // Whether a daemon answers decides how the command is held; a daemon that should answer and
    // cannot leaves it unrun. The requests go on fresh connections once the command waits at its
    // libraries (a daemon gives a connection 3 s to send its request).
    if (!OpenOutputs() || !ChooseSampler() ||
        !ConnectForLaunch(options_, 1, &connections_, &replies_))
      return kExitFailed;
    via_daemon_ = !connections_.empty();
    connections_.clear();
    if (std::optional<int> code = StartCommand()) return *code;
    // Stopped after its exec. It runs on to where its loader has mapped its libraries: before the
    // collectors attach when probes go on a library (the allocator), several collectors attach or
    // the daemon attaches them, else once the sampler is attached, so the loader's own work is
    // profiled too. Its mappings are then read again, and it is let go once every collector is
    // attached.
    libraries_first_ = via_daemon_ || probes_libraries_ || types_.size() > 1;
    if (libraries_first_) RunToLibraries();
    if (ended_) return ReportEnded(options_, *ended_);
    if (via_daemon_ && (!ConnectForLaunch(options_, types_.size(), &connections_, &replies_) ||
                        connections_.size() != types_.size())) {
      LogError("the profd daemon on " + DaemonSocketPath() +
               " went away; the command was not run: " + line_);
      KillHeldCommand();
      return kExitFailed;
    }
    CollectAll();
    if (ended_) return ReportEnded(options_, *ended_);
    if (!released_) return NotRun();
    return WriteAndWait();
  }

 private:
  // One profile per type, all of the same run; each file opened before anything runs.
  bool OpenOutputs() {
    files_ = std::vector<AtomicFile>(types_.size());
    for (size_t i = 0; i < types_.size(); i++) {
      outputs_.push_back(OutputPath(options_, types_[i], types_.size() > 1));
      if (!OpenOutput(outputs_[i], &files_[i])) return false;
    }
    return true;
  }

  // heap and allocs sample in the process, where the preload sampler can be the allocator the
  // command calls; otherwise (static allocators, set-user-ID programs) the allocator is probed.
  bool ChooseSampler() {
    probes_libraries_ = std::any_of(types_.begin(), types_.end(),
                                    [](ProfileType t) { return InfoOf(t).probes_libraries; });
    if (!probes_libraries_) return true;
    request_.heap_peak = true;  // the whole run: its peak is heaptrack's
    // A program that brings jemalloc may call its mallocx family: the variant that samples those.
    const char* preloaded = std::getenv("LD_PRELOAD");
    preload_ = PreloadLibrary(
        CommandUsesJemalloc(ExecutablePath(options_.command.front()), preloaded ? preloaded : ""));
    request_.preload_sampler = !preload_.empty();
    if (preload_.empty())
      LogWarning(
          "profd's preload sampler (libprofd_preload.so) is not installed beside it: the "
          "allocator's every call is probed instead, at a far higher cost");
    return true;
  }

  // Forks the command and waits for its stop after the exec; an exit code when it cannot run.
  std::optional<int> StartCommand() {
    int failed[2];
    if (pipe2(failed, O_CLOEXEC) != 0) {
      LogError(std::string("cannot make a pipe: ") + std::strerror(errno));
      return kExitFailed;
    }
    InstallForwarding();
    pid_ = ForkStoppedCommand(options_.command,
                              CommandEnvironment(preload_, request_.sample_rate_bytes), failed);
    if (pid_ < 0) {
      LogError(std::string("cannot fork: ") + std::strerror(errno));
      return kExitFailed;
    }
    close(failed[1]);
    const int first = WaitFor(pid_);
    int exec_error = 0;
    const bool exec_failed = read(failed[0], &exec_error, sizeof(exec_error)) ==
                             static_cast<ssize_t>(sizeof(exec_error));
    close(failed[0]);
    if (exec_failed || !WIFSTOPPED(first)) {
      if (WIFSTOPPED(first)) kill(pid_, SIGKILL);
      const int status = WIFSTOPPED(first) ? WaitFor(pid_) : first;
      LogError("cannot run " + options_.command.front() + ": " +
               (exec_failed ? std::strerror(exec_error) : "it ended before its first instruction"));
      return WIFEXITED(status) ? WEXITSTATUS(status) : kExitFailed;
    }
    g_command = pid_;
    // Should profd die before letting it go, the command dies too, rather than run on with the
    // loader's breakpoint in it (the options end with the detach).
    ptrace(PTRACE_SETOPTIONS, pid_, nullptr, PTRACE_O_EXITKILL);
    request_.pids = {pid_};
    return std::nullopt;
  }

  void RunToLibraries() {
    const LoaderStop stop = RunToLoadedLibraries(pid_);
    if (stop.result == LoaderStop::Result::kEnded)
      ended_ = stop.wait_status;
    else if (stop.result == LoaderStop::Result::kFailed)
      LogWarning("cannot stop " + options_.command.front() + " where its libraries are mapped (" +
                 stop.why + "): they are read once it runs, and their first samples may lack them");
  }

  // Under mutex_: the last collector to arrive (attached, or failed before) lets the others on.
  bool Arrive() {
    if (--waiting_ > 0) return false;
    all_attached_.notify_all();
    return true;
  }

  // A collector is attached: the last one runs the command on to its libraries if it has not
  // yet; the others wait for it.
  void Attached() {
    std::unique_lock<std::mutex> lock(mutex_);
    if (Arrive()) {
      if (!libraries_first_) RunToLibraries();
    } else {
      all_attached_.wait(lock, [&] { return waiting_ == 0; });
    }
  }

  void Release() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (ended_ || released_) return;
    released_ = ptrace(PTRACE_DETACH, pid_, nullptr, nullptr) == 0;
    released_at_ = std::chrono::steady_clock::now();
  }

  // One collector per type, each on its own thread, here or in the daemon.
  void CollectAll() {
    waiting_ = types_.size();
    collected_.resize(types_.size());
    std::vector<std::thread> threads;
    for (size_t i = 1; i < types_.size(); i++) threads.emplace_back(&LaunchedRun::Collect, this, i);
    Collect(0);
    for (std::thread& t : threads) t.join();
  }

  void Collect(size_t i) {
    ProfileRequest one = request_;
    one.type = types_[i];
    // The heap and allocs probes are per process: they keep to the command's first.
    if (InfoOf(one.type).probes_libraries) one.follow_forks = false;
    bool attached = false;
    CollectionHooks hooks;
    hooks.attached = [&] {
      if (attached) return;  // once per collector, however many 102s a daemon sends
      attached = true;
      Attached();
      if (via_daemon_) Release();  // the daemon's 102: let go once every type has one
    };
    hooks.release = [this] { Release(); };
    hooks.until_exit = true;
    // Through the daemon, the daemon sees the command's exit itself; a second Ctrl-C shuts this
    // side of the connections, which ends its window with what was collected.
    hooks.stop_requested = [this] {
      return ended_ || g_interrupts >= 2 || (!via_daemon_ && CommandExited(pid_));
    };
    if (via_daemon_)
      ExchangeWithDaemon(std::move(connections_[i]), one, hooks, &replies_[i]);
    else
      collected_[i] = CollectProfile(one, hooks);
    std::lock_guard<std::mutex> lock(mutex_);
    if (!attached) Arrive();  // failed before attaching: the others go on without it
  }

  // The command, held before it ran, ends without running.
  void KillHeldCommand() {
    kill(pid_, SIGKILL);
    ptrace(PTRACE_DETACH, pid_, nullptr, nullptr);
    WaitFor(pid_);
    g_command = 0;
  }

  // Never attached: the command goes without running.
  int NotRun() {
    KillHeldCommand();
    for (size_t i = 0; i < types_.size(); i++) {
      if (via_daemon_)
        ReportDaemonFailure(replies_[i]);
      else
        LogError(collected_[i].error.empty() ? "collection failed" : collected_[i].error);
    }
    LogError("the command was not run: " + line_);
    return kExitFailed;
  }

  void Write(const std::string& how) {
    const std::string note = "launched by profd: " + line_ + "; " + how;
    for (size_t i = 0; i < types_.size(); i++) {
      CliOptions one = options_;
      one.request.type = types_[i];
      bool written;
      if (via_daemon_) {
        written = WriteDaemonProfile(one, replies_[i], note, &files_[i], outputs_[i]);
      } else {
        if (!collected_[i].builder) continue;
        collected_[i].builder->AddComment(note);
        written = WriteProfile(one, collected_[i].builder.get(), &files_[i], outputs_[i],
                               std::cerr) == kExitOk;
      }
      if (!written) LogError("the profile could not be written; the command's status is passed on");
    }
  }

  // Writes the profiles (before waiting, when profiling stopped while the command runs on: a
  // second Ctrl-C, or the daemon's longest window) and passes the command's status on.
  int WriteAndWait() {
    for (const CollectedProfile& c : collected_)
      if (!via_daemon_ && c.status != CollectedProfile::Status::kOk &&
          c.status != CollectedProfile::Status::kPartial)
        LogError(c.error);
    const bool exited = CommandExited(pid_);
    const double seconds =
        via_daemon_
            ? std::chrono::duration<double>(std::chrono::steady_clock::now() - released_at_).count()
            : collected_[0].seconds;
    if (!exited) {
      LogInfo("profiling stopped after " + Seconds(seconds) + ": writing what was collected; " +
              "waiting for " + options_.command.front() + " to end");
      Write("profiling was stopped after " + Seconds(seconds) + " while it ran on" +
            (g_interrupts >= 2 ? " (a second Ctrl-C)" : " (the longest window allowed)"));
    }
    const int status = WaitFor(pid_);
    g_command = 0;
    std::string ending;
    const int code = ExitCode(status, &ending);
    if (WIFSIGNALED(status))
      LogWarning(options_.command.front() + " " + ending + "; profd exits " + std::to_string(code));
    if (exited) Write("it " + ending + " after " + Seconds(seconds));
    return code;
  }

  const CliOptions& options_;
  const std::string line_;
  std::vector<ProfileType> types_;
  std::vector<std::string> outputs_;
  std::vector<AtomicFile> files_;
  ProfileRequest request_;
  bool probes_libraries_ = false;
  std::string preload_;  // the preload sampler's path, "" without one
  // Through a daemon: a connection and its reply per type.
  bool via_daemon_ = false;
  std::vector<UniqueFd> connections_;
  std::vector<DaemonReply> replies_;
  std::vector<CollectedProfile> collected_;  // without one
  pid_t pid_ = -1;
  bool libraries_first_ = false;
  std::mutex mutex_;
  std::condition_variable all_attached_;
  size_t waiting_ = 0;        // collectors not attached (nor failed) yet
  std::optional<int> ended_;  // its wait status, had it ended before it was let go
  bool released_ = false;
  std::chrono::steady_clock::time_point released_at_;
};

}  // namespace

int RunLaunchCommand(const CliOptions& options) { return LaunchedRun(options).Run(); }

}  // namespace profd

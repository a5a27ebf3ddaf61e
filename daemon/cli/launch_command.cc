#include "cli/launch_command.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cerrno>
#include <cstdio>
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
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')
      name += c;
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
  if (options.output.back() == '/' || (stat(options.output.c_str(), &st) == 0 && S_ISDIR(st.st_mode)))
    return options.output + (options.output.back() == '/' ? "" : "/") +
           DefaultOutputPath(options, type);
  std::string prefix = options.output;
  const std::string suffix = ".pb.gz";
  if (prefix.size() > suffix.size() && prefix.compare(prefix.size() - suffix.size(), suffix.size(), suffix) == 0)
    prefix.resize(prefix.size() - suffix.size());
  return prefix + "-" + ProfileTypeName(type) + suffix;
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
    if (!preload.empty() && (entry.rfind("PROFD_SAMPLE_RATE=", 0) == 0 ||
                             entry.rfind("PROFD_PRELOAD_PID=", 0) == 0))
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

// The daemon's connections for a launch through it, one per type, made before the command starts:
// empty when no daemon answers (profd then profiles in its own process). False, reported, when one
// should answer and cannot be reached: the command is not run.
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
bool WriteDaemonProfile(const CliOptions& options, const DaemonReply& reply, const std::string& note,
                        AtomicFile* file, const std::string& output) {
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

}  // namespace

int RunLaunchCommand(const CliOptions& options) {
  // One profile per type, all of the same run; each file opened before anything runs.
  std::vector<ProfileType> types = options.launch_types;
  if (types.empty()) types = {options.request.type};
  std::vector<std::string> outputs;
  std::vector<AtomicFile> files(types.size());
  for (size_t i = 0; i < types.size(); i++) {
    outputs.push_back(OutputPath(options, types[i], types.size() > 1));
    if (!OpenOutput(outputs[i], &files[i])) return kExitFailed;
  }
  // heap and allocs sample in the process, where the preload sampler can be the allocator the
  // command calls; otherwise (static allocators, set-user-ID programs) the allocator is probed.
  ProfileRequest request = options.request;
  request.launched = true;
  const bool probes_libraries = std::any_of(types.begin(), types.end(), [](ProfileType t) {
    return InfoOf(t).probes_libraries;
  });
  std::string preload;
  if (probes_libraries) {
    request.heap_peak = true;  // the whole run: its peak is heaptrack's
    preload = PreloadLibrary();
    request.preload_sampler = !preload.empty();
    if (preload.empty())
      LogWarning("profd's preload sampler (libprofd_preload.so) is not installed beside it: the "
                 "allocator's every call is probed instead, at a far higher cost");
  }
  // A running daemon does the BPF work, as for --pid (and a user other than root may launch
  // through it): this process holds the command and lets it go once the daemon is attached.
  std::vector<UniqueFd> connections;
  std::vector<DaemonReply> replies;
  if (!ConnectForLaunch(options, types.size(), &connections, &replies)) return kExitFailed;
  const bool via_daemon = !connections.empty();
  int failed[2];
  if (pipe2(failed, O_CLOEXEC) != 0) {
    LogError(std::string("cannot make a pipe: ") + std::strerror(errno));
    return kExitFailed;
  }
  const std::vector<std::string> environment = CommandEnvironment(preload, request.sample_rate_bytes);
  InstallForwarding();
  const pid_t pid = ForkStoppedCommand(options.command, environment, failed);
  if (pid < 0) {
    LogError(std::string("cannot fork: ") + std::strerror(errno));
    return kExitFailed;
  }
  close(failed[1]);
  const int first = WaitFor(pid);
  int exec_error = 0;
  const bool exec_failed = read(failed[0], &exec_error, sizeof(exec_error)) ==
                           static_cast<ssize_t>(sizeof(exec_error));
  close(failed[0]);
  if (exec_failed || !WIFSTOPPED(first)) {
    if (WIFSTOPPED(first)) kill(pid, SIGKILL);
    const int status = WIFSTOPPED(first) ? WaitFor(pid) : first;
    LogError("cannot run " + options.command.front() + ": " +
             (exec_failed ? std::strerror(exec_error) : "it ended before its first instruction"));
    return WIFEXITED(status) ? WEXITSTATUS(status) : kExitFailed;
  }
  g_command = pid;
  // Should profd die before letting it go, the command dies too, rather than run on with the
  // loader's breakpoint in it (the options end with the detach).
  ptrace(PTRACE_SETOPTIONS, pid, nullptr, PTRACE_O_EXITKILL);

  // Stopped after its exec. It runs on to where its loader has mapped its libraries: before the
  // collectors attach when probes go on a library (the allocator), several collectors attach or
  // the daemon attaches them, else once the sampler is attached, so the loader's own work is
  // profiled too. Its mappings are then read again, and it is let go once every collector is
  // attached.
  const std::string line = CommandLine(options.command);
  std::optional<int> ended;  // its wait status, had it ended before it was let go
  auto run_to_libraries = [&] {
    const LoaderStop stop = RunToLoadedLibraries(pid);
    if (stop.result == LoaderStop::Result::kEnded)
      ended = stop.wait_status;
    else if (stop.result == LoaderStop::Result::kFailed)
      LogWarning("cannot stop " + options.command.front() + " where its libraries are mapped (" +
                 stop.why + "): they are read once it runs, and their first samples may lack them");
  };
  const bool libraries_first = via_daemon || probes_libraries || types.size() > 1;
  if (libraries_first) run_to_libraries();
  if (ended) return ReportEnded(options, *ended);

  request.pids = {pid};
  std::mutex mutex;
  std::condition_variable all_attached;
  size_t waiting = types.size();  // collectors not attached (nor failed) yet
  bool released = false;
  std::chrono::steady_clock::time_point released_at;
  auto arrive = [&] {  // under `mutex`: the last collector to arrive lets the others on
    if (--waiting > 0) return false;
    all_attached.notify_all();
    return true;
  };
  CollectionHooks hooks;
  hooks.attached = [&] {
    std::unique_lock<std::mutex> lock(mutex);
    if (arrive()) {
      if (!libraries_first) run_to_libraries();
    } else {
      all_attached.wait(lock, [&] { return waiting == 0; });
    }
  };
  hooks.release = [&] {
    std::lock_guard<std::mutex> lock(mutex);
    if (ended || released) return;
    released = ptrace(PTRACE_DETACH, pid, nullptr, nullptr) == 0;
    released_at = std::chrono::steady_clock::now();
  };
  hooks.until_exit = true;
  // Through the daemon, the daemon sees the command's exit itself; a second Ctrl-C shuts this
  // side of the connections, which ends its window with what was collected.
  hooks.stop_requested = [&] {
    return ended || g_interrupts >= 2 || (!via_daemon && CommandExited(pid));
  };
  std::vector<CollectedProfile> collected(types.size());
  auto collect = [&](size_t i) {
    ProfileRequest one = request;
    one.type = types[i];
    // The heap and allocs probes are per process: they keep to the command's first.
    if (InfoOf(one.type).probes_libraries) one.follow_forks = false;
    bool attached = false;
    CollectionHooks own = hooks;
    own.attached = [&] {
      attached = true;
      hooks.attached();
    };
    if (via_daemon) {
      own.attached = [&] {  // the daemon's 102: let the command go once every type has one
        attached = true;
        hooks.attached();
        hooks.release();
      };
      ExchangeWithDaemon(std::move(connections[i]), one, own, &replies[i]);
    } else {
      collected[i] = CollectProfile(one, own);
    }
    std::lock_guard<std::mutex> lock(mutex);
    if (!attached) arrive();  // failed before attaching: the others go on without it
  };
  std::vector<std::thread> threads;
  for (size_t i = 1; i < types.size(); i++) threads.emplace_back(collect, i);
  collect(0);
  for (std::thread& t : threads) t.join();
  if (ended) return ReportEnded(options, *ended);
  if (!released) {  // never attached: the command goes without running
    kill(pid, SIGKILL);
    ptrace(PTRACE_DETACH, pid, nullptr, nullptr);
    WaitFor(pid);
    for (size_t i = 0; i < types.size(); i++) {
      if (via_daemon)
        ReportDaemonFailure(replies[i]);
      else
        LogError(collected[i].error.empty() ? "collection failed" : collected[i].error);
    }
    LogError("the command was not run: " + line);
    return kExitFailed;
  }
  for (const CollectedProfile& c : collected)
    if (!via_daemon && c.status != CollectedProfile::Status::kOk &&
        c.status != CollectedProfile::Status::kPartial)
      LogError(c.error);
  // Profiling stopped while the command runs on (a second Ctrl-C, or the daemon's longest
  // window): the profiles are written now, and profd then waits for the command.
  const bool exited = CommandExited(pid);
  const double seconds =
      via_daemon ? std::chrono::duration<double>(std::chrono::steady_clock::now() - released_at).count()
                 : collected[0].seconds;
  auto write = [&](const std::string& how) {
    const std::string note = "launched by profd: " + line + "; " + how;
    for (size_t i = 0; i < types.size(); i++) {
      CliOptions one = options;
      one.request.type = types[i];
      bool written;
      if (via_daemon) {
        written = WriteDaemonProfile(one, replies[i], note, &files[i], outputs[i]);
      } else {
        if (!collected[i].builder) continue;
        collected[i].builder->AddComment(note);
        written = WriteProfile(one, collected[i].builder.get(), &files[i], outputs[i], std::cerr) ==
                  kExitOk;
      }
      if (!written) LogError("the profile could not be written; the command's status is passed on");
    }
  };
  if (!exited) {
    LogInfo("profiling stopped after " + Seconds(seconds) + ": writing what was collected; " +
            "waiting for " + options.command.front() + " to end");
    write("profiling was stopped after " + Seconds(seconds) + " while it ran on" +
          (g_interrupts >= 2 ? " (a second Ctrl-C)" : " (the longest window allowed)"));
  }
  const int status = WaitFor(pid);
  g_command = 0;
  std::string ending;
  const int code = ExitCode(status, &ending);
  if (WIFSIGNALED(status))
    LogWarning(options.command.front() + " " + ending + "; profd exits " + std::to_string(code));
  if (exited) write("it " + ending + " after " + Seconds(seconds));
  return code;
}

}  // namespace profd

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
#include "cli/profile_command.h"
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

// profd's preload sampler (preload/), next to this binary: installed in ../lib/profd/, built in
// ../preload/. Root's (or profd's user's) and writable by nobody else, since it is loaded into the
// command, which may run as root. "" when there is none.
std::string FindPreloadLibrary() {
  char self[4096];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n <= 0) return "";
  std::string dir(self, static_cast<size_t>(n));
  dir = dir.substr(0, dir.rfind('/'));
  for (const char* relative : {"/../lib/profd/libprofd_preload.so", "/../preload/libprofd_preload.so"}) {
    char resolved[PATH_MAX];
    if (!realpath((dir + relative).c_str(), resolved)) continue;
    struct stat st;
    if (stat(resolved, &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if ((st.st_uid != 0 && st.st_uid != geteuid()) || (st.st_mode & 022)) {
      LogWarning(std::string(resolved) + " is writable by others than its owner, or not root's: " +
                 "not preloaded");
      continue;
    }
    return resolved;
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
  int failed[2];
  if (pipe2(failed, O_CLOEXEC) != 0) {
    LogError(std::string("cannot make a pipe: ") + std::strerror(errno));
    return kExitFailed;
  }
  // heap and allocs sample in the process, where the preload sampler can be the allocator the
  // command calls; otherwise (static allocators, set-user-ID programs) the allocator is probed.
  ProfileRequest request = options.request;
  const bool probes_libraries = std::any_of(types.begin(), types.end(), [](ProfileType t) {
    return InfoOf(t).probes_libraries;
  });
  if (probes_libraries) {
    request.heap_peak = true;  // the whole run: its peak is heaptrack's
    request.preload_library = FindPreloadLibrary();
    if (request.preload_library.empty())
      LogWarning("profd's preload sampler (libprofd_preload.so) is not installed beside it: the "
                 "allocator's every call is probed instead, at a far higher cost");
    // The processes it starts inherit LD_PRELOAD, not the probes: a tree is not followed (the
    // sampler stands aside in them and leaves their LD_PRELOAD).
    request.follow_forks = false;
  }
  const std::vector<std::string> environment =
      CommandEnvironment(request.preload_library, request.sample_rate_bytes);
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
  // collectors attach when probes go on a library (the allocator) or several collectors attach,
  // else once the sampler is attached, so the loader's own work is profiled too. Its mappings are
  // then read again, and it is let go once every collector is attached.
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
  const bool libraries_first = probes_libraries || types.size() > 1;
  if (libraries_first) run_to_libraries();
  if (ended) return ReportEnded(options, *ended);

  request.pids = {pid};
  std::mutex mutex;
  std::condition_variable all_attached;
  size_t waiting = types.size();  // collectors not attached (nor failed) yet
  bool released = false;
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
    if (!ended && !released) released = ptrace(PTRACE_DETACH, pid, nullptr, nullptr) == 0;
  };
  hooks.until_exit = true;
  hooks.stop_requested = [&] { return ended || g_interrupts >= 2 || CommandExited(pid); };
  std::vector<CollectedProfile> collected(types.size());
  auto collect = [&](size_t i) {
    ProfileRequest one = request;
    one.type = types[i];
    if (InfoOf(one.type).probes_libraries) one.follow_forks = false;
    bool attached = false;
    CollectionHooks own = hooks;
    own.attached = [&] {
      attached = true;
      hooks.attached();
    };
    collected[i] = CollectProfile(one, own);
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
    for (const CollectedProfile& c : collected)
      LogError(c.error.empty() ? "collection failed" : c.error);
    LogError("the command was not run: " + line);
    return kExitFailed;
  }
  for (const CollectedProfile& c : collected)
    if (c.status != CollectedProfile::Status::kOk && c.status != CollectedProfile::Status::kPartial)
      LogError(c.error);
  // Profiling stopped while the command runs on (a second Ctrl-C): the profiles are written now,
  // and profd then waits for the command, as it was asked to.
  const bool exited = CommandExited(pid);
  auto write = [&](const std::string& how) {
    for (size_t i = 0; i < types.size(); i++) {
      if (!collected[i].builder) continue;
      collected[i].builder->AddComment("launched by profd: " + line + "; " + how);
      CliOptions one = options;
      one.request.type = types[i];
      if (WriteProfile(one, collected[i].builder.get(), &files[i], outputs[i], std::cerr) !=
          kExitOk)
        LogError("the profile could not be written; the command's status is passed on");
    }
  };
  const double seconds = collected[0].seconds;
  if (!exited) {
    LogInfo("interrupted after " + Seconds(seconds) + ": writing what was collected; " +
            "waiting for " + options.command.front() + " to end");
    write("profiling was stopped after " + Seconds(seconds) + " (a second Ctrl-C) while it ran on");
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

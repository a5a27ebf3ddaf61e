#include "cli/launch_command.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "base/atomic_file.h"
#include "base/log.h"
#include "cli/profile_command.h"
#include "profiles/profile_collection.h"

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
std::string DefaultOutputPath(const CliOptions& options) {
  const std::string& program = options.command.front();
  std::string name;
  for (char c : program.substr(program.rfind('/') + 1))
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')
      name += c;
  if (name.empty()) name = "command";
  return DefaultOutputName(options.request.type, name);
}

// Forks and execs the command under PTRACE_TRACEME, so it stops at its first instruction after
// the exec (SIGTRAP), its new image mapped and nothing of it run; an exec failure's errno comes
// back on `failed`. Only async-signal-safe calls in the child.
pid_t ForkStoppedCommand(const std::vector<std::string>& command, int failed[2]) {
  std::vector<char*> argv;
  for (const std::string& word : command) argv.push_back(const_cast<char*>(word.c_str()));
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid != 0) return pid;
  for (int sig : kForwardedSignals) signal(sig, SIG_DFL);
  close(failed[0]);
  if (ptrace(PTRACE_TRACEME, 0, nullptr, nullptr) == 0) execvp(argv[0], argv.data());
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

}  // namespace

int RunLaunchCommand(const CliOptions& options) {
  const std::string output = options.output.empty() ? DefaultOutputPath(options) : options.output;
  AtomicFile file;
  if (!OpenOutput(output, &file)) return kExitFailed;
  int failed[2];
  if (pipe2(failed, O_CLOEXEC) != 0) {
    LogError(std::string("cannot make a pipe: ") + std::strerror(errno));
    return kExitFailed;
  }
  InstallForwarding();
  const pid_t pid = ForkStoppedCommand(options.command, failed);
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

  // Stopped after its exec: the collector reads its mappings and attaches, then it runs.
  ProfileRequest request = options.request;
  request.pids = {pid};
  bool released = false;
  CollectionHooks hooks;
  hooks.attached = [&] { released = ptrace(PTRACE_DETACH, pid, nullptr, nullptr) == 0; };
  hooks.stop_requested = [pid] { return g_interrupts >= 2 || CommandExited(pid); };
  CollectedProfile collected = CollectProfile(request, hooks);
  const std::string line = CommandLine(options.command);
  if (!released) {  // never attached: the command goes without running
    kill(pid, SIGKILL);
    ptrace(PTRACE_DETACH, pid, nullptr, nullptr);
    WaitFor(pid);
    LogError(collected.error.empty() ? "collection failed" : collected.error);
    LogError("the command was not run: " + line);
    return kExitFailed;
  }
  if (collected.status != CollectedProfile::Status::kOk &&
      collected.status != CollectedProfile::Status::kPartial)
    LogError(collected.error);
  const int status = WaitFor(pid);
  g_command = 0;
  int code = 0;
  std::string ending;
  if (WIFSIGNALED(status)) {
    code = 128 + WTERMSIG(status);
    ending = std::string("was killed by signal ") + std::to_string(WTERMSIG(status)) + " (SIG" +
             sigabbrev_np(WTERMSIG(status)) + ")";
    LogWarning(options.command.front() + " " + ending + "; profd exits " + std::to_string(code));
  } else {
    code = WEXITSTATUS(status);
    ending = "exited with status " + std::to_string(code);
  }
  if (g_interrupts >= 2)
    LogInfo("interrupted after " + Seconds(collected.seconds) + ": writing what was collected");
  if (collected.builder) {
    collected.builder->AddComment("launched by profd: " + line + "; it " + ending + " after " +
                                  Seconds(collected.seconds));
    if (WriteProfile(options, collected.builder.get(), &file, output, std::cerr) != kExitOk)
      LogError("the profile could not be written; the command's status is passed on");
  }
  return code;
}

}  // namespace profd

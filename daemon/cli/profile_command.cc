#include "cli/profile_command.h"

#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <optional>

#include "base/atomic_file.h"
#include "base/log.h"
#include "cli/daemon_client.h"
#include "process/proc_files.h"
#include "process/process_table.h"
#include "profile_builder.h"
#include "profiles/profile_collection.h"
#include "profiles/top_table.h"

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
  if (!options.request.all_processes) {
    target.clear();
    for (pid_t pid : options.request.pids)
      target += (target.empty() ? "" : "_") + std::to_string(pid);
  }
  return DefaultOutputName(options.request.type, target);
}

std::string OutputPath(const CliOptions& options) {
  return options.output.empty() ? DefaultOutputPath(options) : options.output;
}

}  // namespace

int WriteProfileBytes(const CliOptions& options, const std::string& bytes,
                      const perftools::profiles::Profile& profile, AtomicFile* file,
                      const std::string& output, std::ostream& out) {
  std::string error;
  if (!file->Commit(bytes, &error)) {
    LogError(error);
    return kExitFailed;
  }
  out << output << "\n";
  if (!options.quiet && options.top_rows > 0)
    out << FormatTopTable(profile, static_cast<size_t>(options.top_rows));
  return kExitOk;
}

namespace {

// Ctrl-C ends the window; with `show_progress`, a line on stderr says how far it has come:
// "profd: cpu profile<source>, 3.0s / 10s (<ctrl_c>)".
CollectionHooks CommandHooks(ProfileType type, bool show_progress, const char* source,
                             const char* ctrl_c) {
  CollectionHooks hooks;
  hooks.stop_requested = [] { return g_stop_requested != 0; };
  if (show_progress)
    hooks.progress = [type, source, ctrl_c](double elapsed, double total) {
      std::fprintf(stderr, "\rprofd: %s profile%s, %s / %s (%s)  ", ProfileTypeName(type).c_str(),
                   source, Seconds(elapsed).c_str(), Seconds(total).c_str(), ctrl_c);
    };
  return hooks;
}

// Asks a running daemon for the profile (see daemon_client.h). nullopt when none answers: the
// caller profiles in this process. Else the exit code, with the profile written as it would be.
std::optional<int> ProfileFromDaemon(const CliOptions& options, bool show_progress,
                                     AtomicFile* file, const std::string& output) {
  if (options.no_daemon) return std::nullopt;
  const ProfileRequest& request = options.request;
  CollectionHooks hooks =
      CommandHooks(request.type, show_progress, " from the daemon", "Ctrl-C cancels");
  hooks.abandon_when_stopped = true;  // Ctrl-C closes the connection: the daemon drops the request
  DaemonReply reply;
  if (AskDaemon(request, DaemonSocketPath(), hooks, &reply) == ClientResult::kNoDaemon)
    return std::nullopt;
  if (show_progress && request.type != ProfileType::kGoroutine) std::fprintf(stderr, "\n");
  if (reply.status != 200) return ReportDaemonFailure(reply);
  perftools::profiles::Profile profile;
  if (!ParseGzippedProfile(reply.body, &profile)) {
    LogError("the profd daemon on " + reply.socket_path + " sent something that is no profile");
    return kExitFailed;
  }
  if (const int written = WriteProfileBytes(options, reply.body, profile, file, output, std::cout);
      written != kExitOk)
    return written;
  if (reply.outcome != "partial") return kExitOk;
  LogWarning(
      "a target exited, or stopped being yours to profile, before the window ended: the profile "
      "holds what was collected until then (its comments say when)");
  return kExitPartial;
}

// The arguments joined by NUL, as net/http/pprof serves them: to stdout, or to -o FILE.
int WriteCmdline(const CliOptions& options, const std::string& cmdline) {
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

int RunCmdline(const CliOptions& options) {
  if (!options.no_daemon) {
    DaemonReply reply;
    if (AskDaemon(options.request, DaemonSocketPath(), {}, &reply) == ClientResult::kDone)
      return reply.status == 200 ? WriteCmdline(options, reply.body) : ReportDaemonFailure(reply);
  }
  const pid_t pid = options.request.pids.front();
  const std::optional<std::string> cmdline = ReadCmdline(pid);
  if (!cmdline || !ProcessExists(pid)) {
    LogError("no process with pid " + std::to_string(pid));
    return kExitFailed;
  }
  return WriteCmdline(options, *cmdline);
}

}  // namespace

std::string DefaultOutputName(ProfileType type, const std::string& target) {
  char stamp[32];
  const time_t now = time(nullptr);
  struct tm tm;
  localtime_r(&now, &tm);
  strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
  return "profd-" + ProfileTypeName(type) + "-" + target + "-" + stamp + ".pb.gz";
}

bool OpenOutput(const std::string& output, AtomicFile* file) {
  std::string error;
  if (file->Open(output, &error)) return true;
  LogError(error + " (choose another path with -o)");
  return false;
}

int WriteProfile(const CliOptions& options, ProfileBuilder* builder, AtomicFile* file,
                 const std::string& output, std::ostream& out) {
  // The same rules pprof checks on reading: a profile it would reject is a bug of ours.
  if (std::string invalid = CheckValid(builder->profile()); !invalid.empty())
    LogError("internal error: the profile breaks pprof's rules (" + invalid +
             "); it is written anyway, please report this");
  return WriteProfileBytes(options, builder->SerializeGzipped(), builder->profile(), file, output,
                           out);
}

int RunProfileCommand(const CliOptions& options) {
  const ProfileRequest& request = options.request;
  if (request.type == ProfileType::kCmdline) return RunCmdline(options);
  if (request.type == ProfileType::kGoroutine && request.all_processes) {
    LogError("--type goroutine dumps the threads of the processes given with --pid, not --all");
    return kExitUsage;
  }
  const std::string output = OutputPath(options);
  AtomicFile file;
  if (!OpenOutput(output, &file)) return kExitFailed;

  InstallStopHandlers();
  const bool show_progress = !options.quiet && isatty(STDERR_FILENO);
  const CollectionHooks hooks = CommandHooks(request.type, show_progress, "", "Ctrl-C ends early");
  if (std::optional<int> code = ProfileFromDaemon(options, show_progress, &file, output))
    return *code;
  CollectedProfile collected = CollectProfile(request, hooks);
  if (show_progress && request.type != ProfileType::kGoroutine) std::fprintf(stderr, "\n");
  if (collected.stopped_early)
    LogInfo("interrupted after " + Seconds(collected.seconds) + ": writing what was collected");
  switch (collected.status) {
    case CollectedProfile::Status::kStopped:     // not asked for by the CLI
    case CollectedProfile::Status::kBadRequest:  // e.g. a kernel thread's pid: nothing to write
    case CollectedProfile::Status::kFailed:
    case CollectedProfile::Status::kTargetMissing:
      LogError(collected.error);
      return kExitFailed;
    case CollectedProfile::Status::kOk:
    case CollectedProfile::Status::kPartial:
      break;
  }
  if (const int written = WriteProfile(options, collected.builder.get(), &file, output, std::cout);
      written != kExitOk)
    return written;
  return collected.status == CollectedProfile::Status::kPartial ? kExitPartial : kExitOk;
}

}  // namespace profd

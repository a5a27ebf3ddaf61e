#include "profile_command.h"

#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "atomic_file.h"
#include "log.h"
#include "process_table.h"
#include "profile_builder.h"
#include "profile_collection.h"
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
  if (!options.request.all_processes) {
    target.clear();
    for (pid_t pid : options.request.pids)
      target += (target.empty() ? "" : "_") + std::to_string(pid);
  }
  char stamp[32];
  time_t now = time(nullptr);
  struct tm tm;
  localtime_r(&now, &tm);
  strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
  return "profd-" + ProfileTypeName(options.request.type) + "-" + target + "-" + stamp + ".pb.gz";
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

int RunCmdline(const CliOptions& options) {
  const pid_t pid = options.request.pids.front();
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
  CollectionHooks hooks;
  hooks.stop_requested = [] { return g_stop_requested != 0; };
  if (show_progress)
    hooks.progress = [&](double elapsed, double total) {
      std::fprintf(stderr, "\rprofd: %s profile, %s / %s (Ctrl-C ends early)  ",
                   ProfileTypeName(request.type).c_str(), Seconds(elapsed).c_str(),
                   Seconds(total).c_str());
    };
  CollectedProfile collected = CollectProfile(request, hooks);
  if (show_progress && request.type != ProfileType::kGoroutine) std::fprintf(stderr, "\n");
  if (collected.stopped_early)
    LogInfo("interrupted after " + Seconds(collected.seconds) + ": writing what was collected");
  switch (collected.status) {
    case CollectedProfile::Status::kStopped:  // not asked for by the CLI
    case CollectedProfile::Status::kBadRequest:  // e.g. a kernel thread's pid: nothing to write
    case CollectedProfile::Status::kFailed:
    case CollectedProfile::Status::kTargetMissing:
      LogError(collected.error);
      return kExitFailed;
    case CollectedProfile::Status::kOk:
    case CollectedProfile::Status::kPartial:
      break;
  }
  if (const int written = WriteProfile(options, collected.builder.get(), &file, output);
      written != kExitOk)
    return written;
  return collected.status == CollectedProfile::Status::kPartial ? kExitPartial : kExitOk;
}

}  // namespace profd

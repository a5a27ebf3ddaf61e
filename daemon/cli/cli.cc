#include "cli/cli.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <sstream>

#include "units.h"

namespace profd {
namespace {

// A duration in seconds, as config/units.h parses it.
bool ParseSeconds(const std::string& text, double* seconds) {
  std::chrono::nanoseconds duration;
  if (!ParseDuration(text, &duration, nullptr)) return false;
  *seconds = std::chrono::duration<double>(duration).count();
  return true;
}

// What the flags said, as typed, before it is checked and parsed into CliOptions.
struct FlagText {
  std::string pid, type = "cpu", seconds, min_block = "10us", sample_rate = "512KiB",
                   unwind = "dwarf";
  bool daemon = false, list = false, version = false, follow = false, no_follow = false;
};

// Every flag, with its help line, bound to `options` or, where it is checked later, to `text`.
void AddFlags(CLI::App& app, CliOptions* options, FlagText* text) {
  app.add_option("-p,--pid", text->pid, "process id(s) to profile, comma separated");
  app.add_flag("-a,--all", options->request.all_processes, "profile every process on the host");
  app.add_option("-t,--type", text->type, "profile type: " + ProfileTypeList())
      ->capture_default_str();
  app.add_option("-s,--seconds", text->seconds,
                 "length of the window: 30, 1.5, 500ms, 2m (default 30; with a command, until it "
                 "exits)");
  app.add_option("-F,--frequency", options->request.frequency_hz, "cpu: samples per second per CPU")
      ->capture_default_str();
  app.add_option("--min-block", text->min_block,
                 "block: waits shorter than this are not counted (e.g. 10us, 1ms, 0)")
      ->capture_default_str();
  app.add_option("--sample-rate", text->sample_rate,
                 "heap, allocs: mean bytes allocated between samples (e.g. 512KiB, 4096, 1 = "
                 "every allocation)")
      ->capture_default_str();
  app.add_option("--max-overhead", options->request.max_overhead_percent,
                 "heap, allocs: the most of the target's CPU time its allocator probes may cost, "
                 "in percent; above it they are attached in duty-cycled windows (100: always on)")
      ->capture_default_str();
  app.add_option("--unwind", text->unwind,
                 "user stacks: dwarf (unwind tables from .eh_frame, frame pointers where a binary "
                 "has no tables) or fp (frame pointers only)")
      ->capture_default_str();
  app.add_flag("--follow", text->follow,
               "with a command: profile the processes it starts too, and theirs (the default, but "
               "for heap and allocs, whose probes are per process)");
  app.add_flag("--no-follow", text->no_follow, "with a command: profile its first process only");
  app.add_option("-o,--output", options->output,
                 "where to write the profile (default profd-TYPE-TARGET-TIME.pb.gz here)");
  app.add_option("--top", options->top_rows, "rows of the summary table printed (0: none)")
      ->capture_default_str();
  app.add_flag("-q,--quiet", options->quiet,
               "no progress and no summary table, only the file's path");
  app.add_flag("-v,--verbose", options->verbose, "debug logging, including libbpf's");
  app.add_flag("--no-daemon", options->no_daemon,
               "profile in this process even when a profd daemon answers on its socket "
               "($PROFD_SOCKET, default /run/profd/profd.sock)");
  app.add_flag("--bpf-stats", options->request.bpf_stats,
               "report the BPF program's run time per sample (turns on kernel BPF stats while "
               "profiling); cpu: also its time by phase, in the profile's comments");
  app.add_option("--symbolize", options->symbolize_object,
                 "symbolize hex addresses of FILE read from stdin, printed like llvm-symbolizer "
                 "--inlining --obj=FILE");
  app.add_flag("--daemon", text->daemon,
               "run as a service: serve /debug/pprof/... for every process over HTTP");
  app.add_option("--config", options->config_path,
                 "daemon, --list: the YAML configuration (see config/profd.yaml; default: "
                 "built-in)");
  app.add_flag("--list", text->list, "list the profiles the daemon's schedule stored");
  app.add_option("--listen", options->listen,
                 "daemon: HTTP address, e.g. 127.0.0.1:6061 (overrides the configuration)");
  app.add_flag("--version", text->version, "print the version");
  app.add_option("command", options->command,
                 "after --: a command to run and profile from its first instruction to its exit "
                 "(profd exits with its status)");
}

// The profile request the flags describe, checked and parsed into `options`: "" when it is good,
// else what is wrong.
std::string ParseRequest(const FlagText& text, CliOptions* options) {
  const bool launch = !options->command.empty();
  // Several types (a,b,c) in one run of a launched command: one file each.
  std::vector<ProfileType> types;
  for (size_t at = 0; at <= text.type.size();) {
    const size_t comma = std::min(text.type.find(',', at), text.type.size());
    const std::string name = text.type.substr(at, comma - at);
    ProfileType type;
    if (!ParseProfileType(name, &type))
      return "--type: unknown profile type '" + name + "'; the types are " + ProfileTypeList();
    if (std::find(types.begin(), types.end(), type) == types.end()) types.push_back(type);
    at = comma + 1;
  }
  if (types.size() > 1 && !launch)
    return "--type: several types (" + text.type + ") go with a command to run (after --)";
  options->request.type = types.front();
  if (launch) options->launch_types = types;
  if (text.seconds.empty())
    options->request.seconds = launch ? kMaxSeconds : 30;
  else if (!ParseSeconds(text.seconds, &options->request.seconds))
    return "--seconds: '" + text.seconds + "' is not a duration (e.g. 30, 1.5, 500ms, 2m)";
  if (options->request.seconds <= 0)
    return "--seconds: the window must be longer than zero (got " + text.seconds + ")";
  if (options->request.seconds > kMaxSeconds)
    return "--seconds: " + text.seconds +
           " is longer than one day; for continuous profiling run the daemon";
  if (options->request.frequency_hz < 1 || options->request.frequency_hz > kMaxFrequencyHz)
    return "--frequency: " + std::to_string(options->request.frequency_hz) + " Hz is outside 1.." +
           std::to_string(kMaxFrequencyHz);
  if (options->top_rows < 0) return "--top: must be 0 or more";
  if (!ParseSeconds(text.min_block, &options->request.min_block_seconds) ||
      options->request.min_block_seconds < 0 || options->request.min_block_seconds > 60)
    return "--min-block: '" + text.min_block +
           "' is not a duration between 0 and 60s (e.g. 10us, 1ms)";
  if (!ParseByteSize(text.sample_rate, &options->request.sample_rate_bytes, nullptr) ||
      options->request.sample_rate_bytes < 1 || options->request.sample_rate_bytes > (1ull << 40))
    return "--sample-rate: '" + text.sample_rate +
           "' is not a byte count between 1 and 1TiB (e.g. 512KiB, 4096, 1)";
  if (!(options->request.max_overhead_percent > 0 && options->request.max_overhead_percent <= 100))
    return "--max-overhead: " + std::to_string(options->request.max_overhead_percent) +
           " is not a percent in (0, 100]";
  if (text.unwind != "dwarf" && text.unwind != "fp")
    return "--unwind: '" + text.unwind + "' is neither dwarf nor fp";
  options->request.dwarf_unwinding = text.unwind == "dwarf";
  if (launch) {
    if (!text.pid.empty() || options->request.all_processes)
      return "a command to run (after --) excludes --pid and --all";
    bool any_follows = false;  // heap and allocs probe one process; the other types follow
    for (ProfileType type : types) {
      if (!InfoOf(type).has_window)
        return "--type " + ProfileTypeName(type) +
               " is read at one moment; it cannot follow a command from its start to its exit";
      any_follows = any_follows || !InfoOf(type).probes_libraries;
    }
    if (text.follow && !any_follows)
      return "--follow: the " + ProfileTypeName(types.front()) +
             " probes are attached to one process; use --no-follow";
    if (text.follow && text.no_follow) return "--follow and --no-follow exclude each other";
    options->request.follow_forks = !text.no_follow && any_follows;
    options->mode = CliOptions::Mode::kLaunch;
    return "";
  }
  if (text.follow || text.no_follow) return "--follow and --no-follow go with a command (after --)";
  if (text.pid.empty() && !options->request.all_processes)
    return "say what to profile: --pid PID[,PID...] or --all, or a command after --";
  if (!text.pid.empty() && options->request.all_processes)
    return "--pid and --all exclude each other";
  if (!text.pid.empty()) {
    std::string error;
    if (!ParsePidList(text.pid, &options->request.pids, &error)) return error;
  }
  if ((options->request.type == ProfileType::kHeap ||
       options->request.type == ProfileType::kAllocs) &&
      options->request.all_processes)
    return "--type " + ProfileTypeName(options->request.type) +
           " probes the allocator of the processes given with --pid; --all would put a "
           "uprobe on every malloc of the host";
  if (options->request.type == ProfileType::kCmdline && options->request.pids.size() != 1)
    return "--type cmdline takes exactly one --pid";
  return "";
}

}  // namespace

CliOptions ParseCommandLine(int argc, const char* const* argv, std::string* out, std::string* err) {
  CliOptions options;
  FlagText text;
  CLI::App app{
      "profd: a system-wide eBPF sampling profiler. Writes gzipped pprof profiles that `go tool "
      "pprof`, Pyroscope and Parca read.",
      "profd"};
  AddFlags(app, &options, &text);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    *out = app.help();
    options.mode = CliOptions::Mode::kExit;
    return options;
  } catch (const CLI::ParseError& e) {
    *err = std::string("profd: ") + e.what() + "\nRun 'profd --help' for the flags.\n";
    options.mode = CliOptions::Mode::kExit;
    options.exit_code = 2;
    return options;
  }

  auto fail = [&](const std::string& message) {
    *err = "profd: " + message + "\n";
    options.mode = CliOptions::Mode::kExit;
    options.exit_code = 2;
    return options;
  };

  if (text.version) {
    *out = "profd 0.1.0\n";
    options.mode = CliOptions::Mode::kExit;
    return options;
  }
  if (text.daemon) {
    if (!text.pid.empty() || options.request.all_processes || !options.symbolize_object.empty() ||
        !options.command.empty())
      return fail("--daemon takes no --pid, --all, --symbolize or command: clients ask for processes");
    options.mode = CliOptions::Mode::kDaemon;
    return options;
  }
  if (text.list) {
    if (!text.pid.empty() || options.request.all_processes || !options.listen.empty() ||
        !options.command.empty())
      return fail("--list takes only --config");
    options.mode = CliOptions::Mode::kList;
    return options;
  }
  if (!options.config_path.empty() || !options.listen.empty())
    return fail("--config and --listen are for --daemon (and --config for --list)");
  if (!options.symbolize_object.empty()) {
    if (!text.pid.empty() || options.request.all_processes || !options.command.empty())
      return fail("--symbolize takes no --pid, --all or command");
    options.mode = CliOptions::Mode::kSymbolize;
    return options;
  }
  if (std::string wrong = ParseRequest(text, &options); !wrong.empty()) return fail(wrong);
  return options;
}

}  // namespace profd

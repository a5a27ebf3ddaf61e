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

}  // namespace

CliOptions ParseCommandLine(int argc, const char* const* argv, std::string* out, std::string* err) {
  CliOptions options;
  CLI::App app{
      "profd: a system-wide eBPF sampling profiler. Writes gzipped pprof profiles that `go tool "
      "pprof`, "
      "Pyroscope and Parca read.",
      "profd"};
  std::string pid_text, type_text = "cpu", seconds_text = "30";
  app.add_option("-p,--pid", pid_text, "process id(s) to profile, comma separated");
  app.add_flag("-a,--all", options.request.all_processes, "profile every process on the host");
  app.add_option("-t,--type", type_text,
                 "profile type: " + ProfileTypeList())
      ->capture_default_str();
  app.add_option("-s,--seconds", seconds_text, "length of the window: 30, 1.5, 500ms, 2m")
      ->capture_default_str();
  app.add_option("-F,--frequency", options.request.frequency_hz, "cpu: samples per second per CPU")
      ->capture_default_str();
  std::string min_block_text = "10us";
  app.add_option("--min-block", min_block_text,
                 "block: waits shorter than this are not counted (e.g. 10us, 1ms, 0)")
      ->capture_default_str();
  std::string sample_rate_text = "512KiB";
  app.add_option("--sample-rate", sample_rate_text,
                 "heap, allocs: mean bytes allocated between samples (e.g. 512KiB, 4096, 1 = "
                 "every allocation)")
      ->capture_default_str();
  app.add_option("--max-overhead", options.request.max_overhead_percent,
                 "heap, allocs: the most of the target's CPU time its allocator probes may cost, "
                 "in percent; above it they are attached in duty-cycled windows (100: always on)")
      ->capture_default_str();
  std::string unwind_text = "dwarf";
  app.add_option("--unwind", unwind_text,
                 "user stacks: dwarf (unwind tables from .eh_frame, frame pointers where a binary "
                 "has no tables) or fp (frame pointers only)")
      ->capture_default_str();
  app.add_option("-o,--output", options.output,
                 "where to write the profile (default profd-TYPE-TARGET-TIME.pb.gz here)");
  app.add_option("--top", options.top_rows, "rows of the summary table printed (0: none)")
      ->capture_default_str();
  app.add_flag("-q,--quiet", options.quiet,
               "no progress and no summary table, only the file's path");
  app.add_flag("-v,--verbose", options.verbose, "debug logging, including libbpf's");
  app.add_flag("--no-daemon", options.no_daemon,
               "profile in this process even when a profd daemon answers on its socket "
               "($PROFD_SOCKET, default /run/profd/profd.sock)");
  app.add_flag("--bpf-stats", options.request.bpf_stats,
               "report the BPF program's run time per sample (turns on kernel BPF stats while "
               "profiling)");
  app.add_option("--symbolize", options.symbolize_object,
                 "symbolize hex addresses of FILE read from stdin, printed like llvm-symbolizer "
                 "--inlining --obj=FILE");
  bool daemon = false;
  app.add_flag("--daemon", daemon,
               "run as a service: serve /debug/pprof/... for every process over HTTP");
  app.add_option("--config", options.config_path,
                 "daemon, --list: the YAML configuration (see config/profd.yaml; default: "
                 "built-in)");
  bool list = false;
  app.add_flag("--list", list, "list the profiles the daemon's schedule stored");
  app.add_option("--listen", options.listen,
                 "daemon: HTTP address, e.g. 127.0.0.1:6061 (overrides the configuration)");
  bool version = false;
  app.add_flag("--version", version, "print the version");

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

  if (version) {
    *out = "profd 0.1.0\n";
    options.mode = CliOptions::Mode::kExit;
    return options;
  }
  if (daemon) {
    if (!pid_text.empty() || options.request.all_processes || !options.symbolize_object.empty())
      return fail("--daemon takes no --pid, --all or --symbolize: clients ask for processes");
    options.mode = CliOptions::Mode::kDaemon;
    return options;
  }
  if (list) {
    if (!pid_text.empty() || options.request.all_processes || !options.listen.empty())
      return fail("--list takes only --config");
    options.mode = CliOptions::Mode::kList;
    return options;
  }
  if (!options.config_path.empty() || !options.listen.empty())
    return fail("--config and --listen are for --daemon (and --config for --list)");
  if (!options.symbolize_object.empty()) {
    if (!pid_text.empty() || options.request.all_processes)
      return fail("--symbolize takes no --pid or --all");
    options.mode = CliOptions::Mode::kSymbolize;
    return options;
  }
  if (!ParseProfileType(type_text, &options.request.type))
    return fail("--type: unknown profile type '" + type_text +
                "'; the types are " + ProfileTypeList());
  if (!ParseSeconds(seconds_text, &options.request.seconds))
    return fail("--seconds: '" + seconds_text + "' is not a duration (e.g. 30, 1.5, 500ms, 2m)");
  if (options.request.seconds <= 0)
    return fail("--seconds: the window must be longer than zero (got " + seconds_text + ")");
  if (options.request.seconds > kMaxSeconds)
    return fail("--seconds: " + seconds_text +
                " is longer than one day; for continuous profiling run the daemon");
  if (options.request.frequency_hz < 1 || options.request.frequency_hz > kMaxFrequencyHz)
    return fail("--frequency: " + std::to_string(options.request.frequency_hz) +
                " Hz is outside 1.." + std::to_string(kMaxFrequencyHz));
  if (options.top_rows < 0) return fail("--top: must be 0 or more");
  if (!ParseSeconds(min_block_text, &options.request.min_block_seconds) ||
      options.request.min_block_seconds < 0 || options.request.min_block_seconds > 60)
    return fail("--min-block: '" + min_block_text +
                "' is not a duration between 0 and 60s (e.g. 10us, 1ms)");
  if (!ParseByteSize(sample_rate_text, &options.request.sample_rate_bytes, nullptr) ||
      options.request.sample_rate_bytes < 1 || options.request.sample_rate_bytes > (1ull << 40))
    return fail("--sample-rate: '" + sample_rate_text +
                "' is not a byte count between 1 and 1TiB (e.g. 512KiB, 4096, 1)");
  if (!(options.request.max_overhead_percent > 0 && options.request.max_overhead_percent <= 100))
    return fail("--max-overhead: " + std::to_string(options.request.max_overhead_percent) +
                " is not a percent in (0, 100]");
  if (unwind_text != "dwarf" && unwind_text != "fp")
    return fail("--unwind: '" + unwind_text + "' is neither dwarf nor fp");
  options.request.dwarf_unwinding = unwind_text == "dwarf";
  if (pid_text.empty() && !options.request.all_processes)
    return fail("say what to profile: --pid PID[,PID...] or --all");
  if (!pid_text.empty() && options.request.all_processes)
    return fail("--pid and --all exclude each other");
  if (!pid_text.empty()) {
    std::string error;
    if (!ParsePidList(pid_text, &options.request.pids, &error)) return fail(error);
  }
  if ((options.request.type == ProfileType::kHeap ||
       options.request.type == ProfileType::kAllocs) &&
      options.request.all_processes)
    return fail("--type " + ProfileTypeName(options.request.type) +
                " probes the allocator of the processes given with --pid; --all would put a "
                "uprobe on every malloc of the host");
  if (options.request.type == ProfileType::kCmdline && options.request.pids.size() != 1)
    return fail("--type cmdline takes exactly one --pid");
  return options;
}

}  // namespace profd

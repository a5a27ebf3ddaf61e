// profd: the command-line entry point.
#include <sys/resource.h>

#include <iostream>
#include <string>

#include "base/log.h"
#include "cli/cli.h"
#include "cli/launch_command.h"
#include "cli/profile_command.h"
#include "service/daemon_command.h"
#include "symbolize_command.h"

int main(int argc, char** argv) {
  std::string out, err;
  profd::CliOptions options = profd::ParseCommandLine(argc, argv, &out, &err);
  std::cout << out;
  std::cerr << err;
  if (options.mode == profd::CliOptions::Mode::kExit) return options.exit_code;
  if (options.verbose) profd::SetLogLevel(profd::LogLevel::kDebug);
  // The block and mutex profiles hold two descriptors per target thread; the soft limit (often
  // 1024) would stop them at a few hundred threads.
  rlimit files = {};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }
  if (options.mode == profd::CliOptions::Mode::kSymbolize)
    return profd::RunSymbolizeCommand(options.symbolize_object, std::cin, std::cout, std::cerr);
  const profd::DaemonOptions daemon{options.config_path, options.listen};
  if (options.mode == profd::CliOptions::Mode::kDaemon) return profd::RunDaemon(daemon);
  if (options.mode == profd::CliOptions::Mode::kList) return profd::RunList(daemon);
  if (options.mode == profd::CliOptions::Mode::kLaunch) return profd::RunLaunchCommand(options);
  return profd::RunProfileCommand(options);
}

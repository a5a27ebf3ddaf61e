// `profd --daemon`: the service. Serves /debug/pprof for every process over HTTP, tells systemd
// when it is ready (and pings its watchdog), reloads its configuration on SIGHUP and stops on
// SIGTERM or SIGINT within a second.
#ifndef PROFD_DAEMON_SERVICE_DAEMON_COMMAND_H
#define PROFD_DAEMON_SERVICE_DAEMON_COMMAND_H

#include <string>

namespace profd {

// What the command line gives the service; everything else is its configuration.
struct DaemonOptions {
  std::string config_path;  // --config ("" = the built-in defaults)
  std::string listen;       // --listen, over the configuration's
};

int RunDaemon(const DaemonOptions& options);

// `profd --list`: the profiles the schedule stored (in the configuration's store.directory).
int RunList(const DaemonOptions& options);

}  // namespace profd

#endif  // PROFD_DAEMON_SERVICE_DAEMON_COMMAND_H

// `profd --daemon`: the service. Serves /debug/pprof for every process over HTTP, tells systemd
// when it is ready (and pings its watchdog), reloads its configuration on SIGHUP and stops on
// SIGTERM or SIGINT within a second.
#ifndef PROFD_DAEMON_DAEMON_COMMAND_H
#define PROFD_DAEMON_DAEMON_COMMAND_H

#include "cli.h"

namespace profd {

int RunDaemon(const CliOptions& options);

// `profd --list`: the profiles the schedule stored (in the configuration's store.directory).
int RunList(const CliOptions& options);

}  // namespace profd

#endif  // PROFD_DAEMON_DAEMON_COMMAND_H

// The one-shot command: profile the given processes (or the host) for a window and write one
// profile.
#ifndef PROFD_DAEMON_CLI_PROFILE_COMMAND_H
#define PROFD_DAEMON_CLI_PROFILE_COMMAND_H

#include "base/exit_codes.h"
#include "cli/cli.h"

namespace profd {

int RunProfileCommand(const CliOptions& options);

}  // namespace profd

#endif  // PROFD_DAEMON_CLI_PROFILE_COMMAND_H

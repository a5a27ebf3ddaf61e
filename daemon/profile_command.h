// The one-shot command: profile the given processes (or the host) for a window and write one
// profile.
#ifndef PROFD_DAEMON_PROFILE_COMMAND_H
#define PROFD_DAEMON_PROFILE_COMMAND_H

#include "cli.h"

namespace profd {

// Exit codes of the one-shot command.
constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;  // nothing written: environment, privileges, target missing
constexpr int kExitUsage = 2;   // bad command line
// Written, but a target exited (or stopped being the caller's) before the window ended.
constexpr int kExitPartial = 3;

int RunProfileCommand(const CliOptions& options);

}  // namespace profd

#endif  // PROFD_DAEMON_PROFILE_COMMAND_H

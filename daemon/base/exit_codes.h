// The exit codes of every profd command, one-shot or daemon.
#ifndef PROFD_DAEMON_BASE_EXIT_CODES_H
#define PROFD_DAEMON_BASE_EXIT_CODES_H

namespace profd {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;  // nothing written: environment, privileges, target missing
constexpr int kExitUsage = 2;   // bad command line
// Written, but a target exited (or stopped being the caller's) before the window ended.
constexpr int kExitPartial = 3;

}  // namespace profd

#endif  // PROFD_DAEMON_BASE_EXIT_CODES_H

// `profd [options] -- COMMAND ARGS`: runs the command and profiles it from its first instruction to
// its exit, as `perf record -- CMD` does. The command is forked and exec'ed under PTRACE_TRACEME,
// which stops it at its first instruction; profd reads its new mappings, attaches its collector
// and only then lets it run (PTRACE_DETACH), so nothing of it runs unobserved. It keeps profd's standard
// input, output, error, environment and working directory, and profd exits with its status
// (128+N when signal N killed it). profd's own lines (the profile's path, the summary table) go
// to stderr, so the command's output stays its own.
//
// Signals: a Ctrl-C from the terminal reaches the command itself (it is in the terminal's
// foreground process group, as under a shell); a signal sent to profd alone (kill) is passed on to
// the command. A second Ctrl-C stops profiling and writes what was collected; profd then waits for
// the command.
#ifndef PROFD_DAEMON_CLI_LAUNCH_COMMAND_H
#define PROFD_DAEMON_CLI_LAUNCH_COMMAND_H

#include "cli/cli.h"

namespace profd {

int RunLaunchCommand(const CliOptions& options);

}  // namespace profd

#endif  // PROFD_DAEMON_CLI_LAUNCH_COMMAND_H

// The one-shot command: profile the given processes (or the host) for a window and write one
// profile.
#ifndef PROFD_DAEMON_CLI_PROFILE_COMMAND_H
#define PROFD_DAEMON_CLI_PROFILE_COMMAND_H

#include <ostream>
#include <string>

#include "base/atomic_file.h"
#include "base/exit_codes.h"
#include "cli/cli.h"
#include "profile_builder.h"

namespace profd {

int RunProfileCommand(const CliOptions& options);

// What the launch command shares with it (launch_command.h). The default output file name:
// profd-TYPE-TARGET-TIME.pb.gz in the current directory.
std::string DefaultOutputName(ProfileType type, const std::string& target);
// The output file, opened before any
// collecting so an unwritable path fails at once; false (reported) when it cannot be.
bool OpenOutput(const std::string& output, AtomicFile* file);
// Writes `builder`'s profile to `file` (named `output`) and prints, to `out`, the path and the
// summary table.
int WriteProfile(const CliOptions& options, ProfileBuilder* builder, AtomicFile* file,
                 const std::string& output, std::ostream& out);
// Writes the gzipped `bytes` of `profile` to `file` (named `output`) and prints, to `out`, the
// path and the summary table.
int WriteProfileBytes(const CliOptions& options, const std::string& bytes,
                      const perftools::profiles::Profile& profile, AtomicFile* file,
                      const std::string& output, std::ostream& out);

}  // namespace profd

#endif  // PROFD_DAEMON_CLI_PROFILE_COMMAND_H

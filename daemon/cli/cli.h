// The command line: what the user asked for, validated, with a message for everything wrong.
#ifndef PROFD_DAEMON_CLI_CLI_H
#define PROFD_DAEMON_CLI_CLI_H

#include <string>
#include <vector>

#include "profiles/profile_request.h"

namespace profd {

struct CliOptions {
  enum class Mode { kProfile, kLaunch, kSymbolize, kDaemon, kList, kExit };
  Mode mode = Mode::kProfile;
  int exit_code = 0;  // with kExit (help, version, or a usage error already reported)

  ProfileRequest request;
  std::string output;  // "" = profd-<type>-<target>-<time>.pb.gz in the current directory
  int top_rows = 10;   // 0 = no table
  bool quiet = false;  // no progress, no table
  bool verbose = false;
  bool no_daemon = false;        // --no-daemon: never ask a running daemon
  std::string symbolize_object;  // with kSymbolize
  std::string config_path;       // with kDaemon, kList: --config ("" = the built-in defaults)
  std::string listen;            // with kDaemon: --listen, over the configuration's
  std::vector<std::string> command;  // with kLaunch: the command after --, and its arguments
  std::vector<ProfileType> launch_types;  // with kLaunch: --type a,b,c (request.type is the first)
};

// Parses argv. Help/version text goes to `out`; errors (naming the flag and what is allowed) to
// `err`.
CliOptions ParseCommandLine(int argc, const char* const* argv, std::string* out, std::string* err);

}  // namespace profd

#endif  // PROFD_DAEMON_CLI_CLI_H

// The CLI's side of the control socket: `profd --pid ... --type ...` asks the running daemon for
// the profile (GET /debug/pprof/<type>?pid=...&seconds=... over the Unix socket) and, when no
// daemon is there, says so, and the CLI profiles in its own process.
//
// Ctrl-C while waiting closes the connection; the daemon then abandons the request (its handler's
// stop token fires when the client goes away) and nothing is written — unlike profiling in the
// CLI's own process, where Ctrl-C ends the window early and keeps what was collected.
#ifndef PROFD_DAEMON_CLI_DAEMON_CLIENT_H
#define PROFD_DAEMON_CLI_DAEMON_CLIENT_H

#include <string>

#include "base/unique_fd.h"
#include "cli/cli.h"
#include "profiles/profile_collection.h"
#include "profiles/request_query.h"

namespace profd {

enum class ClientResult {
  kNoDaemon,  // nothing answers on the socket: profile in this process
  kDone,      // the daemon was asked: see DaemonReply
};

struct DaemonReply {
  std::string socket_path;
  int status = 0;            // the HTTP status; 0 when the exchange failed (see error)
  std::string body;          // the profile (200), or the daemon's message
  std::string outcome;       // X-Profd-Outcome: "ok", "partial", "not_found", ...; "" without one
  std::string error;         // the exchange failed: cannot connect, connection lost, no answer
  bool interrupted = false;  // hooks.stop_requested fired: the connection was closed unanswered
};

// The socket the CLI asks: $PROFD_SOCKET when set ("" = never ask a daemon), else the daemon's
// default /run/profd/profd.sock.
std::string DaemonSocketPath();


// Asks the daemon on `socket_path` for the profile (or cmdline) `request` describes. kNoDaemon when
// there is no socket there or nothing listens on it (ENOENT, ECONNREFUSED), and for --bpf-stats,
// which measures the CLI's own programs. Else kDone with `reply` filled. While waiting, calls
// hooks.progress about once a second over the window, and polls hooks.stop_requested.
ClientResult AskDaemon(const ProfileRequest& request, const std::string& socket_path,
                       const CollectionHooks& hooks, DaemonReply* reply);

// The two halves of AskDaemon, for a caller that must know a daemon answers before it asks (the
// launch command connects before it starts its command). kNoDaemon as AskDaemon; kDone with
// `connection` open, or with reply->error set.
ClientResult ConnectToDaemon(const std::string& socket_path, UniqueFd* connection,
                             DaemonReply* reply);
// Sends `request` on `connection` and reads the answer into `reply` (whose socket_path
// ConnectToDaemon set). A 102 answer ahead of the final one (the daemon's collector is attached,
// for a launched command) calls hooks.attached. When hooks.stop_requested fires: with
// hooks.abandon_when_stopped the connection is closed unanswered (reply->interrupted), else its
// sending side is shut down, which ends the daemon's window early, and its answer is still read.
void ExchangeWithDaemon(UniqueFd connection, const ProfileRequest& request,
                        const CollectionHooks& hooks, DaemonReply* reply);

// For a reply without a profile (status != 200, or no status): logs what went wrong as the
// one-shot command would have, and returns its exit code: 2 when the daemon refused the request's
// parameters (a 400 not from the collection, e.g. --seconds beyond its limits.max_seconds), else 1.
int ReportDaemonFailure(const DaemonReply& reply);

}  // namespace profd

#endif  // PROFD_DAEMON_CLI_DAEMON_CLIENT_H

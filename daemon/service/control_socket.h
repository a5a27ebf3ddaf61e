// The control socket: `profd --pid ...` asks the running daemon for profiles over a Unix socket,
// in the same HTTP as /debug/pprof and answered by the same handler. Each request carries its
// caller's credentials, so a caller other than root gets only its own processes (see
// PeerMayProfile).
#ifndef PROFD_DAEMON_SERVICE_CONTROL_SOCKET_H
#define PROFD_DAEMON_SERVICE_CONTROL_SOCKET_H

#include <memory>
#include <string>

#include "service/http_server.h"
#include "service/pprof_endpoints.h"

namespace profd {

// Connections served at once on the control socket, a quarter of them per user, with slots kept
// for root and /metrics (DaemonServerOptions); beyond them a caller is answered 503 at once.
// Profile requests also count against limits.max_concurrent_requests, shared with HTTP.
constexpr int kControlSocketConnections = 16;

// Listens on `socket_path` (mode 0666, parent directory made 0755 if missing; a stale file from a
// daemon that died is replaced) and serves `endpoints` there until the server is stopped, which
// removes the file. Null with `error` set when it cannot listen, e.g. when another daemon does.
std::unique_ptr<HttpServer> StartControlSocket(const std::string& socket_path,
                                               PprofEndpoints* endpoints, std::string* error);

}  // namespace profd

#endif  // PROFD_DAEMON_SERVICE_CONTROL_SOCKET_H

#include "service/control_socket.h"

#include <chrono>

namespace profd {

std::unique_ptr<HttpServer> StartControlSocket(const std::string& socket_path,
                                               PprofEndpoints* endpoints, std::string* error) {
  HttpServerOptions options = DaemonServerOptions(kControlSocketConnections);
  options.write_timeout = std::chrono::seconds(60);
  // No bearer token: the socket is local, and the peer's uid decides what it may profile.
  auto server = std::make_unique<HttpServer>(options);
  if (!server->Listen("unix:" + socket_path, error)) return nullptr;
  server->Serve([endpoints](const HttpRequest& request, std::stop_token stop) {
    return endpoints->Handle(request, stop);
  });
  return server;
}

}  // namespace profd

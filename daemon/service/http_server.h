// A small HTTP/1.1 server for the /debug/pprof endpoints: one request per connection (answered
// with Connection: close), a thread per connection up to a limit, strict parsing with size and time
// limits, and an optional bearer token. Handlers may run for a whole profile window: each gets a
// stop token that fires when the server stops or the client goes away. It listens on TCP or on a
// Unix socket (the CLI's control socket), where each request carries the caller's credentials.
#ifndef PROFD_DAEMON_SERVICE_HTTP_SERVER_H
#define PROFD_DAEMON_SERVICE_HTTP_SERVER_H

#include <sys/socket.h>  // ucred
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "base/unique_fd.h"
#include "service/http_message.h"
#include "listen_address.h"

namespace profd {

// Runs on the connection's own thread. A long handler (a profile window) should wait with
// SleepUnlessStopped or poll `stop`: Stop() waits for handlers to return.
using HttpHandler = std::function<HttpResponse(const HttpRequest& request, std::stop_token stop)>;

// Sleeps for `duration` unless `stop` fires first. True when the whole duration passed.
bool SleepUnlessStopped(std::stop_token stop, std::chrono::nanoseconds duration);

struct HttpServerOptions {
  int max_connections = 64;  // beyond it (and the kept slots) a connection is answered 503 at once
  // Of those, the most one user (a uid; the address when it is unknown) may hold; 0: no limit.
  // Root has none.
  int max_connections_per_user = 0;
  int reserved_for_root = 0;  // slots beyond max_connections kept for root
  // Slots beyond max_connections kept for /metrics, one per user at most: a connection admitted to
  // one that asks for anything else is answered 503.
  int reserved_for_metrics = 0;
  std::chrono::milliseconds head_timeout{3000};    // to receive the request line and headers
  std::chrono::milliseconds write_timeout{30000};  // longest a client may leave the response unread
  size_t max_head_bytes = 16 * 1024;               // request line + headers; beyond it 431
  std::string bearer_token;  // when set, requests without "Authorization: Bearer <it>" get 401
};

// The daemon's listeners (HTTP and the control socket): `max_connections`, a quarter of them (at
// least 2) per user, 4 kept for root and 4 for /metrics.
HttpServerOptions DaemonServerOptions(int max_connections);

class HttpServer {
 public:
  struct Stats {
    uint64_t connections = 0;    // accepted and served by a thread
    uint64_t rejected_busy = 0;  // answered 503: max_connections reached
    uint64_t bad_requests = 0;   // malformed, too large, too slow, wrong method
    uint64_t unauthorized = 0;
  };

  explicit HttpServer(HttpServerOptions options = {});
  ~HttpServer();  // Stop()s
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and listens on a TCP address (see ParseListenAddress) or on "unix:/path/to/sock". For a
  // Unix socket the parent directory is made (0755) if missing; a socket file nobody answers on
  // (a crashed daemon's) is replaced, one that answers is an error ("another profd daemon is
  // listening on PATH"); the socket is mode 0666 — whoever connects is told apart by HttpRequest::
  // peer — and removed by Stop(). False with `error` set (naming the address) on failure.
  bool Listen(const std::string& address, std::string* error);

  // Starts serving on the server's own threads and returns at once. Call once, after Listen.
  void Serve(HttpHandler handler);

  // Closes the listening socket, fires every handler's stop token, shuts every connection down and
  // waits for their threads: within a second if the handlers honour the token. Idempotent; not to
  // be called from a handler (it would wait for itself).
  void Stop();

  int port() const { return port_; }  // the bound port (useful after ":0"); 0 on a Unix socket
  bool loopback() const { return loopback_; }  // only this host can connect (a Unix socket too)
  const std::string& unix_path() const { return unix_path_; }  // "" on TCP
  Stats stats() const;

 private:
  struct Connection;
  enum class Slot { kGeneral, kRoot, kMetrics };
  struct Lingering {
    UniqueFd fd;
    std::chrono::steady_clock::time_point deadline;
  };

  void AcceptLoop();
  void AcceptPending();
  // Picks the connection's slot; false with `refusal` (the 503's reason) when none is left.
  bool Admit(Connection* c, std::string* refusal);
  void Reject(UniqueFd fd, const std::string& refusal);
  void ReapFinished();
  void ServeConnection(Connection* connection);
  HttpResponse Dispatch(HttpRequest& request, std::stop_token stop);
  void Wake();
  bool ListenUnix(const std::string& path, std::string* error);

  const HttpServerOptions options_;
  UniqueFd listen_fd_;
  UniqueFd wake_fd_;  // an eventfd: Stop() and finished connections wake the accept loop
  int port_ = 0;
  bool loopback_ = false;
  std::string unix_path_;  // the socket file, removed by Stop() if it is still ours
  dev_t unix_dev_ = 0;
  ino_t unix_ino_ = 0;
  HttpHandler handler_;
  std::thread accept_thread_;
  std::atomic<bool> stopping_{false};
  std::mutex stop_mutex_;  // Stop() from two threads at once

  // Owned by the accept thread while it runs, then by Stop().
  std::vector<std::unique_ptr<Connection>> connections_;
  std::vector<Lingering> lingering_;  // rejected connections, drained briefly before closing
  std::chrono::steady_clock::time_point accept_paused_until_{};
  bool logged_accept_error_ = false;

  std::atomic<uint64_t> stat_connections_{0};
  std::atomic<uint64_t> stat_rejected_busy_{0};
  std::atomic<uint64_t> stat_bad_requests_{0};
  std::atomic<uint64_t> stat_unauthorized_{0};
};

}  // namespace profd

#endif  // PROFD_DAEMON_SERVICE_HTTP_SERVER_H

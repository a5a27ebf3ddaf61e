#include "service/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <condition_variable>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <system_error>

#include "base/log.h"
#include "service/tcp_peer_uid.h"

namespace profd {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kMaxLingering = 256;

// Runs over the whole expected token whatever the guess, so the time taken does not tell an
// attacker how many leading bytes were right.
bool ConstantTimeEquals(std::string_view guess, std::string_view expected) {
  volatile unsigned char diff = guess.size() != expected.size();
  for (size_t i = 0; i < expected.size(); ++i) {
    const unsigned char g = i < guess.size() ? static_cast<unsigned char>(guess[i]) : 0;
    diff = diff | (g ^ static_cast<unsigned char>(expected[i]));
  }
  return diff == 0;
}

// "127.0.0.1:51234", "[::1]:51234"; without the port "127.0.0.1", "::1".
std::string FormatAddress(const sockaddr_storage& addr, bool with_port = true) {
  char host[INET6_ADDRSTRLEN] = "?";
  if (addr.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&addr);
    ::inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
    if (!with_port) return host;
    return std::string(host) + ":" + std::to_string(ntohs(in->sin_port));
  }
  if (addr.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&addr);
    ::inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
    if (!with_port) return host;
    return "[" + std::string(host) + "]:" + std::to_string(ntohs(in6->sin6_port));
  }
  return "?";
}

void NameThisThread(const char* name) { ::pthread_setname_np(::pthread_self(), name); }

constexpr std::string_view kUnixPrefix = "unix:";

// mkdir -p of the directory holding `path`; directories it makes are 0755 whatever the umask, so
// every user can reach a socket inside.
bool MakeParentDirectories(const std::string& path, std::string* error) {
  namespace fs = std::filesystem;
  const fs::path parent = fs::path(path).parent_path();
  fs::path dir;
  for (const fs::path& part : parent) {
    dir /= part;
    std::error_code ec;
    if (fs::create_directory(dir, ec)) {
      fs::permissions(dir, fs::perms(0755), fs::perm_options::replace, ec);
    } else if (ec) {
      *error = "cannot create the directory " + dir.string() + ": " + ec.message();
      return false;
    }
  }
  return true;
}

}  // namespace

bool SleepUnlessStopped(std::stop_token stop, std::chrono::nanoseconds duration) {
  std::mutex mutex;
  std::condition_variable_any cv;
  std::unique_lock lock(mutex);
  cv.wait_for(lock, stop, duration, [] { return false; });
  return !stop.stop_requested();
}

struct HttpServer::Connection {
  UniqueFd fd;
  std::string remote;
  std::optional<ucred> peer;  // SO_PEERCRED, or the uid of a local TCP client's socket
  bool root = false;          // the peer is root
  std::string owner;          // "uid 1000", or the address when the user is unknown
  Slot slot = Slot::kGeneral;
  std::stop_source stop;
  std::thread thread;
  std::atomic<bool> done{false};
  bool hangup_seen = false;  // accept thread only
};

HttpServerOptions DaemonServerOptions(int max_connections) {
  HttpServerOptions options;
  options.max_connections = max_connections;
  options.max_connections_per_user = std::max(2, max_connections / 4);
  options.reserved_for_root = 4;
  options.reserved_for_metrics = 4;
  return options;
}

HttpServer::HttpServer(HttpServerOptions options) : options_(std::move(options)) {}

HttpServer::~HttpServer() { Stop(); }

bool HttpServer::Listen(const std::string& address, std::string* error) {
  if (listen_fd_.valid()) {
    *error = "already listening";
    return false;
  }
  if (address.rfind(kUnixPrefix, 0) == 0)
    return ListenUnix(address.substr(kUnixPrefix.size()), error);
  ListenAddress parsed;
  if (!ParseListenAddress(address, &parsed, error)) return false;

  sockaddr_storage addr{};
  socklen_t addr_len = 0;
  auto set_v6 = [&](const in6_addr& in6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&addr);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(parsed.port);
    a->sin6_addr = in6;
    addr_len = sizeof(sockaddr_in6);
  };
  auto set_v4 = [&](in_addr in) {
    auto* a = reinterpret_cast<sockaddr_in*>(&addr);
    a->sin_family = AF_INET;
    a->sin_port = htons(parsed.port);
    a->sin_addr = in;
    addr_len = sizeof(sockaddr_in);
  };
  if (parsed.host.empty()) {
    set_v6(in6addr_any);  // dual-stack below; IPv4 only where IPv6 is off
  } else if (parsed.host.find(':') != std::string::npos) {
    in6_addr in6;
    ::inet_pton(AF_INET6, parsed.host.c_str(), &in6);
    set_v6(in6);
  } else {
    in_addr in;
    ::inet_pton(AF_INET, parsed.host.c_str(), &in);
    set_v4(in);
  }

  UniqueFd fd(::socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd.valid() && parsed.host.empty() && errno == EAFNOSUPPORT) {
    set_v4(in_addr{htonl(INADDR_ANY)});
    fd = UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  }
  if (!fd.valid()) {
    *error = "cannot listen on " + address + ": socket: " + std::strerror(errno);
    return false;
  }
  const int one = 1, zero = 0;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (addr.ss_family == AF_INET6 && parsed.host.empty()) {
    ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
  }
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), addr_len) != 0 ||
      ::listen(fd.get(), 128) != 0) {
    *error = "cannot listen on " + address + ": " + std::strerror(errno);
    return false;
  }
  sockaddr_storage bound{};
  socklen_t bound_len = sizeof(bound);
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &bound_len);
  port_ = bound.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                                      : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  wake_fd_ = UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake_fd_.valid()) {
    *error = std::string("cannot listen: eventfd: ") + std::strerror(errno);
    return false;
  }
  loopback_ = parsed.loopback;
  listen_fd_ = std::move(fd);
  return true;
}

bool HttpServer::ListenUnix(const std::string& path, std::string* error) {
  const std::string address = std::string(kUnixPrefix) + path;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
    *error = "cannot listen on " + address + ": a Unix socket path has 1 to " +
             std::to_string(sizeof(addr.sun_path) - 1) + " bytes";
    return false;
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  const auto* sa = reinterpret_cast<const sockaddr*>(&addr);
  const auto addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
  if (!MakeParentDirectories(path, error)) {
    *error = "cannot listen on " + address + ": " + *error;
    return false;
  }

  // A socket file left by a daemon that died: nothing answers on it (ECONNREFUSED), so it goes.
  // One that answers belongs to a running daemon, which must keep it.
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      *error = "cannot listen on " + address + ": " + path + " exists and is not a socket";
      return false;
    }
    UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!probe.valid()) {
      *error = "cannot listen on " + address + ": socket: " + std::strerror(errno);
      return false;
    }
    if (::connect(probe.get(), sa, addr_len) == 0 || errno == EAGAIN) {  // EAGAIN: backlog full
      *error = "another profd daemon is listening on " + path;
      return false;
    }
    if (errno != ECONNREFUSED && errno != ENOENT) {
      *error = "cannot listen on " + address + ": cannot tell whether " + path +
               " is in use: " + std::strerror(errno);
      return false;
    }
    if (errno == ECONNREFUSED) {
      if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
        *error = "cannot listen on " + address +
                 ": cannot remove the stale socket file: " + std::strerror(errno);
        return false;
      }
      LogInfo("removed the stale socket file " + path + " (nothing was listening on it)");
    }
  }

  UniqueFd wake(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake.valid()) {
    *error = std::string("cannot listen: eventfd: ") + std::strerror(errno);
    return false;
  }
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd.valid()) {
    *error = "cannot listen on " + address + ": socket: " + std::strerror(errno);
    return false;
  }
  if (::bind(fd.get(), sa, addr_len) != 0) {
    *error = errno == EADDRINUSE ? "another profd daemon is listening on " + path
                                 : "cannot listen on " + address + ": " + std::strerror(errno);
    return false;
  }
  // Anyone may connect: the handler tells callers apart by their credentials (HttpRequest::peer).
  if (::chmod(path.c_str(), 0666) != 0 || ::lstat(path.c_str(), &st) != 0 ||
      ::listen(fd.get(), 128) != 0) {
    *error = "cannot listen on " + address + ": " + std::strerror(errno);
    ::unlink(path.c_str());
    return false;
  }
  unix_path_ = path;
  unix_dev_ = st.st_dev;
  unix_ino_ = st.st_ino;
  port_ = 0;
  loopback_ = true;
  wake_fd_ = std::move(wake);
  listen_fd_ = std::move(fd);
  return true;
}

void HttpServer::Serve(HttpHandler handler) {
  std::lock_guard lock(stop_mutex_);
  if (!listen_fd_.valid() || accept_thread_.joinable() || stopping_) return;
  handler_ = std::move(handler);
  accept_thread_ = std::thread(&HttpServer::AcceptLoop, this);
}

void HttpServer::Stop() {
  std::lock_guard lock(stop_mutex_);
  if (stopping_.exchange(true)) return;
  if (accept_thread_.joinable()) {
    Wake();
    accept_thread_.join();
  }
  listen_fd_.Reset();
  // Removed only while it is still the file this server made: a daemon started since may own
  // the path now.
  struct stat st;
  if (!unix_path_.empty() && ::lstat(unix_path_.c_str(), &st) == 0 && st.st_dev == unix_dev_ &&
      st.st_ino == unix_ino_) {
    ::unlink(unix_path_.c_str());
  }
  lingering_.clear();
  // Every blocking point of a connection thread waits on its socket or on the stop token.
  for (const auto& c : connections_) {
    c->stop.request_stop();
    ::shutdown(c->fd.get(), SHUT_RDWR);
  }
  for (const auto& c : connections_) c->thread.join();
  connections_.clear();
}

HttpServer::Stats HttpServer::stats() const {
  return {stat_connections_.load(), stat_rejected_busy_.load(), stat_bad_requests_.load(),
          stat_unauthorized_.load()};
}

void HttpServer::Wake() {
  const uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(wake_fd_.get(), &one, sizeof(one));
}

void HttpServer::AcceptLoop() {
  NameThisThread("profd-http");
  std::vector<pollfd> fds;
  std::vector<Connection*> polled;
  for (;;) {
    const Clock::time_point now = Clock::now();
    std::erase_if(lingering_, [&](const Lingering& l) { return l.deadline <= now; });
    fds.clear();
    polled.clear();
    fds.push_back({wake_fd_.get(), POLLIN, 0});
    const bool accepting = now >= accept_paused_until_;
    fds.push_back({accepting ? listen_fd_.get() : -1, POLLIN, 0});
    // A client that hangs up (or half-closes, as Go's server reads it) cancels its request.
    for (const auto& c : connections_) {
      if (c->hangup_seen || c->done) continue;
      fds.push_back({c->fd.get(), POLLRDHUP, 0});
      polled.push_back(c.get());
    }
    for (const Lingering& l : lingering_) fds.push_back({l.fd.get(), POLLIN | POLLRDHUP, 0});

    Clock::time_point wake_at = Clock::time_point::max();
    if (!accepting) wake_at = accept_paused_until_;
    for (const Lingering& l : lingering_) wake_at = std::min(wake_at, l.deadline);
    const int timeout = wake_at == Clock::time_point::max() ? -1 : RemainingMs(wake_at) + 1;
    if (::poll(fds.data(), fds.size(), timeout) < 0 && errno != EINTR) {
      LogError(std::string("http: poll: ") + std::strerror(errno));
      return;
    }
    if (fds[0].revents & POLLIN) {
      uint64_t count;
      [[maybe_unused]] const ssize_t n = ::read(wake_fd_.get(), &count, sizeof(count));
    }
    if (stopping_) return;
    for (size_t i = 0; i < polled.size(); ++i) {
      if (fds[2 + i].revents & (POLLRDHUP | POLLHUP | POLLERR)) {
        polled[i]->hangup_seen = true;
        polled[i]->stop.request_stop();
      }
    }
    const size_t first_lingering = 2 + polled.size();
    std::vector<bool> drop(lingering_.size(), false);
    for (size_t i = 0; i < lingering_.size(); ++i) {
      const short revents = fds[first_lingering + i].revents;
      if (revents == 0) continue;
      char buf[4096];
      ssize_t n;
      while ((n = ::recv(lingering_[i].fd.get(), buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
      }
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) ||
          (revents & (POLLHUP | POLLERR | POLLRDHUP))) {
        drop[i] = true;
      }
    }
    for (size_t i = lingering_.size(); i-- > 0;) {
      if (drop[i]) lingering_.erase(lingering_.begin() + static_cast<ptrdiff_t>(i));
    }
    ReapFinished();
    if (fds[1].revents & POLLIN) AcceptPending();
  }
}

void HttpServer::ReapFinished() {
  for (auto it = connections_.begin(); it != connections_.end();) {
    if ((*it)->done) {
      (*it)->thread.join();
      it = connections_.erase(it);
    } else {
      ++it;
    }
  }
}

void HttpServer::AcceptPending() {
  for (int i = 0; i < 64; ++i) {  // then look at the other events again
    sockaddr_storage addr{};
    socklen_t addr_len = sizeof(addr);
    UniqueFd fd(::accept4(listen_fd_.get(), reinterpret_cast<sockaddr*>(&addr), &addr_len,
                          SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (!fd.valid()) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      // Out of descriptors (EMFILE, ENFILE) or memory: back off instead of spinning on poll.
      if (!logged_accept_error_) {
        LogWarning(std::string("http: accept: ") + std::strerror(errno) +
                   "; pausing new connections briefly");
        logged_accept_error_ = true;
      }
      accept_paused_until_ = Clock::now() + std::chrono::milliseconds(100);
      return;
    }
    logged_accept_error_ = false;
    auto connection = std::make_unique<Connection>();
    if (!unix_path_.empty()) {
      // Who is asking decides what may be profiled: without credentials, no request.
      ucred peer{};
      socklen_t peer_len = sizeof(peer);
      if (::getsockopt(fd.get(), SOL_SOCKET, SO_PEERCRED, &peer, &peer_len) != 0) {
        LogWarning(std::string("http: SO_PEERCRED: ") + std::strerror(errno) +
                   "; connection closed");
        continue;
      }
      connection->peer = peer;
      connection->remote =
          "unix:pid=" + std::to_string(peer.pid) + ",uid=" + std::to_string(peer.uid);
    } else {
      connection->remote = FormatAddress(addr);
      // A local client is told apart by the uid owning its socket, as a Unix socket's by its
      // credentials: loopback HTTP must not let any user profile root's processes.
      sockaddr_storage local{};
      socklen_t local_len = sizeof(local);
      if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&local), &local_len) == 0) {
        if (const std::optional<uid_t> uid = TcpPeerUid(local, addr)) {
          connection->peer = ucred{0, *uid, static_cast<gid_t>(-1)};
          connection->remote += " (uid " + std::to_string(*uid) + ")";
        }
      }
    }
    // Limits are per user (per address when the user is unknown), so one user's idle
    // connections cannot shut out the others, nor root, nor a scraper of /metrics.
    connection->root = connection->peer && connection->peer->uid == 0;
    connection->owner = connection->peer ? "uid " + std::to_string(connection->peer->uid)
                                         : FormatAddress(addr, /*with_port=*/false);
    std::string refusal;
    if (!Admit(connection.get(), &refusal)) {
      LogDebug("http: connection from " + connection->remote + " refused: " + refusal);
      Reject(std::move(fd), refusal);
      continue;
    }
    connection->fd = std::move(fd);
    Connection* c = connection.get();
    try {
      connection->thread = std::thread(&HttpServer::ServeConnection, this, c);
    } catch (const std::system_error& e) {
      LogWarning(std::string("http: cannot start a connection thread: ") + e.what());
      Reject(std::move(connection->fd), "cannot serve another connection now");
      continue;
    }
    stat_connections_++;
    connections_.push_back(std::move(connection));
  }
}

bool HttpServer::Admit(Connection* c, std::string* refusal) {
  int general = 0, root = 0, metrics = 0, owner_general = 0, owner_metrics = 0;
  for (const auto& other : connections_) {
    if (other->done) continue;
    const bool same = other->owner == c->owner;
    switch (other->slot) {
      case Slot::kGeneral:
        general++;
        owner_general += same;
        break;
      case Slot::kRoot:
        root++;
        break;
      case Slot::kMetrics:
        metrics++;
        owner_metrics += same;
        break;
    }
  }
  const int per_owner = options_.max_connections_per_user;
  const bool owner_full = !c->root && per_owner > 0 && owner_general >= per_owner;
  if (general < options_.max_connections && !owner_full) {
    c->slot = Slot::kGeneral;
    return true;
  }
  if (c->root && root < options_.reserved_for_root) {
    c->slot = Slot::kRoot;
    return true;
  }
  // One kept slot per user at most, and only for /metrics (checked once the request is read).
  if (metrics < options_.reserved_for_metrics && owner_metrics == 0) {
    c->slot = Slot::kMetrics;
    return true;
  }
  *refusal = owner_full ? "too many connections from " + c->owner + " (at most " +
                              std::to_string(per_owner) + " at once)"
                        : "too many connections (at most " +
                              std::to_string(options_.max_connections) + " at once)";
  return false;
}

// Answers 503 without reading the request: a fresh socket's send buffer is empty, so the short
// answer never blocks the accept loop.
void HttpServer::Reject(UniqueFd fd, const std::string& refusal) {
  stat_rejected_busy_++;
  HttpResponse response = TextResponse(503, "profd: " + refusal + "; try again later");
  response.headers.emplace_back("Retry-After", "1");
  bool valid;
  const std::string out = SerializeResponseHead(response, &valid) + response.body;
  [[maybe_unused]] const ssize_t n =
      ::send(fd.get(), out.data(), out.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  ::shutdown(fd.get(), SHUT_WR);
  if (lingering_.size() < kMaxLingering) {
    lingering_.push_back({std::move(fd), Clock::now() + std::chrono::seconds(1)});
  }
}

void HttpServer::ServeConnection(Connection* c) {
  NameThisThread("profd-http-conn");
  const int fd = c->fd.get();
  std::string head;
  const HeadResult result =
      ReadHead(fd, options_.max_head_bytes, Clock::now() + options_.head_timeout, &head);
  HttpRequest request;
  HttpResponse response;
  bool respond = true;
  bool head_only = false;
  switch (result) {
    case HeadResult::kComplete: {
      int status;
      std::string error;
      if (ParseHttpRequestHead(head, &request, &status, &error)) {
        request.remote_address = c->remote;
        request.peer = c->peer;
        request.send_informational = [this, fd](int status, const auto& headers) {
          return SendInformational(fd, status, headers, options_.write_timeout);
        };
        head_only = request.method == "HEAD";
        if (c->slot == Slot::kMetrics && request.path != "/metrics") {
          stat_rejected_busy_++;
          response = TextResponse(
              503, "profd: too many connections from " + c->owner + " at once; try again later");
          response.headers.emplace_back("Retry-After", "1");
        } else {
          response = Dispatch(request, c->stop.get_token());
        }
      } else {
        stat_bad_requests_++;
        LogDebug("http: bad request from " + c->remote + ": " + error);
        response = TextResponse(
            status, std::to_string(status) + " " + HttpStatusText(status) + ": " + error);
      }
      break;
    }
    case HeadResult::kBareLf:
      stat_bad_requests_++;
      response = TextResponse(400, "400 Bad Request: lines must end in CRLF");
      break;
    case HeadResult::kTooLarge:
      stat_bad_requests_++;
      response = TextResponse(431,
                              "431 Request Header Fields Too Large: the request line and "
                              "headers may take at most " +
                                  std::to_string(options_.max_head_bytes) + " bytes");
      break;
    case HeadResult::kTimeout:
      // Silence for the whole time is an idle connection, not a request: just close it.
      respond = head.find_first_not_of("\r\n") != std::string::npos;
      if (respond) stat_bad_requests_++;
      response = TextResponse(408, "408 Request Timeout");
      break;
    case HeadResult::kClosed:
      respond = false;
      break;
  }
  // Sent even when the client half-closed (its request was cancelled, yet it may still read);
  // after Stop() the socket is shut down and both calls return at once.
  if (respond) SendResponse(fd, response, head_only, options_.write_timeout);
  LingeringClose(fd);
  c->done = true;
  Wake();
}

HttpResponse HttpServer::Dispatch(HttpRequest& request, std::stop_token stop) {
  if (!options_.bearer_token.empty()) {
    if (!ConstantTimeEquals(BearerToken(request), options_.bearer_token)) {
      stat_unauthorized_++;
      LogDebug("http: unauthorized request from " + request.remote_address);
      HttpResponse response = TextResponse(
          401, "401 Unauthorized: this server requires an Authorization: Bearer token");
      response.headers.emplace_back("WWW-Authenticate", "Bearer");
      return response;
    }
    request.token_authenticated = true;
  }
  if (request.method != "GET" && request.method != "HEAD") {
    stat_bad_requests_++;
    HttpResponse response =
        TextResponse(405, "405 Method Not Allowed: only GET and HEAD are served");
    response.headers.emplace_back("Allow", "GET, HEAD");
    return response;
  }
  const Clock::time_point start = Clock::now();
  HttpResponse response;
  try {
    response = handler_(request, std::move(stop));
  } catch (const std::exception& e) {
    LogError("http: the handler of " + request.path + " failed: " + e.what());
    response = TextResponse(500, "500 Internal Server Error");
  }
  const auto elapsed =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
  LogDebug("http: " + request.method + " " + request.target + " from " + request.remote_address +
           ": " + std::to_string(response.status) + " in " + std::to_string(elapsed) + " ms");
  return response;
}

}  // namespace profd

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
#include <ctime>
#include <exception>
#include <system_error>

#include "base/log.h"
#include "service/tcp_peer_uid.h"

namespace profd {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kMaxLingering = 256;
// After the response, how long the client may take to close before we do: closing with unread
// input would reset the connection, and the client could lose the response (RFC 9112 9.6).
constexpr std::chrono::milliseconds kLingerTime{500};

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

bool IsTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || IsDigit(c)) return true;
  return c != '\0' && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

bool IsToken(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), IsTokenChar);
}

// Field values: visible characters, spaces, tabs and obs-text; no other control characters.
bool IsFieldValue(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char ch) {
    const unsigned char c = static_cast<unsigned char>(ch);
    return c == '\t' || (c >= 0x20 && c != 0x7f);
  });
}

std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && ToLower(a) == ToLower(b);
}

std::string_view TrimSpace(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

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

bool ParseQuery(std::string_view query, std::map<std::string, std::string>* out) {
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    std::string key, value;
    if (!PercentDecode(pair.substr(0, eq), true, &key)) return false;
    if (eq != std::string_view::npos && !PercentDecode(pair.substr(eq + 1), true, &value)) {
      return false;
    }
    out->emplace(std::move(key), std::move(value));  // the first of repeated keys, as Go's Get
  }
  return true;
}

std::string HttpDate() {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[tm.tm_wday],
                tm.tm_mday, kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
  return buf;
}

HttpResponse TextResponse(int status, const std::string& message) {
  HttpResponse response;
  response.status = status;
  response.headers = {{"Content-Type", "text/plain; charset=utf-8"},
                      {"X-Content-Type-Options", "nosniff"}};
  response.body = message + "\n";
  return response;
}

// The status line and headers, checked: a handler's header holding CR or LF would let a client
// inject headers of its own (a file name from the query, say), so such a response becomes a 500.
std::string SerializeHead(const HttpResponse& response, bool* valid) {
  *valid = response.status >= 100 && response.status <= 599;
  for (const auto& [name, value] : response.headers) {
    if (!IsToken(name) || !IsFieldValue(value) || value.find('\t') != std::string::npos) {
      *valid = false;
    }
  }
  if (!*valid) return "";
  std::string head = "HTTP/1.1 " + std::to_string(response.status) + " " +
                     HttpStatusText(response.status) + "\r\n";
  for (const auto& [name, value] : response.headers) {
    const std::string lower = ToLower(name);
    if (lower == "content-length" || lower == "connection" || lower == "date" ||
        lower == "transfer-encoding") {
      continue;
    }
    head += name + ": " + value + "\r\n";
  }
  head += "Content-Length: " + std::to_string(response.body.size()) + "\r\n";
  head += "Date: " + HttpDate() + "\r\n";
  head += "Connection: close\r\n\r\n";
  return head;
}

int RemainingMs(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::clamp<int64_t>(left.count(), 0, INT32_MAX));
}

// Sends all of `data` on a non-blocking socket, waiting at most `idle` for each bit of progress.
bool SendAll(int fd, std::string_view data, std::chrono::milliseconds idle) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return false;
    pollfd p{fd, POLLOUT, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(idle.count()));
    if (ready == 0) return false;
    if (ready < 0 && errno != EINTR) return false;
    if (ready > 0 && (p.revents & (POLLERR | POLLHUP | POLLNVAL))) return false;
  }
  return true;
}

void SendResponse(int fd, const HttpResponse& response, bool head_only,
                  std::chrono::milliseconds timeout) {
  bool valid;
  std::string out = SerializeHead(response, &valid);
  if (!valid) {
    LogError("http: a handler's response has an invalid status or header; answering 500");
    const HttpResponse error = TextResponse(500, "invalid response");
    out = SerializeHead(error, &valid);
    if (!head_only) out += error.body;
  } else if (!head_only) {
    out += response.body;
  }
  SendAll(fd, out, timeout);
}

enum class HeadResult { kComplete, kClosed, kTimeout, kTooLarge, kBareLf };

// Reads until the blank line that ends the head. Bytes after it (a body) are left unread.
HeadResult ReadHead(int fd, size_t max_bytes, Clock::time_point deadline, std::string* head) {
  size_t scanned = 0;  // bytes checked for line ends so far
  char buf[4096];
  for (;;) {
    const size_t room = std::min(sizeof(buf), max_bytes - head->size());
    if (room == 0) return HeadResult::kTooLarge;
    const ssize_t n = ::recv(fd, buf, room, 0);
    if (n == 0) return HeadResult::kClosed;
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) return HeadResult::kClosed;
      pollfd p{fd, POLLIN, 0};
      const int ready = ::poll(&p, 1, RemainingMs(deadline));
      if (ready == 0) return HeadResult::kTimeout;
      if (ready < 0 && errno != EINTR) return HeadResult::kClosed;
      continue;
    }
    head->append(buf, static_cast<size_t>(n));
    // Empty lines before the request line are tolerated (RFC 9112 2.2).
    size_t leading = 0;
    while (head->compare(leading, 2, "\r\n") == 0) leading += 2;
    if (leading > 0) {
      head->erase(0, leading);
      scanned = 0;
    }
    // A bare LF fails at once: waiting for a CRLF CRLF that never comes would only time out.
    for (; scanned < head->size(); ++scanned) {
      if ((*head)[scanned] == '\n' && (scanned == 0 || (*head)[scanned - 1] != '\r')) {
        return HeadResult::kBareLf;
      }
    }
    if (const size_t end = head->find("\r\n\r\n"); end != std::string::npos) {
      head->resize(end + 4);
      return HeadResult::kComplete;
    }
  }
}

// Half-closes and waits briefly for the client to close, discarding what it still sends.
void LingeringClose(int fd) {
  ::shutdown(fd, SHUT_WR);
  const Clock::time_point deadline = Clock::now() + kLingerTime;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n == 0) return;
    if (n > 0) continue;
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, RemainingMs(deadline)) <= 0) return;
  }
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
  const size_t last_slash = path.rfind('/');
  if (last_slash == std::string::npos || last_slash == 0) return true;
  for (size_t slash = path.find('/', 1); slash != std::string::npos && slash <= last_slash;
       slash = path.find('/', slash + 1)) {
    const std::string dir = path.substr(0, slash);
    if (::mkdir(dir.c_str(), 0755) == 0) {
      ::chmod(dir.c_str(), 0755);
    } else if (errno != EEXIST) {
      *error = "cannot create the directory " + dir + ": " + std::strerror(errno);
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

HttpResponse PprofErrorResponse(int status, const std::string& message) {
  HttpResponse response = TextResponse(status, message);
  response.headers.emplace_back("X-Go-Pprof", "1");
  return response;
}

const char* HttpStatusText(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 204:
      return "No Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 413:
      return "Content Too Large";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "";
  }
}

bool PercentDecode(std::string_view text, bool plus_is_space, std::string* out) {
  out->clear();
  out->reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size()) return false;
      const int hi = HexValue(text[i + 1]);
      const int lo = HexValue(text[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out->push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out->push_back(' ');
    } else {
      out->push_back(c);
    }
  }
  return true;
}

bool ParseHttpRequestHead(std::string_view head, HttpRequest* request, int* status,
                          std::string* error) {
  *status = 400;
  while (head.substr(0, 2) == "\r\n") head.remove_prefix(2);
  if (head.size() < 4 || head.substr(head.size() - 4) != "\r\n\r\n") {
    *error = "incomplete request head";
    return false;
  }
  head.remove_suffix(2);  // each line, the last included, now ends in CRLF
  std::vector<std::string_view> lines;
  while (!head.empty()) {
    const size_t end = head.find("\r\n");
    lines.push_back(head.substr(0, end));
    head.remove_prefix(end + 2);
  }
  for (std::string_view line : lines) {
    if (line.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos) {
      *error = "stray CR, LF or NUL in the request head";
      return false;
    }
  }

  // request-line = method SP request-target SP HTTP-version, single spaces.
  const std::string_view line = lines[0];
  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    *error = "malformed request line";
    return false;
  }
  const std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (!IsToken(method)) {
    *error = "malformed method";
    return false;
  }
  if (version != "HTTP/1.1" && version != "HTTP/1.0") {
    if (version.size() == 8 && version.substr(0, 5) == "HTTP/" && IsDigit(version[5]) &&
        version[6] == '.' && IsDigit(version[7])) {
      *status = 505;
      *error = "unsupported HTTP version " + std::string(version);
    } else {
      *error = "malformed HTTP version";
    }
    return false;
  }
  if (target.empty() || !std::all_of(target.begin(), target.end(),
                                     [](char c) { return c > 0x20 && c < 0x7f && c != '#'; })) {
    *error = "malformed request target";
    return false;
  }
  request->method = std::string(method);
  request->target = std::string(target);
  // absolute-form ("http://host/path"), which a proxy would send: keep the path.
  for (std::string_view scheme : {"http://", "https://"}) {
    if (target.size() > scheme.size() &&
        EqualsIgnoreCase(target.substr(0, scheme.size()), scheme)) {
      const size_t slash = target.find_first_of("/?", scheme.size());
      target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
      if (target[0] == '?') {
        *error = "malformed request target";
        return false;
      }
    }
  }
  if (target[0] != '/') {
    *error = "malformed request target";
    return false;
  }
  const size_t question = target.find('?');
  if (!PercentDecode(target.substr(0, question), false, &request->path) ||
      request->path.find('\0') != std::string::npos) {
    *error = "malformed escape in the path";
    return false;
  }
  request->query.clear();
  if (question != std::string_view::npos &&
      !ParseQuery(target.substr(question + 1), &request->query)) {
    *error = "malformed escape in the query";
    return false;
  }

  request->headers.clear();
  for (size_t i = 1; i < lines.size(); ++i) {
    const std::string_view field = lines[i];
    if (field.empty()) break;
    if (field[0] == ' ' || field[0] == '\t') {
      *error = "folded header lines are not accepted";
      return false;
    }
    const size_t colon = field.find(':');
    // No space is allowed between the name and the colon (RFC 9112 5.1).
    if (colon == std::string_view::npos || !IsToken(field.substr(0, colon))) {
      *error = "malformed header line";
      return false;
    }
    const std::string name = ToLower(field.substr(0, colon));
    const std::string_view value = TrimSpace(field.substr(colon + 1));
    if (!IsFieldValue(value)) {
      *error = "malformed value of header " + name;
      return false;
    }
    auto [it, inserted] = request->headers.emplace(name, std::string(value));
    if (!inserted) {
      if (name == "host" || name == "content-length" || name == "authorization") {
        *error = "repeated " + name + " header";
        return false;
      }
      it->second += ", " + std::string(value);
    }
  }
  if (version == "HTTP/1.1" && request->headers.count("host") == 0) {
    *error = "missing required Host header";
    return false;
  }
  return true;
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
  const std::string out = SerializeHead(response, &valid) + response.body;
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
    const auto it = request.headers.find("authorization");
    std::string_view token;
    if (it != request.headers.end()) {
      std::string_view value = it->second;
      if (value.size() > 7 && EqualsIgnoreCase(value.substr(0, 7), "bearer ")) {
        token = TrimSpace(value.substr(7));
      }
    }
    if (!ConstantTimeEquals(token, options_.bearer_token)) {
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

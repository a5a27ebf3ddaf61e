#include "service/http_message.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "base/log.h"

namespace profd {
namespace {

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

// After the response, how long the client may take to close before we do: closing with unread
// input would reset the connection, and the client could lose the response (RFC 9112 9.6).
constexpr std::chrono::milliseconds kLingerTime{500};

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

}  // namespace

HttpResponse TextResponse(int status, const std::string& message) {
  HttpResponse response;
  response.status = status;
  response.headers = {{"Content-Type", "text/plain; charset=utf-8"},
                      {"X-Content-Type-Options", "nosniff"}};
  response.body = message + "\n";
  return response;
}

std::string SerializeResponseHead(const HttpResponse& response, bool* valid) {
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


std::string_view BearerToken(const HttpRequest& request) {
  const auto it = request.headers.find("authorization");
  if (it == request.headers.end()) return {};
  const std::string_view value = it->second;
  if (value.size() <= 7 || !EqualsIgnoreCase(value.substr(0, 7), "bearer ")) return {};
  return TrimSpace(value.substr(7));
}

const char* HttpStatusText(int status) {
  switch (status) {
    case 102:
      return "Processing";
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

int RemainingMs(std::chrono::steady_clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  return static_cast<int>(std::clamp<int64_t>(left.count(), 0, INT32_MAX));
}

void SendResponse(int fd, const HttpResponse& response, bool head_only,
                  std::chrono::milliseconds timeout) {
  bool valid;
  std::string out = SerializeResponseHead(response, &valid);
  if (!valid) {
    LogError("http: a handler's response has an invalid status or header; answering 500");
    const HttpResponse error = TextResponse(500, "invalid response");
    out = SerializeResponseHead(error, &valid);
    if (!head_only) out += error.body;
  } else if (!head_only) {
    out += response.body;
  }
  SendAll(fd, out, timeout);
}

bool SendInformational(int fd, int status,
                       const std::vector<std::pair<std::string, std::string>>& headers,
                       std::chrono::milliseconds timeout) {
  if (status < 100 || status > 199) return false;
  std::string head = "HTTP/1.1 " + std::to_string(status) + " " + HttpStatusText(status) + "\r\n";
  for (const auto& [name, value] : headers) {
    if (!IsToken(name) || !IsFieldValue(value) || value.find('\t') != std::string::npos)
      return false;
    head += name + ": " + value + "\r\n";
  }
  return SendAll(fd, head + "\r\n", timeout);
}

HeadResult ReadHead(int fd, size_t max_bytes, std::chrono::steady_clock::time_point deadline,
                    std::string* head) {
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

void LingeringClose(int fd) {
  ::shutdown(fd, SHUT_WR);
  const std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::now() + kLingerTime;
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

}  // namespace profd

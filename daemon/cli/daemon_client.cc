#include "cli/daemon_client.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "base/log.h"
#include "base/unique_fd.h"
#include "cli/profile_command.h"
#include "profiles/request_query.h"
#include "units.h"

namespace profd {
namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kDefaultSocketPath = "/run/profd/profd.sock";
// Beyond the window, how long the daemon may take to symbolize and answer.
constexpr std::chrono::seconds kAnswerGrace{300};
constexpr size_t kMaxHeadBytes = 64 * 1024;

std::string ToLower(std::string text) {
  for (char& c : text)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return text;
}

// The status line and the headers profd needs; false when it is no HTTP response.
bool ParseResponseHead(const std::string& head, int* status, long long* content_length,
                       std::string* outcome) {
  if (head.compare(0, 5, "HTTP/") != 0) return false;
  const size_t space = head.find(' ');
  if (space == std::string::npos || space + 4 > head.size()) return false;
  char* end = nullptr;
  const long code = std::strtol(head.c_str() + space + 1, &end, 10);
  if (end != head.c_str() + space + 4 || code < 100 || code > 599) return false;
  *status = static_cast<int>(code);
  *content_length = -1;
  size_t pos = head.find("\r\n");
  while (pos != std::string::npos && pos + 2 < head.size()) {
    const size_t eol = head.find("\r\n", pos + 2);
    const std::string line = head.substr(pos + 2, eol - pos - 2);
    pos = eol;
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    const std::string name = ToLower(line.substr(0, colon));
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    value.erase(value.find_last_not_of(" \t") + 1);
    if (name == "content-length") {
      const long long length = std::strtoll(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || length < 0) return false;
      *content_length = length;
    } else if (name == "x-profd-outcome") {
      *outcome = value;
    }
  }
  return true;
}

bool SendAll(int fd, const std::string& data) {
  size_t sent = 0;
  while (sent < data.size()) {
    const ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

std::string DaemonSocketPath() {
  const char* env = std::getenv("PROFD_SOCKET");
  return env ? std::string(env) : std::string(kDefaultSocketPath);
}

ClientResult ConnectToDaemon(const std::string& socket_path, UniqueFd* connection,
                             DaemonReply* reply) {
  *reply = DaemonReply();
  reply->socket_path = socket_path;
  if (socket_path.empty()) {
    LogDebug("PROFD_SOCKET is empty: not asking a daemon, profiling in this process");
    return ClientResult::kNoDaemon;
  }
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof(addr.sun_path)) {
    reply->error = "the daemon's socket path " + socket_path + " is longer than a Unix socket's " +
                   std::to_string(sizeof(addr.sun_path) - 1) + " bytes (PROFD_SOCKET)";
    return ClientResult::kDone;
  }
  std::memcpy(addr.sun_path, socket_path.data(), socket_path.size());

  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) {
    reply->error = std::string("socket: ") + std::strerror(errno);
    return ClientResult::kDone;
  }
  // A daemon too busy to accept (its backlog full) must not hang the CLI.
  const timeval connect_timeout{5, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &connect_timeout, sizeof(connect_timeout));
  int result;
  do {
    result = ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
  } while (result != 0 && errno == EINTR);
  if (result != 0) {
    if (errno == ENOENT || errno == ECONNREFUSED || errno == ENOTDIR) {
      LogDebug("no profd daemon on " + socket_path + " (" + std::strerror(errno) +
               "): profiling in this process");
      return ClientResult::kNoDaemon;
    }
    reply->error = "cannot reach the profd daemon on " + socket_path + ": " + std::strerror(errno) +
                   " (--no-daemon profiles without it)";
    return ClientResult::kDone;
  }
  *connection = std::move(fd);
  return ClientResult::kDone;
}

ClientResult AskDaemon(const ProfileRequest& request, const std::string& socket_path,
                       const CollectionHooks& hooks, DaemonReply* reply) {
  if (request.bpf_stats) {
    *reply = DaemonReply();
    LogDebug("--bpf-stats measures this process's own BPF programs: not asking a daemon");
    return ClientResult::kNoDaemon;
  }
  UniqueFd fd;
  const ClientResult result = ConnectToDaemon(socket_path, &fd, reply);
  if (result == ClientResult::kDone && fd.valid())
    ExchangeWithDaemon(std::move(fd), request, hooks, reply);
  return result;
}

void ExchangeWithDaemon(UniqueFd fd, const ProfileRequest& request, const CollectionHooks& hooks,
                        DaemonReply* reply) {
  const std::string& socket_path = reply->socket_path;
  const std::string target = DaemonRequestTarget(request);
  LogDebug("asking the profd daemon on " + socket_path + ": GET " + target);
  if (!SendAll(fd.get(),
               "GET " + target + " HTTP/1.1\r\nHost: localhost\r\nUser-Agent: profd\r\n\r\n")) {
    reply->error = "cannot send the request to the profd daemon on " + socket_path + ": " +
                   std::strerror(errno);
    return;
  }
  ::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) | O_NONBLOCK);

  const double total = InfoOf(request.type).has_window ? WholeSeconds(request.seconds) : 0;
  const Clock::time_point start = Clock::now();
  const Clock::time_point deadline =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(total)) +
      kAnswerGrace;
  Clock::time_point next_progress = start + std::chrono::seconds(1);
  std::string raw;
  bool half_closed = false;
  size_t body_start = std::string::npos;
  long long content_length = -1;
  for (;;) {
    // Closing the connection is how the daemon learns the caller is gone: it abandons the request.
    // Or, when the hooks keep what was collected (a launched command), shutting down its sending
    // side: the daemon then ends the window and still answers.
    if (!half_closed && hooks.stop_requested && hooks.stop_requested()) {
      if (hooks.abandon_when_stopped) {
        reply->interrupted = true;
        return;
      }
      ::shutdown(fd.get(), SHUT_WR);
      half_closed = true;
    }
    const Clock::time_point now = Clock::now();
    if (now >= deadline) {
      reply->error = "no answer from the profd daemon on " + socket_path + " within " +
                     Seconds(std::chrono::duration<double>(now - start).count());
      return;
    }
    if (hooks.progress && total > 0 && raw.empty() && now >= next_progress) {
      hooks.progress(std::min(total, std::chrono::duration<double>(now - start).count()), total);
      next_progress += std::chrono::seconds(1);
    }
    pollfd p{fd.get(), POLLIN, 0};
    if (::poll(&p, 1, 100) < 0 && errno != EINTR) {
      reply->error = std::string("poll: ") + std::strerror(errno);
      return;
    }
    bool closed = false;
    char buffer[65536];
    for (;;) {
      const ssize_t n = ::recv(fd.get(), buffer, sizeof(buffer), 0);
      if (n > 0) {
        raw.append(buffer, static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      closed = n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
      break;
    }
    while (body_start == std::string::npos) {
      const size_t end = raw.find("\r\n\r\n");
      if (end == std::string::npos && raw.size() > kMaxHeadBytes) {
        reply->error = "the profd daemon on " + socket_path + " sent no HTTP response";
        return;
      }
      if (end != std::string::npos) {
        if (!ParseResponseHead(raw.substr(0, end + 2), &reply->status, &content_length,
                               &reply->outcome)) {
          reply->status = 0;
          reply->error = "the profd daemon on " + socket_path + " sent a malformed response";
          return;
        }
        if (reply->status >= 200) {
          body_start = end + 4;
          break;
        }
        // An informational answer ahead of the final one: 102, the collector is attached.
        if (reply->status == 102 && hooks.attached) hooks.attached();
        raw.erase(0, end + 4);
        reply->status = 0;
        reply->outcome.clear();
        continue;
      }
      break;
    }
    const bool complete = body_start != std::string::npos && content_length >= 0 &&
                          raw.size() - body_start >= static_cast<size_t>(content_length);
    if (complete || (closed && body_start != std::string::npos && content_length < 0)) {
      reply->body = raw.substr(body_start,
                               complete ? static_cast<size_t>(content_length) : std::string::npos);
      return;
    }
    if (closed) {
      reply->status = 0;
      reply->error = "the profd daemon on " + socket_path +
                     " closed the connection before it answered (is it stopping?)";
      return;
    }
  }
}

int ReportDaemonFailure(const DaemonReply& reply) {
  if (reply.interrupted) {
    LogInfo(
        "interrupted: the daemon drops the request when its caller goes away, so nothing is "
        "written (with --no-daemon, Ctrl-C ends the window early and keeps what was collected)");
    return kExitFailed;
  }
  if (reply.status == 0) {
    LogError(reply.error);
    return kExitFailed;
  }
  std::string message = reply.body;
  while (!message.empty() && (message.back() == '\n' || message.back() == '\r')) message.pop_back();
  if (message.empty()) message = "HTTP status " + std::to_string(reply.status);
  // The collection's own errors (no such process, privileges, kernel features) and a refusal of
  // another user's process read as they would without the daemon; the daemon's limits say whose.
  const bool about_parameters = reply.status == 400 && reply.outcome.empty();
  if (about_parameters || reply.status == 503) {
    LogError("the profd daemon on " + reply.socket_path + " refused the request: " + message +
             " (--no-daemon profiles without it)");
  } else {
    LogError(message);
  }
  return about_parameters ? kExitUsage : kExitFailed;
}

}  // namespace profd

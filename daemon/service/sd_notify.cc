#include "service/sd_notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "base/unique_fd.h"

namespace profd {
namespace {

bool Fail(std::string* error, const std::string& message) {
  if (error != nullptr) *error = message;
  return false;
}

// Parses a whole string of decimal digits; std::strtoull alone accepts signs and spaces.
bool ParseUnsigned(const char* text, uint64_t* value) {
  if (text == nullptr || *text == '\0') return false;
  uint64_t v = 0;
  for (const char* p = text; *p != '\0'; ++p) {
    if (*p < '0' || *p > '9') return false;
    const uint64_t digit = static_cast<uint64_t>(*p - '0');
    if (v > (UINT64_MAX - digit) / 10) return false;
    v = v * 10 + digit;
  }
  *value = v;
  return true;
}

}  // namespace

bool SdNotify(const std::string& state, std::string* error) {
  const char* socket_env = std::getenv("NOTIFY_SOCKET");
  if (socket_env == nullptr || *socket_env == '\0') return false;
  const std::string name = socket_env;
  if (state.empty()) return Fail(error, "sd_notify: empty state");

  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  socklen_t addr_len;
  if (name[0] == '@') {
    // Abstract: a leading NUL, and the length counts the name's bytes exactly (no terminator).
    if (name.size() > sizeof(addr.sun_path)) {
      return Fail(error, "NOTIFY_SOCKET is too long: " + name);
    }
    std::memcpy(addr.sun_path + 1, name.data() + 1, name.size() - 1);
    addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
  } else if (name[0] == '/') {
    if (name.size() >= sizeof(addr.sun_path)) {
      return Fail(error, "NOTIFY_SOCKET is too long: " + name);
    }
    std::memcpy(addr.sun_path, name.data(), name.size());
    addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size() + 1);
  } else {
    return Fail(error, "NOTIFY_SOCKET is neither a path nor an abstract socket: " + name);
  }

  UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return Fail(error, std::string("sd_notify: socket: ") + std::strerror(errno));
  ssize_t sent;
  do {
    sent = ::sendto(fd.get(), state.data(), state.size(), MSG_NOSIGNAL,
                    reinterpret_cast<const sockaddr*>(&addr), addr_len);
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) {
    return Fail(error, "sd_notify to " + name + ": " + std::strerror(errno));
  }
  if (static_cast<size_t>(sent) != state.size()) {
    return Fail(error, "sd_notify to " + name + ": short send");
  }
  return true;
}

std::optional<std::chrono::microseconds> WatchdogInterval() {
  uint64_t usec = 0;
  if (!ParseUnsigned(std::getenv("WATCHDOG_USEC"), &usec) || usec == 0) return std::nullopt;
  // systemd sets WATCHDOG_PID so a child that inherits the environment does not ping for us.
  if (const char* pid_env = std::getenv("WATCHDOG_PID"); pid_env != nullptr) {
    uint64_t pid = 0;
    if (!ParseUnsigned(pid_env, &pid) || pid != static_cast<uint64_t>(::getpid())) {
      return std::nullopt;
    }
  }
  if (usec > static_cast<uint64_t>(std::chrono::microseconds::max().count())) return std::nullopt;
  return std::chrono::microseconds(static_cast<int64_t>(usec));
}

}  // namespace profd

#include "service/sd_notify.h"

#include <systemd/sd-daemon.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace profd {

bool SdNotify(const std::string& state, std::string* error) {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  if (socket == nullptr || *socket == '\0') return false;  // not started by systemd
  const int sent = sd_notify(/*unset_environment=*/0, state.c_str());
  if (sent > 0) return true;
  if (error != nullptr)
    *error = std::string("sd_notify to ") + socket + ": " +
             (sent < 0 ? std::strerror(-sent) : "not sent");
  return false;
}

std::optional<std::chrono::microseconds> WatchdogInterval() {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(/*unset_environment=*/0, &usec) <= 0 || usec == 0) return std::nullopt;
  if (usec > static_cast<uint64_t>(std::chrono::microseconds::max().count())) return std::nullopt;
  return std::chrono::microseconds(static_cast<int64_t>(usec));
}

}  // namespace profd

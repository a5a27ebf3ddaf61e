// The systemd notify protocol through libsystemd's sd_notify(3) and sd_watchdog_enabled(3): one
// datagram to $NOTIFY_SOCKET. Used for Type=notify readiness, STATUS= lines and watchdog pings.
#ifndef PROFD_DAEMON_SERVICE_SD_NOTIFY_H
#define PROFD_DAEMON_SERVICE_SD_NOTIFY_H

#include <chrono>
#include <optional>
#include <string>

namespace profd {

// Sends `state` ("READY=1", "STATUS=serving 3 requests", "WATCHDOG=1", "STOPPING=1", several
// joined by '\n') to $NOTIFY_SOCKET: a filesystem path, or an abstract socket written with a
// leading '@'. False when the variable is unset (not started by systemd: a no-op), and false with
// `error` set when it is malformed or the send fails.
bool SdNotify(const std::string& state, std::string* error = nullptr);

// The watchdog interval systemd expects pings within ($WATCHDOG_USEC), or nullopt when the
// watchdog is off, the value is malformed, or $WATCHDOG_PID names another process. Ping at half
// of it, as sd_watchdog_enabled(3) advises.
std::optional<std::chrono::microseconds> WatchdogInterval();

}  // namespace profd

#endif  // PROFD_DAEMON_SERVICE_SD_NOTIFY_H

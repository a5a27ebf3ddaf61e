// Leveled logging to stderr. Messages are plain text: no format strings are passed through.
#ifndef PROFD_DAEMON_BASE_LOG_H
#define PROFD_DAEMON_BASE_LOG_H

#include <string>

namespace profd {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
void Log(LogLevel level, const std::string& message);

inline void LogDebug(const std::string& m) { Log(LogLevel::kDebug, m); }
inline void LogInfo(const std::string& m) { Log(LogLevel::kInfo, m); }
inline void LogWarning(const std::string& m) { Log(LogLevel::kWarning, m); }
inline void LogError(const std::string& m) { Log(LogLevel::kError, m); }

}  // namespace profd

#endif  // PROFD_DAEMON_BASE_LOG_H

#include "base/log.h"

#include <cstdio>

namespace profd {
namespace {
LogLevel g_level = LogLevel::kInfo;  // process-wide by nature: there is one stderr
}

void SetLogLevel(LogLevel level) { g_level = level; }
LogLevel GetLogLevel() { return g_level; }

void Log(LogLevel level, const std::string& message) {
  if (level < g_level) return;
  static const char* const kPrefix[] = {"debug: ", "", "warning: ", "error: "};
  std::fprintf(stderr, "profd: %s%s\n", kPrefix[static_cast<int>(level)], message.c_str());
}

}  // namespace profd

// For tests that check profd against a command-line oracle (readelf, objdump, go tool): the
// command's standard output, "" when it cannot start.
#ifndef PROFD_TESTS_RUN_COMMAND_H
#define PROFD_TESTS_RUN_COMMAND_H

#include <cstdio>
#include <memory>
#include <string>

namespace profd {

inline std::string RunCommand(const std::string& command) {
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  if (!pipe) return "";
  std::string out;
  char buffer[1 << 16];
  size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, pipe.get())) > 0) out.append(buffer, n);
  return out;
}

}  // namespace profd

#endif  // PROFD_TESTS_RUN_COMMAND_H

// Names of JIT code from the map a process writes of it: perf's /tmp/perf-PID.map convention, one
// "START SIZE name" line per function, addresses in hex. V8/Node (--perf-basic-prof), the JVM's
// perf-map-agent, .NET (DOTNET_PerfMapEnabled), LuaJIT, Python 3.12 (-X perf) and Wasmtime write it.
#ifndef PROFD_SYMBOLIZER_PERF_MAP_H
#define PROFD_SYMBOLIZER_PERF_MAP_H

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace profd {

class PerfMap {
 public:
  // Bounds on what a process may make profd read.
  static constexpr uint64_t kMaxBytes = 64ull << 20;
  static constexpr size_t kMaxEntries = 2'000'000;

  // Reads the map process `pid` wrote, as that process sees /tmp (inside its mount namespace:
  // /proc/PID/root/tmp/perf-NSPID.map, NSPID being its pid there). Only a regular file owned by
  // the process's own user (or root) counts: anyone can create a file of that name in /tmp, and
  // names planted by another user must not label a victim's profile. `owner`: the process's uid
  // (the owner of /proc/PID), read by the caller. Returns false with `error` set when there is no
  // usable map (most processes have none).
  bool Load(pid_t pid, uid_t owner, std::string* error);
  // Parses map text; lines that do not parse are skipped and counted.
  void Parse(std::string_view text);

  // The name of the function holding `address` ("" when none).
  std::string_view Find(uint64_t address) const;
  size_t size() const { return entries_.size(); }
  uint64_t skipped_lines() const { return skipped_lines_; }

 private:
  struct Entry {
    uint64_t start;
    uint64_t end;
    std::string name;
  };
  std::vector<Entry> entries_;  // sorted by start; a later line wins where ranges overlap
  uint64_t skipped_lines_ = 0;
};

}  // namespace profd

#endif  // PROFD_SYMBOLIZER_PERF_MAP_H

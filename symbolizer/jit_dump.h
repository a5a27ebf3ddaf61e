// Names and source lines of JIT code from a jitdump file (perf's jitdump format,
// tools/perf/Documentation/jitdump-specification.txt): V8/Node (--perf-prof), the JVM
// (libperf-jvmti), LLVM's ORC JIT, Wasmtime and others write jit-PID.dump and map it into the
// process (so perf finds it in its mmap events; profd finds it in /proc/PID/maps). Unlike the
// perf map it has the source lines of each function (JIT_CODE_DEBUG_INFO).
#ifndef PROFD_SYMBOLIZER_JIT_DUMP_H
#define PROFD_SYMBOLIZER_JIT_DUMP_H

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace profd {

// Is `path` named as a jitdump file is: .../jit-DIGITS.dump.
bool IsJitDumpPath(std::string_view path);

class JitDump {
 public:
  // Bounds on what a process may make profd hold and read: functions, source lines, a name's
  // length, all names and file names together (as the perf map's 64 MiB), and records read.
  static constexpr size_t kMaxFunctions = 2'000'000;
  static constexpr size_t kMaxLines = 1'000'000;
  static constexpr size_t kMaxNameBytes = 4096;
  static constexpr size_t kMaxTextBytes = 64 << 20;
  static constexpr size_t kMaxRecords = 8'000'000;

  // Reads the jitdump at `path` as process `pid` sees it (resolved inside `root`, its
  // /proc/PID/root). Only a regular file owned by `owner` (the process's uid) or root counts,
  // as for the perf map. Returns false with `error` set when the file is unusable.
  bool Load(const std::string& root, const std::string& path, uid_t owner, std::string* error);

  // Reads `size` bytes at `offset` into `out`; returns how many it could (fewer at the end).
  using Reader = std::function<size_t(uint64_t offset, void* out, size_t size)>;
  // Parses a dump of `file_size` bytes read through `read`. Records after a malformed one are
  // not read (a writer may be mid-record at the end); what came before is kept.
  void Parse(const Reader& read, uint64_t file_size);

  struct Symbol {
    std::string_view function;  // "" when no function holds the address
    std::string_view file;      // "" without debug info
    uint32_t line = 0;
  };
  Symbol Find(uint64_t address) const;

  size_t size() const { return functions_.size(); }
  // Why reading stopped early ("" when the whole file was read).
  const std::string& stopped() const { return stopped_; }

 private:
  struct Line {
    uint64_t address;
    uint32_t file;  // index into files_
    uint32_t line;
  };
  struct Function {
    uint64_t start;
    uint64_t end;
    std::string name;
    size_t first_line;  // its lines are lines_[first_line, last_line), sorted by address
    size_t last_line;
  };
  std::vector<Function> functions_;  // sorted by start; the later record wins at one start
  std::vector<Line> lines_;
  std::vector<std::string> files_;
  std::string stopped_;
};

}  // namespace profd

#endif  // PROFD_SYMBOLIZER_JIT_DUMP_H

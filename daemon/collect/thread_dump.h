// The goroutine (thread dump) profile for native processes: every thread's current user and kernel
// stack. Each thread is stopped with ptrace just long enough to read its registers and copy the top
// of its stack, then released; the stack is unwound afterwards from the copy, with the same unwind
// tables and rules as the BPF unwinder. The kernel releases a thread by itself if profd dies
// meanwhile.
#ifndef PROFD_DAEMON_COLLECT_THREAD_DUMP_H
#define PROFD_DAEMON_COLLECT_THREAD_DUMP_H

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "collect/stack_samples.h"
#include "process/process_table.h"
#include "profd_abi.h"
#include "symbolizer.h"

namespace profd {

struct ThreadDump {
  StackSamples samples;              // one sample per thread, value 1
  std::vector<double> pause_micros;  // how long each thread was stopped
  std::vector<std::string> errors;   // threads that could not be read, and why
};

// Adds every thread of `process` (already observed in a ProcessTable) to `dump`. `kernel` resolves
// the names /proc/PID/task/TID/stack prints to addresses. Returns the threads added.
size_t DumpThreads(const ProcessInfo& process, const KernelSymbolizer& kernel, bool dwarf_unwinding,
                   ThreadDump* dump);

// The user-space twin of bpf/unwind_user.bpf.h: unwinds from registers over a copy of the stack.
class UserStackUnwinder {
 public:
  explicit UserStackUnwinder(const ProcessInfo* process) : process_(process) {}

  struct StackCopy {
    uint64_t base = 0;  // address of bytes[0]
    std::vector<uint8_t> bytes;
  };
  // Leaf first; `truncated` is set when PROFD_MAX_FRAMES was reached with more to go.
  std::vector<uint64_t> Unwind(uint64_t ip, uint64_t sp, uint64_t bp, const StackCopy& stack,
                               bool dwarf, bool* truncated);

 private:
  struct FileRows {
    bool usable = false;
    std::vector<profd_unwind_row> rows;
  };
  const FileRows& RowsOf(const MappedFile& file);
  // The mapping's runtime - ELF address difference, read once per mapping; false when unknown.
  bool BiasOf(const Mapping& mapping, uint64_t* bias);
  bool Read(const StackCopy& stack, uint64_t address, uint64_t* value) const;

  const ProcessInfo* process_;
  std::map<const MappedFile*, FileRows> rows_;
  std::map<const Mapping*, std::pair<bool, uint64_t>> biases_;
};

}  // namespace profd

#endif  // PROFD_DAEMON_COLLECT_THREAD_DUMP_H

// The goroutine (thread dump) profile for native processes: every thread's current user and kernel
// stack. Each thread is stopped with ptrace just long enough to read its registers and copy the top
// of its stack (and, in a CPython process, its Python frames), then released; the stack is unwound
// afterwards from the copy, with the same unwind tables and rules as the BPF unwinder, and its
// Python frames put in place of the eval frames as the BPF walk does. The kernel releases a thread
// by itself if profd dies meanwhile.
#ifndef PROFD_DAEMON_COLLECT_THREAD_DUMP_H
#define PROFD_DAEMON_COLLECT_THREAD_DUMP_H

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "collect/stack_samples.h"
#include "process/process_table.h"
#include "profd_abi.h"
#include "stack_walker.h"
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

// Unwinds copied stacks of one process in user space with the BPF unwinder's own step
// (bpf/unwind_step.h through StackWalker): tables where `dwarf`, frame pointers elsewhere.
class UserStackUnwinder {
 public:
  UserStackUnwinder(const ProcessInfo* process, bool dwarf);

  struct StackCopy {
    uint64_t base = 0;  // address of bytes[0]
    std::vector<uint8_t> bytes;
  };
  // Leaf first; `truncated` is set when PROFD_MAX_FRAMES was reached with more to go.
  std::vector<uint64_t> Unwind(uint64_t ip, uint64_t sp, uint64_t bp, const StackCopy& stack,
                               bool* truncated);

 private:
  bool Read(const StackCopy& stack, uint64_t address, void* dst, size_t size) const;

  const ProcessInfo* process_;
  StackWalker walker_;
  std::unique_ptr<profd_process_unwind> mappings_;  // as LoadedUnwindTables publishes them to BPF
};

}  // namespace profd

#endif  // PROFD_DAEMON_COLLECT_THREAD_DUMP_H

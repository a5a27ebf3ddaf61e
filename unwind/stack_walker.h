// Walks user stacks in user space with bpf/unwind_step.h, the step the BPF unwinder runs, so a
// stack copied out of a stopped thread (the goroutine profile) unwinds by exactly the BPF rules.
#ifndef PROFD_UNWIND_STACK_WALKER_H
#define PROFD_UNWIND_STACK_WALKER_H

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "profd_abi.h"

namespace profd {

class StackWalker {
 public:
  // Copies `size` bytes of the target's memory at `address` to `dst`; false when unreadable.
  using ReadMemory = std::function<bool(uint64_t address, void* dst, size_t size)>;

  // Keeps `rows` (sorted by pc, as BuildTableFor gives them) and returns the id a mapping names
  // them by in profd_unwind_mapping::table_id; never 0, which means frame pointers.
  uint64_t AddTable(std::vector<profd_unwind_row> rows);

  // The frames from the registers (ip, sp, bp) of a thread, leaf first, through the executable
  // mappings of `process` (sorted by start) as the BPF unwinder walks them. `truncated` is set
  // when PROFD_MAX_FRAMES was reached with more to go.
  std::vector<uint64_t> Walk(const profd_process_unwind& process, uint64_t ip, uint64_t sp,
                             uint64_t bp, const ReadMemory& read, bool* truncated);

  // How often each PROFD_COUNTER_UNWIND_* event happened in the walks so far.
  uint64_t count(uint32_t counter) const { return counter < counts_.size() ? counts_[counter] : 0; }

 private:
  std::vector<std::vector<profd_unwind_row>> tables_;  // by id - 1
  std::array<uint64_t, PROFD_COUNTER_MAX> counts_{};
};

}  // namespace profd

#endif  // PROFD_UNWIND_STACK_WALKER_H

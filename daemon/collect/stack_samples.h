// Stack samples as drained from the kernel maps, before symbolization: the currency between every
// collector (cpu now; block, mutex, heap later) and the ProfileAssembler.
#ifndef PROFD_DAEMON_COLLECT_STACK_SAMPLES_H
#define PROFD_DAEMON_COLLECT_STACK_SAMPLES_H

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace profd {

struct StackTrace {
  std::vector<uint64_t> ips;  // leaf first
  bool truncated = false;     // outer frames are missing
};

struct StackSample {
  uint32_t pid = 0;
  uint32_t tid = 0;
  std::string thread_comm;
  uint64_t user_stack_id = 0;  // 0: none
  uint64_t kernel_stack_id = 0;
  std::vector<int64_t> values;  // one per sample type of the profile
};

struct DropCounter {
  std::string name;  // e.g. "counts map full"
  uint64_t count = 0;
};

struct StackSamples {
  std::vector<StackSample> samples;
  std::unordered_map<uint64_t, StackTrace> stacks;  // by stack id
  uint64_t events = 0;                              // samples taken in the kernel
  std::vector<DropCounter> drops;                   // only the non-zero ones
};

}  // namespace profd

#endif  // PROFD_DAEMON_COLLECT_STACK_SAMPLES_H

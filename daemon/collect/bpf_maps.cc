#include "collect/bpf_maps.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

namespace profd {

bool ReadStack(int stacks_map_fd, uint64_t id, StackTrace* trace) {
  struct profd_stack stack;
  if (bpf_map_lookup_elem(stacks_map_fd, &id, &stack) != 0) return false;
  const uint32_t len = stack.len < PROFD_MAX_FRAMES ? stack.len : PROFD_MAX_FRAMES;
  trace->ips.assign(stack.ips, stack.ips + len);
  trace->truncated = stack.flags & PROFD_STACK_TRUNCATED;
  return true;
}

std::array<uint64_t, PROFD_COUNTER_MAX> ReadCounters(int counters_map_fd) {
  std::array<uint64_t, PROFD_COUNTER_MAX> totals{};
  const int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) return totals;
  std::vector<uint64_t> per_cpu(cpus);
  for (uint32_t id = 0; id < PROFD_COUNTER_MAX; id++) {
    if (bpf_map_lookup_elem(counters_map_fd, &id, per_cpu.data()) != 0) continue;
    for (uint64_t v : per_cpu) totals[id] += v;
  }
  return totals;
}

namespace {

// A switch rather than a table, so that a counter added to profd_abi.h without a name fails to
// build.
const char* CounterName(profd_counter counter) {
  switch (counter) {
    case PROFD_COUNTER_SAMPLES:
      return "samples";
    case PROFD_COUNTER_COUNTS_MAP_FULL:
      return "samples dropped: counts map full";
    case PROFD_COUNTER_COUNTS_STORE_FAILED:
      return "samples dropped: kernel could not store a new key";
    case PROFD_COUNTER_STACKS_MAP_FULL:
      return "stacks dropped: stacks map full";
    case PROFD_COUNTER_STACKS_STORE_FAILED:
      return "stacks dropped: kernel could not store a new stack";
    case PROFD_COUNTER_STACK_HASH_COLLISION:
      return "stacks dropped: hash collision with another stack";
    case PROFD_COUNTER_USER_STACK_FAILED:
      return "user stacks that could not be read";
    case PROFD_COUNTER_KERNEL_STACK_FAILED:
      return "kernel stacks that could not be read";
    case PROFD_COUNTER_STACK_TRUNCATED:
      return "stacks truncated at 127 frames";
    case PROFD_COUNTER_UNWIND_NO_MAPPING:
      return "frames outside known mappings (frame pointers used)";
    case PROFD_COUNTER_UNWIND_NO_ROW:
      return "frames without unwind rows (leaf: return address at sp; else frame pointers)";
    case PROFD_COUNTER_UNWIND_TABLE_MISSING:
      return "frames whose unwind table was not loaded (frame pointers used)";
    case PROFD_COUNTER_UNWIND_READ_FAILED:
      return "user stacks ended by an unreadable address";
    case PROFD_COUNTER_LIVE_MAP_FULL:
      return "sampled blocks not tracked: live map full (in-use values too low)";
    case PROFD_COUNTER_LIVE_STORE_FAILED:
      return "sampled blocks not tracked: kernel could not store them (in-use values too low)";
    case PROFD_COUNTER_PYTHON_NO_THREAD:
      return "Python samples whose thread state was not found (interpreter frames shown)";
    case PROFD_COUNTER_PYTHON_READ_FAILED:
      return "Python frame chains ended by an unreadable frame";
    case PROFD_COUNTER_PYTHON_TRUNCATED:
      return "Python stacks truncated at 64 Python frames";
    case PROFD_COUNTER_PYTHON_CODE_DROPPED:
      return "new Python code objects not queued for reading (queue full)";
    case PROFD_COUNTER_MAX:
      break;
  }
  return "?";
}

}  // namespace

void ReportCounters(const std::array<uint64_t, PROFD_COUNTER_MAX>& counters,
                    StackSamples* samples) {
  samples->events = counters[PROFD_COUNTER_SAMPLES];
  samples->drops.clear();
  for (int id = PROFD_COUNTER_SAMPLES + 1; id < PROFD_COUNTER_MAX; id++)
    if (counters[id])
      samples->drops.push_back({CounterName(static_cast<profd_counter>(id)), counters[id]});
}

}  // namespace profd

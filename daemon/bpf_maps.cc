#include "bpf_maps.h"

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

void ReportCounters(const std::array<uint64_t, PROFD_COUNTER_MAX>& counters,
                    StackSamples* samples) {
  static const char* const kNames[PROFD_COUNTER_MAX] = {
      "samples",
      "samples dropped: counts map full",
      "samples dropped: kernel could not store a new key",
      "stacks dropped: stacks map full",
      "stacks dropped: kernel could not store a new stack",
      "user stacks that could not be read",
      "kernel stacks that could not be read",
      "stacks truncated at 127 frames",
  };
  samples->events = counters[PROFD_COUNTER_SAMPLES];
  samples->drops.clear();
  for (int id = 1; id < PROFD_COUNTER_MAX; id++)
    if (counters[id]) samples->drops.push_back({kNames[id], counters[id]});
}

}  // namespace profd

// Reading profd's shared BPF maps (stacks, counters) from userspace; every collector drains through
// these.
#ifndef PROFD_DAEMON_COLLECT_BPF_MAPS_H
#define PROFD_DAEMON_COLLECT_BPF_MAPS_H

#include <array>
#include <cstdint>
#include <vector>

#include "collect/stack_samples.h"
#include "profd_abi.h"

namespace profd {

// Reads stack `id` from the `stacks` map; false when it is not there.
bool ReadStack(int stacks_map_fd, uint64_t id, StackTrace* trace);

// Sums the per-CPU `counters` array.
std::array<uint64_t, PROFD_COUNTER_MAX> ReadCounters(int counters_map_fd);

// Fills samples.events and samples.drops from summed counters.
void ReportCounters(const std::array<uint64_t, PROFD_COUNTER_MAX>& counters, StackSamples* samples);

// Every key of a hash map (iterated with get_next_key; fine at the sizes profd uses).
template <typename Key>
std::vector<Key> ReadMapKeys(int map_fd);

}  // namespace profd

#include <bpf/bpf.h>

namespace profd {
template <typename Key>
std::vector<Key> ReadMapKeys(int map_fd) {
  std::vector<Key> keys;
  Key key{}, next{};
  const void* previous = nullptr;
  while (bpf_map_get_next_key(map_fd, previous, &next) == 0) {
    keys.push_back(next);
    key = next;
    previous = &key;
  }
  return keys;
}
}  // namespace profd

#endif  // PROFD_DAEMON_COLLECT_BPF_MAPS_H

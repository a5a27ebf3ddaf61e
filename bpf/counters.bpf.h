/* Per-CPU event and drop counters (ids in profd_abi.h), summed by the daemon. */
#ifndef PROFD_BPF_COUNTERS_BPF_H
#define PROFD_BPF_COUNTERS_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "profd_abi.h"

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, PROFD_COUNTER_MAX);
  __type(key, __u32);
  __type(value, __u64);
} counters SEC(".maps");

static __always_inline void profd_count(__u32 counter) {
  __u64 *value = bpf_map_lookup_elem(&counters, &counter);
  if (value) *value += 1; /* per-CPU: no atomics needed */
}

#endif /* PROFD_BPF_COUNTERS_BPF_H */

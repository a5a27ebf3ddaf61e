/* Waits measured from their start to their end, by thread: the block and mutex profiles both capture
 * the waiter's stacks when it starts waiting and add the time waited to them when it stops. */
#ifndef PROFD_BPF_WAIT_TRACKING_BPF_H
#define PROFD_BPF_WAIT_TRACKING_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "counters.bpf.h"
#include "profd_abi.h"
#include "sample_counts.bpf.h"
#include "stack_capture.bpf.h"

struct profd_wait {
  __u64 since_nanos;
  __u64 user_stack_id;
  __u64 kernel_stack_id;
};

/* Threads waiting now: where and since when. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 65536);
  __type(key, __u32); /* tid */
  __type(value, struct profd_wait);
} waits SEC(".maps");

/* The current thread `tid` starts waiting: its stacks are captured now, while it is `current`. */
static __always_inline void profd_wait_begin(void *ctx, __u32 tid, bool with_kernel_stack) {
  profd_count(PROFD_COUNTER_SAMPLES);
  struct profd_wait w = {
      .since_nanos = bpf_ktime_get_ns(),
      .user_stack_id = profd_capture_stack(ctx, 1),
      .kernel_stack_id = with_kernel_stack ? profd_capture_stack(ctx, 0) : 0,
  };
  if (bpf_map_update_elem(&waits, &tid, &w, BPF_ANY) != 0)
    profd_count(PROFD_COUNTER_COUNTS_STORE_FAILED);
}

/* Thread `key->tid` stops waiting: the time since it began (if at least min_nanos) is added to its
 * stacks. The caller fills key's pid, tid and thread name. */
static __always_inline void profd_wait_end(struct profd_sample_key *key, __u64 min_nanos) {
  __u32 tid = key->tid;
  struct profd_wait *w = bpf_map_lookup_elem(&waits, &tid);
  if (!w) return;
  const __u64 waited = bpf_ktime_get_ns() - w->since_nanos;
  key->user_stack_id = w->user_stack_id;
  key->kernel_stack_id = w->kernel_stack_id;
  bpf_map_delete_elem(&waits, &tid);
  if (waited >= min_nanos) profd_add_sample(key, waited);
}

#endif /* PROFD_BPF_WAIT_TRACKING_BPF_H */

// SPDX-License-Identifier: GPL-2.0
/* Block (off-CPU) profile: on every context switch, a target thread that gives up the CPU voluntarily
 * (it sleeps, waits for I/O, a futex, poll…) has its stacks captured and its start time noted; when it
 * is switched back in, the time it spent off the CPU is added to those stacks' key. Preemption while
 * runnable is not blocking and is not counted. */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "process_events.bpf.h"
#include "profd_abi.h"
#include "sample_counts.bpf.h"
#include "stack_capture.bpf.h"

/* Waits shorter than this are not counted (--min-block). */
const volatile __u64 min_block_nanos = 0;

/* Threads off the CPU now: where and since when they blocked. */
struct blocked_thread {
  __u64 since_nanos;
  __u64 user_stack_id;
  __u64 kernel_stack_id;
};

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 65536);
  __type(key, __u32); /* tid */
  __type(value, struct blocked_thread);
} blocked SEC(".maps");

SEC("raw_tp/sched_switch")
int profd_sched_switch(struct bpf_raw_tracepoint_args *ctx) {
  /* TP_PROTO(bool preempt, struct task_struct *prev, struct task_struct *next, unsigned int prev_state) */
  const bool preempt = ctx->args[0];
  struct task_struct *prev = (struct task_struct *)ctx->args[1];
  struct task_struct *next = (struct task_struct *)ctx->args[2];
  const unsigned int prev_state = ctx->args[3];
  const __u64 now = bpf_ktime_get_ns();

  /* prev is still `current` here, so its own stacks are what gets captured. The cheap tests first:
   * this runs on every context switch of the host. */
  if (!preempt && prev_state != 0 /* TASK_RUNNING */ &&
      profd_is_target(BPF_CORE_READ(prev, tgid))) {
    __u32 prev_tid = BPF_CORE_READ(prev, pid);
    profd_count(PROFD_COUNTER_SAMPLES);
    struct blocked_thread b = {
        .since_nanos = now,
        .user_stack_id = profd_capture_stack(ctx, 1),
        .kernel_stack_id = profd_capture_stack(ctx, 0),
    };
    if (prev_tid != 0 && bpf_map_update_elem(&blocked, &prev_tid, &b, BPF_ANY) != 0)
      profd_count(PROFD_COUNTER_COUNTS_STORE_FAILED);
  }

  const __u32 next_pid = BPF_CORE_READ(next, tgid);
  if (!profd_is_target(next_pid)) return 0;
  __u32 next_tid = BPF_CORE_READ(next, pid);
  struct blocked_thread *b = bpf_map_lookup_elem(&blocked, &next_tid);
  if (!b) return 0;
  const __u64 waited = now - b->since_nanos;
  struct profd_sample_key key = {};
  key.pid = next_pid;
  key.tid = next_tid;
  key.user_stack_id = b->user_stack_id;
  key.kernel_stack_id = b->kernel_stack_id;
  bpf_map_delete_elem(&blocked, &next_tid);
  if (waited < min_block_nanos) return 0;
  BPF_CORE_READ_STR_INTO(&key.thread_comm, next, comm);
  profd_add_sample(&key, waited);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";

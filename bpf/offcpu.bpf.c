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
#include "wait_tracking.bpf.h"

/* Waits shorter than this are not counted (--min-block). */
const volatile __u64 min_block_nanos = 0;

SEC("raw_tp/sched_switch")
int profd_sched_switch(struct bpf_raw_tracepoint_args *ctx) {
  /* TP_PROTO(bool preempt, struct task_struct *prev, struct task_struct *next, unsigned int prev_state) */
  const bool preempt = ctx->args[0];
  struct task_struct *prev = (struct task_struct *)ctx->args[1];
  struct task_struct *next = (struct task_struct *)ctx->args[2];
  const unsigned int prev_state = ctx->args[3];

  /* prev is still `current` here, so its own stacks are what gets captured. The cheap tests first:
   * this runs on every context switch of the host. */
  if (!preempt && prev_state != 0 /* TASK_RUNNING */ && profd_is_target(BPF_CORE_READ(prev, tgid))) {
    __u32 prev_tid = BPF_CORE_READ(prev, pid);
    if (prev_tid != 0) profd_wait_begin(ctx, prev_tid, true);
  }

  const __u32 next_pid = BPF_CORE_READ(next, tgid);
  if (!profd_is_target(next_pid)) return 0;
  struct profd_sample_key key = {};
  key.pid = next_pid;
  key.tid = BPF_CORE_READ(next, pid);
  BPF_CORE_READ_STR_INTO(&key.thread_comm, next, comm);
  profd_wait_end(&key, min_block_nanos);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";

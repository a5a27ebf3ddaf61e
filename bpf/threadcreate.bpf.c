// SPDX-License-Identifier: GPL-2.0
/* threadcreate profile: every thread a target process creates, counted at the creating thread's stack.
 * task_newtask fires in the creator's context while it is in clone(), so its own stacks are captured;
 * only clones that make a thread (CLONE_THREAD) count, not new processes. */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

/* A Python thread's clone shows the Python function that starts the thread. */
#define PROFD_PYTHON_FRAMES 1

#include "process_events.bpf.h"
#include "profd_abi.h"
#include "sample_counts.bpf.h"
#include "stack_capture.bpf.h"

#define PROFD_CLONE_THREAD 0x00010000

SEC("raw_tp/task_newtask")
int profd_task_newtask(struct bpf_raw_tracepoint_args *ctx) {
  /* TP_PROTO(struct task_struct *task, unsigned long clone_flags) */
  const unsigned long clone_flags = ctx->args[1];
  if (!(clone_flags & PROFD_CLONE_THREAD)) return 0;
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  __u32 pid = pid_tgid >> 32;
  if (!profd_is_target(pid)) return 0;

  profd_count(PROFD_COUNTER_SAMPLES);
  struct profd_sample_key key = {};
  key.pid = pid;
  key.tid = (__u32)pid_tgid;
  key.user_stack_id = profd_capture_stack(ctx, 1);
  key.kernel_stack_id = profd_capture_stack(ctx, 0);
  bpf_get_current_comm(key.thread_comm, sizeof(key.thread_comm));
  profd_add_sample(&key, 1);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";

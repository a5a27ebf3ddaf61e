// SPDX-License-Identifier: GPL-2.0
/* Block (off-CPU) profile: a target thread that gives up the CPU voluntarily (it sleeps, waits for I/O,
 * a futex, poll…) has its user and kernel stacks captured; the time it then spends off the CPU is added
 * to those stacks' key (switch_out.bpf.h). Preemption while runnable is not blocking and is not counted. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

/* A Python thread's wait shows the Python function that waits. */
#define PROFD_PYTHON_FRAMES 1

#include "process_events.bpf.h"
#include "profd_abi.h"
#include "switch_out.bpf.h"

SEC("perf_event")
int profd_block_switch_out(struct bpf_perf_event_data *ctx) {
  struct task_struct *task = bpf_get_current_task_btf();
  profd_switch_out(ctx, task, profd_switches_out_to_wait(task), true);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";

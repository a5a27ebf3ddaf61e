// SPDX-License-Identifier: GPL-2.0
/* mutex profile: time threads wait on contended user-space locks. An uncontended pthread mutex never
 * leaves user space; a contended one sleeps in futex(FUTEX_WAIT) (or FUTEX_LOCK_PI for PI mutexes), so
 * a voluntary switch-out inside one of those calls is exactly the contended path, and nothing else is
 * probed. Condition variables and semaphores wait with FUTEX_WAIT_BITSET and are not lock contention:
 * they are left to the block profile. The wait is measured as switch_out.bpf.h measures it. */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

/* A Python thread's lock wait shows the Python function that waits. */
#define PROFD_PYTHON_FRAMES 1

#include "process_events.bpf.h"
#include "profd_abi.h"
#include "switch_out.bpf.h"

#define PROFD_NR_FUTEX 202 /* x86_64 */
#define PROFD_FUTEX_WAIT 0
#define PROFD_FUTEX_LOCK_PI 6
#define PROFD_FUTEX_LOCK_PI2 13
#define PROFD_FUTEX_CMD_MASK (~(128 | 256)) /* without FUTEX_PRIVATE_FLAG and FUTEX_CLOCK_REALTIME */

/* True when `task` sleeps in a futex lock wait: the syscall number and arguments it entered the kernel
 * with are in its saved user registers. */
static __always_inline bool profd_waits_on_lock(struct task_struct *task) {
  struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
  if (BPF_CORE_READ(regs, orig_ax) != PROFD_NR_FUTEX) return false;
  const int cmd = (int)BPF_CORE_READ(regs, si) & PROFD_FUTEX_CMD_MASK;
  return cmd == PROFD_FUTEX_WAIT || cmd == PROFD_FUTEX_LOCK_PI || cmd == PROFD_FUTEX_LOCK_PI2;
}

SEC("perf_event")
int profd_mutex_switch_out(struct bpf_perf_event_data *ctx) {
  struct task_struct *task = bpf_get_current_task_btf();
  /* The kernel stack is always the futex wait path: no information, not captured. */
  profd_switch_out(ctx, task, profd_switches_out_to_wait(task) && profd_waits_on_lock(task), false);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";

// SPDX-License-Identifier: GPL-2.0
/* mutex profile: time threads wait on contended user-space locks. An uncontended pthread mutex never
 * leaves user space; a contended one waits in futex(FUTEX_WAIT) (or FUTEX_LOCK_PI for PI mutexes), so
 * the futex syscall tracepoints see exactly the contended path and nothing else. Condition variables
 * and semaphores wait with FUTEX_WAIT_BITSET and are not lock contention: they are left to the block
 * profile. The waiter's stacks are captured on entry, the wait is measured to the syscall's exit. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "process_events.bpf.h"
#include "profd_abi.h"
#include "sample_counts.bpf.h"
#include "wait_tracking.bpf.h"

#define PROFD_FUTEX_WAIT 0
#define PROFD_FUTEX_LOCK_PI 6
#define PROFD_FUTEX_LOCK_PI2 13
#define PROFD_FUTEX_CMD_MASK (~(128 | 256)) /* without FUTEX_PRIVATE_FLAG and FUTEX_CLOCK_REALTIME */

SEC("tp/syscalls/sys_enter_futex")
int profd_futex_enter(struct trace_event_raw_sys_enter *ctx) {
  const int cmd = (int)ctx->args[1] & PROFD_FUTEX_CMD_MASK;
  if (cmd != PROFD_FUTEX_WAIT && cmd != PROFD_FUTEX_LOCK_PI && cmd != PROFD_FUTEX_LOCK_PI2) return 0;
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  if (!profd_is_target(pid_tgid >> 32)) return 0;

  /* The kernel stack is always the futex wait path: no information, not captured. */
  profd_wait_begin(ctx, (__u32)pid_tgid, false);
  return 0;
}

SEC("tp/syscalls/sys_exit_futex")
int profd_futex_exit(struct trace_event_raw_sys_exit *ctx) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  if (!profd_is_target(pid_tgid >> 32)) return 0;
  struct profd_sample_key key = {};
  key.pid = pid_tgid >> 32;
  key.tid = (__u32)pid_tgid;
  bpf_get_current_comm(key.thread_comm, sizeof(key.thread_comm));
  profd_wait_end(&key, 0);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";

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
#include "stack_capture.bpf.h"

#define PROFD_FUTEX_WAIT 0
#define PROFD_FUTEX_LOCK_PI 6
#define PROFD_FUTEX_LOCK_PI2 13
#define PROFD_FUTEX_CMD_MASK (~(128 | 256)) /* without FUTEX_PRIVATE_FLAG and FUTEX_CLOCK_REALTIME */

struct lock_waiter {
  __u64 since_nanos;
  __u64 user_stack_id;
  __u64 kernel_stack_id;
};

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 65536);
  __type(key, __u32); /* tid */
  __type(value, struct lock_waiter);
} waiting SEC(".maps");

SEC("tp/syscalls/sys_enter_futex")
int profd_futex_enter(struct trace_event_raw_sys_enter *ctx) {
  const int cmd = (int)ctx->args[1] & PROFD_FUTEX_CMD_MASK;
  if (cmd != PROFD_FUTEX_WAIT && cmd != PROFD_FUTEX_LOCK_PI && cmd != PROFD_FUTEX_LOCK_PI2) return 0;
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  if (!profd_is_target(pid_tgid >> 32)) return 0;

  profd_count(PROFD_COUNTER_SAMPLES);
  __u32 tid = (__u32)pid_tgid;
  struct lock_waiter w = {
      .since_nanos = bpf_ktime_get_ns(),
      .user_stack_id = profd_capture_stack(ctx, 1),
      .kernel_stack_id = 0, /* always the futex wait path: no information */
  };
  if (bpf_map_update_elem(&waiting, &tid, &w, BPF_ANY) != 0)
    profd_count(PROFD_COUNTER_COUNTS_STORE_FAILED);
  return 0;
}

SEC("tp/syscalls/sys_exit_futex")
int profd_futex_exit(struct trace_event_raw_sys_exit *ctx) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  __u32 tid = (__u32)pid_tgid;
  struct lock_waiter *w = bpf_map_lookup_elem(&waiting, &tid);
  if (!w) return 0;
  struct profd_sample_key key = {};
  key.pid = pid_tgid >> 32;
  key.tid = tid;
  key.user_stack_id = w->user_stack_id;
  key.kernel_stack_id = w->kernel_stack_id;
  const __u64 waited = bpf_ktime_get_ns() - w->since_nanos;
  bpf_map_delete_elem(&waiting, &tid);
  bpf_get_current_comm(key.thread_comm, sizeof(key.thread_comm));
  profd_add_sample(&key, waited);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";

/* Process lifecycle events the daemon must act on: an exec replaces a process's mappings (re-read them,
 * reload unwind tables), an exit releases its tables. Raw tracepoints need no tracefs. The daemon takes
 * and deletes what it reads, so the map holds only what is new. */
#ifndef PROFD_BPF_PROCESS_EVENTS_BPF_H
#define PROFD_BPF_PROCESS_EVENTS_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include <bpf/bpf_core_read.h>

#include "profd_abi.h"
#include "sample_counts.bpf.h"

/* Set by the daemon before load (a launched command's --follow): a process a target forks is a
 * target from its first instruction, and so are its own children; an exited one leaves the
 * targets (its pid may be reused by anyone's process). Threads are not processes. */
const volatile bool follow_forks = false;

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 8192);
  __type(key, __u32);  /* tgid */
  __type(value, __u8); /* enum profd_process_event, the latest */
} process_events SEC(".maps");

static __always_inline void profd_note_process_event(__u8 event) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  __u32 pid = pid_tgid >> 32;
  bpf_map_update_elem(&process_events, &pid, &event, BPF_ANY);
}

SEC("raw_tp/sched_process_exec")
int profd_on_exec(void *ctx) {
  __u32 pid = bpf_get_current_pid_tgid() >> 32;
  /* Following, an exec is news of a target only (the daemon takes every new one for a target). */
  if (follow_forks && !bpf_map_lookup_elem(&target_pids, &pid)) return 0;
  profd_note_process_event(PROFD_PROCESS_EXEC);
  return 0;
}

SEC("raw_tp/sched_process_exit")
int profd_on_exit(void *ctx) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  /* Threads exit too; the process is gone when its leader is. */
  __u32 pid = pid_tgid >> 32;
  if ((__u32)pid_tgid != pid) return 0;
  profd_note_process_event(PROFD_PROCESS_EXIT);
  if (follow_forks) bpf_map_delete_elem(&target_pids, &pid);
  return 0;
}

SEC("raw_tp/sched_process_fork")
int profd_on_fork(struct bpf_raw_tracepoint_args *ctx) {
  if (!follow_forks) return 0;
  struct task_struct *child = (struct task_struct *)ctx->args[1];
  __u32 child_pid = BPF_CORE_READ(child, tgid);
  if (BPF_CORE_READ(child, pid) != child_pid) return 0;
  __u32 parent = bpf_get_current_pid_tgid() >> 32; /* the forking task runs the tracepoint */
  if (!bpf_map_lookup_elem(&target_pids, &parent)) return 0;
  __u8 one = 1;
  __u8 event = PROFD_PROCESS_FORK;
  bpf_map_update_elem(&target_pids, &child_pid, &one, BPF_ANY);
  bpf_map_update_elem(&process_events, &child_pid, &event, BPF_ANY);
  return 0;
}

#endif /* PROFD_BPF_PROCESS_EVENTS_BPF_H */

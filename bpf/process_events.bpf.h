/* Process lifecycle events the daemon must act on: an exec replaces a process's mappings (re-read them,
 * reload unwind tables), an exit releases its tables. Raw tracepoints need no tracefs. The daemon takes
 * and deletes what it reads, so the map holds only what is new. */
#ifndef PROFD_BPF_PROCESS_EVENTS_BPF_H
#define PROFD_BPF_PROCESS_EVENTS_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "profd_abi.h"

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
  profd_note_process_event(PROFD_PROCESS_EXEC);
  return 0;
}

SEC("raw_tp/sched_process_exit")
int profd_on_exit(void *ctx) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  /* Threads exit too; the process is gone when its leader is. */
  if ((__u32)pid_tgid == pid_tgid >> 32) profd_note_process_event(PROFD_PROCESS_EXIT);
  return 0;
}

#endif /* PROFD_BPF_PROCESS_EVENTS_BPF_H */

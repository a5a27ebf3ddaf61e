// SPDX-License-Identifier: GPL-2.0
/* CPU profile: a perf_event CPU-clock sampler on every CPU. Each sample of a target thread counts its
 * (pid, tid, user stack, kernel stack, thread name) key in the `counts` map; nothing is streamed per sample. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "profd_abi.h"
#include "counters.bpf.h"
#include "process_events.bpf.h"
#include "stack_capture.bpf.h"

/* Set by the daemon before load: false = profile every process (--all). */
const volatile bool filter_pids = true;

/* Target processes (tgid → 1), when filter_pids. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1024);
  __type(key, __u32);
  __type(value, __u8);
} target_pids SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 65536);
  __type(key, struct profd_sample_key);
  __type(value, __u64);
} counts SEC(".maps");

/* Processes with new stacks (tgid → 1), written on the rare path that adds a new counts key, so the
 * daemon finds new processes without walking the counts map; it deletes what it has read. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 32768);
  __type(key, __u32);
  __type(value, __u8);
} sampled_pids SEC(".maps");

SEC("perf_event")
int profd_cpu_sample(struct bpf_perf_event_data *ctx) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  __u32 pid = pid_tgid >> 32;
  __u32 tid = (__u32)pid_tgid;
  if (tid == 0) return 0; /* the idle task is no process */
  if (filter_pids && !bpf_map_lookup_elem(&target_pids, &pid)) return 0;

  profd_count(PROFD_COUNTER_SAMPLES);
  struct profd_sample_key key = {};
  key.pid = pid;
  key.tid = tid;
  key.user_stack_id = profd_capture_stack(ctx, 1);
  key.kernel_stack_id = profd_capture_stack(ctx, 0);
  bpf_get_current_comm(key.thread_comm, sizeof(key.thread_comm));

  __u64 *count = bpf_map_lookup_elem(&counts, &key);
  if (count) {
    __sync_fetch_and_add(count, 1);
    return 0;
  }
  __u64 one = 1;
  __u8 seen = 1;
  bpf_map_update_elem(&sampled_pids, &pid, &seen, BPF_ANY);
  long err = bpf_map_update_elem(&counts, &key, &one, BPF_NOEXIST);
  if (err == -EEXIST) { /* another CPU inserted it meanwhile */
    count = bpf_map_lookup_elem(&counts, &key);
    if (count) __sync_fetch_and_add(count, 1);
  } else if (err != 0) {
    profd_count(err == -E2BIG ? PROFD_COUNTER_COUNTS_MAP_FULL : PROFD_COUNTER_COUNTS_STORE_FAILED);
  }
  return 0;
}

char LICENSE[] SEC("license") = "GPL";

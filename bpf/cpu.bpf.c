// SPDX-License-Identifier: GPL-2.0
/* CPU profile: a perf_event CPU-clock sampler on every CPU. Each sample of a target thread adds one
 * period of CPU time to its (pid, tid, stacks, thread name) key. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "process_events.bpf.h"
#include "profd_abi.h"
#include "sample_counts.bpf.h"
#include "stack_capture.bpf.h"

/* Nanoseconds of CPU time one sample stands for (the perf event's fixed period). */
const volatile __u64 period_nanos = 10101010;

SEC("perf_event")
int profd_cpu_sample(struct bpf_perf_event_data *ctx) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  __u32 pid = pid_tgid >> 32;
  __u32 tid = (__u32)pid_tgid;
  if (tid == 0) return 0; /* the idle task is no process */
  if (!profd_is_target(pid)) return 0;

  profd_count(PROFD_COUNTER_SAMPLES);
  struct profd_sample_key key = {};
  key.pid = pid;
  key.tid = tid;
  key.user_stack_id = profd_capture_stack(ctx, 1);
  key.kernel_stack_id = profd_capture_stack(ctx, 0);
  bpf_get_current_comm(key.thread_comm, sizeof(key.thread_comm));
  profd_add_sample(&key, period_nanos);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";

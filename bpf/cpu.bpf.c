// SPDX-License-Identifier: GPL-2.0
/* CPU profile: a perf_event CPU-clock sampler on every CPU. Each sample of a target thread adds the
 * CPU time since its CPU's previous sample to its (pid, tid, stacks, thread name) key. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "profd_abi.h"

/* With `profd --bpf-stats`: each sample's BPF time by phase (profd_phase), for the cost benchmarks.
 * Off (the default), the verifier drops the marks. */
const volatile bool phase_timing = false;

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, PROFD_PHASE_MAX);
  __type(key, __u32);
  __type(value, __u64);
} phase_nanos SEC(".maps");

static __always_inline void profd_phase_mark(__u32 phase) {
  if (!phase_timing) return;
  __u32 last_key = PROFD_PHASE_LAST_MARK;
  __u64 *last = bpf_map_lookup_elem(&phase_nanos, &last_key);
  __u64 *sum = bpf_map_lookup_elem(&phase_nanos, &phase);
  if (!last || !sum) return;
  const __u64 now = bpf_ktime_get_ns();
  if (phase != PROFD_PHASE_LAST_MARK) *sum += now - *last;
  *last = now;
}
#define PROFD_PHASE(phase) profd_phase_mark(phase)

/* The CPU profile shows Python functions in place of the interpreter's eval frames. */
#define PROFD_PYTHON_FRAMES 1

#include "process_events.bpf.h"
#include "sample_counts.bpf.h"
#include "stack_capture.bpf.h"

/* The nominal period in nanoseconds (1e9/Hz). The daemon varies each CPU's period around it, so that
 * a workload periodic near the sampling rate does not alias with it, and says which in
 * `cpu_periods`; a sample stands for its CPU's period in effect. */
const volatile __u64 period_nanos = 10101010;

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1); /* the number of possible CPUs, set at load */
  __type(key, __u32);
  __type(value, struct profd_cpu_period);
} cpu_periods SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u64);
} last_sample_ns SEC(".maps");

/* The CPU time the sample taken now stands for: the period in effect, plus, after a change of
 * period, the part of the previous one the change cut off (its timer restarted). Not the time since
 * the previous sample: a tick the hypervisor delayed would count time the CPU did not run the task.
 * Run at every sample, the idle task's included. */
static __always_inline __u64 profd_sample_weight(void) {
  __u32 zero = 0, cpu = bpf_get_smp_processor_id();
  const struct profd_cpu_period *set = bpf_map_lookup_elem(&cpu_periods, &cpu);
  __u64 weight = set && set->period_ns ? set->period_ns : period_nanos;
  __u64 *last = bpf_map_lookup_elem(&last_sample_ns, &zero);
  if (!last) return weight;
  const __u64 now = bpf_ktime_get_ns();
  if (set && *last && set->restarted_ns > *last && set->restarted_ns <= now) {
    const __u64 cut = set->restarted_ns - *last;
    /* More than a period: the events were detached between two windows. */
    if (cut <= weight + weight / 2) weight += cut;
  }
  *last = now;
  return weight;
}

SEC("perf_event")
int profd_cpu_sample(struct bpf_perf_event_data *ctx) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  __u32 pid = pid_tgid >> 32;
  __u32 tid = (__u32)pid_tgid;
  const __u64 weight = profd_sample_weight();
  if (tid == 0) return 0; /* the idle task is no process */
  if (!profd_is_target(pid)) return 0;

  profd_count(PROFD_COUNTER_SAMPLES);
  profd_phase_mark(PROFD_PHASE_LAST_MARK); /* the phases start here */
  struct profd_sample_key key = {};
  key.pid = pid;
  key.tid = tid;
  key.user_stack_id = profd_capture_stack(ctx, 1);
  PROFD_PHASE(PROFD_PHASE_USER_STORE);
  /* Interrupted in user mode (cs's privilege level 3): there is no kernel stack, bpf_get_stack
   * would only find that out at a cost of its own. */
  const bool user_mode = (ctx->regs.csx & 3) != 0;
  key.kernel_stack_id = user_mode ? 0 : profd_capture_stack(ctx, 0);
  PROFD_PHASE(PROFD_PHASE_KERNEL_STORE);
  bpf_get_current_comm(key.thread_comm, sizeof(key.thread_comm));
  profd_add_sample(&key, weight);
  PROFD_PHASE(PROFD_PHASE_COUNT);
  if (phase_timing) {
    __u32 samples_key = PROFD_PHASE_SAMPLES;
    __u64 *samples = bpf_map_lookup_elem(&phase_nanos, &samples_key);
    if (samples) *samples += 1;
  }
  return 0;
}

char LICENSE[] SEC("license") = "GPL";

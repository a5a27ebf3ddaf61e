/* Waits measured at switch-outs only, shared by the block and mutex profiles. Their programs run on a
 * PERF_COUNT_SW_CONTEXT_SWITCHES software event that the daemon opens on each target thread (inherited
 * by the threads it creates), so the kernel runs them only when a target thread leaves a CPU: the rest
 * of the host pays nothing, where a sched_switch tracepoint would run a program on every switch of
 * every process.
 *
 * With no program at switch-in, a wait is charged at the thread's *next* switch-out: the time since the
 * wait began, less the CPU time the thread has used since (sum_exec_runtime, brought up to date by the
 * scheduler before the switch). That is the time it was off the CPU, including its wait for a CPU once
 * woken, as a switch-in probe would measure it. */
#ifndef PROFD_BPF_SWITCH_OUT_BPF_H
#define PROFD_BPF_SWITCH_OUT_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "counters.bpf.h"
#include "profd_abi.h"
#include "sample_counts.bpf.h"
#include "stack_capture.bpf.h"

#define PROFD_TASK_DEAD 0x80

/* Per target thread: its latest switch-out and current wait. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 65536);
  __type(key, __u32); /* tid */
  __type(value, struct profd_thread_switch);
} thread_switches SEC(".maps");

/* Waits shorter than this are not counted (--min-block; 0 for mutex). */
const volatile __u64 min_wait_nanos = 0;

/* True when `task`, being switched out, gives up the CPU voluntarily: it sleeps (any state but
 * TASK_RUNNING). Preemption leaves it TASK_RUNNING; an exiting task is not waiting for anything. The
 * one case read wrong: a task preempted between set_current_state() and schedule() (the tracepoint
 * knows it was preemption, this event does not); rare, and its "wait" is then its run-queue time. */
static __always_inline bool profd_switches_out_to_wait(struct task_struct *task) {
  const unsigned int state = BPF_CORE_READ(task, __state);
  return state != 0 && !(state & PROFD_TASK_DEAD);
}

/* Charges the wait `t` of the current thread, which has ended: the time since it began less the CPU
 * time (`exec`, sum_exec_runtime) the thread has used since. */
static __always_inline void profd_charge_wait(struct profd_thread_switch *t, __u32 tid, __u64 exec,
                                              __u64 now) {
  t->waiting = 0;
  const __u64 elapsed = now - t->wait_since_nanos;
  const __u64 ran = exec - t->wait_exec_nanos;
  const __u64 waited = elapsed > ran ? elapsed - ran : 0;
  if (waited < min_wait_nanos) return;
  struct profd_sample_key key = {};
  key.pid = t->pid;
  key.tid = tid;
  key.user_stack_id = t->user_stack_id;
  key.kernel_stack_id = t->kernel_stack_id;
  bpf_get_current_comm(key.thread_comm, sizeof(key.thread_comm));
  profd_add_sample(&key, waited);
}

/* The current task is being switched out. The wait it began at its previous switch-out (if any) is
 * charged; if `starts_wait`, a new wait begins now with its stacks captured. */
static __always_inline void profd_switch_out(void *ctx, struct task_struct *task, bool starts_wait,
                                             bool with_kernel_stack) {
  const __u32 tid = BPF_CORE_READ(task, pid);
  const __u32 pid = BPF_CORE_READ(task, tgid);
  if (tid == 0 || !profd_is_target(pid)) return;
  const __u64 exec = BPF_CORE_READ(task, se.sum_exec_runtime);
  const __u64 now = bpf_ktime_get_ns();

  struct profd_thread_switch *t = bpf_map_lookup_elem(&thread_switches, &tid);
  if (t) {
    /* A thread listed by the daemon after it inherited its creator's event has two: the second run
     * for the same switch-out sees the CPU time unchanged (it grows between any two switch-outs). */
    if (t->last_exec_nanos == exec) return;
    t->last_exec_nanos = exec;
    if (t->waiting) profd_charge_wait(t, tid, exec, now);
  }
  if (!starts_wait) return;

  profd_count(PROFD_COUNTER_SAMPLES);
  struct profd_thread_switch w = {
      .pid = pid,
      .waiting = 1,
      .last_exec_nanos = exec,
      .wait_since_nanos = now,
      .wait_exec_nanos = exec,
      .user_stack_id = profd_capture_stack(ctx, 1),
      .kernel_stack_id = with_kernel_stack ? profd_capture_stack(ctx, 0) : 0,
  };
  if (bpf_map_update_elem(&thread_switches, &tid, &w, BPF_ANY) != 0)
    profd_count(PROFD_COUNTER_COUNTS_STORE_FAILED);
}

/* A thread exits: its perf event is gone before its last switch-out, so its last wait is charged
 * here, and its entry goes (a process making threads all day would fill the map otherwise). */
SEC("raw_tp/sched_process_exit")
int profd_forget_thread(void *ctx) {
  const __u32 tid = (__u32)bpf_get_current_pid_tgid();
  struct profd_thread_switch *t = bpf_map_lookup_elem(&thread_switches, &tid);
  if (!t) return 0;
  struct task_struct *task = bpf_get_current_task_btf();
  /* Not once the thread runs with other credentials (a set-user-ID exec): see owner_uid. */
  if (t->waiting && profd_owner_ok())
    profd_charge_wait(t, tid, BPF_CORE_READ(task, se.sum_exec_runtime), bpf_ktime_get_ns());
  bpf_map_delete_elem(&thread_switches, &tid);
  return 0;
}

#endif /* PROFD_BPF_SWITCH_OUT_BPF_H */

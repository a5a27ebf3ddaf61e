/* Python frames for the user-stack walk (the programs that define PROFD_PYTHON_FRAMES: cpu, offcpu,
 * mutex, threadcreate; not heap, whose allocator uprobes run far more often).
 * The daemon publishes each CPython process's runtime address and struct offsets; the walk finds the
 * sampled thread's PyThreadState, then emits its _PyInterpreterFrame chain in place of the native
 * _PyEval_EvalFrameDefault frames that run it (see profd_abi.h for the frame encoding). */
#ifndef PROFD_BPF_PYTHON_FRAMES_BPF_H
#define PROFD_BPF_PYTHON_FRAMES_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "counters.bpf.h"
#include "profd_abi.h"

/* CPython processes by tgid. Only userspace writes it. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1024);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, __u32);
  __type(value, struct profd_python_process);
} python_processes SEC(".maps");

/* Code objects already queued, by process. LRU: one evicted is queued again, which the daemon's
 * cache absorbs. */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 8192);
  __type(key, struct profd_python_code_seen);
  __type(value, __u8);
} python_codes_seen SEC(".maps");

/* Code objects met for the first time, for the daemon to read while their process lives (drained
 * every second): its work follows new code, not every stack of the window. */
struct {
  __uint(type, BPF_MAP_TYPE_QUEUE);
  __uint(max_entries, 4096);
  __type(value, struct profd_python_code_seen);
} python_new_codes SEC(".maps");

/* Where the walk is in the thread's Python frames. In map memory, not on the BPF stack: the
 * verifier tracks stack values exactly and would fork its states on every flag below. */
struct profd_python_cursor {
  __u64 frame;       /* the next _PyInterpreterFrame to emit; 0: none left (or not a Python thread) */
  __u32 pending;     /* 1: emitting the frames of one native eval frame, up to its entry frame */
  __u32 emitted;     /* Python frames emitted so far */
  __u32 native_done; /* the native walk has ended; the pending frames still go out */
  __u32 python;      /* the process is a CPython one: only then is python_processes looked up per step */
  __u32 pid;
  __u32 reserved;
  __u64 start_ticks; /* the process's start (profd_python_code_seen) */
};

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct profd_python_cursor);
} python_cursor SEC(".maps");

/* Each thread's PyThreadState as last found, by tid: a thread that does not hold the GIL (one that
 * waits, in the block and mutex profiles) is found once in the thread list, not at every sample.
 * Checked against the thread before use (a state freed and reused is another thread's). */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 16384);
  __type(key, __u32);
  __type(value, __u64);
} python_thread_states SEC(".maps");

/* The thread-list search visits at most this many threads (newest first). */
#define PROFD_PYTHON_MAX_THREADS 1024

static __always_inline __u64 profd_python_read_pointer(__u64 address) {
  __u64 value = 0;
  if (bpf_probe_read_user(&value, sizeof(value), (const void *)address) != 0) return 0;
  return value;
}

struct profd_python_thread_search {
  __u64 tstate; /* the list entry looked at; the thread's once found */
  __u64 self;
  __u64 thread_id_offset;
  __u64 next_offset;
};

static long profd_python_search_step(__u32 index, void *ctx) {
  struct profd_python_thread_search *s = ctx;
  if (!s->tstate || profd_python_read_pointer(s->tstate + s->thread_id_offset) == s->self) return 1;
  s->tstate = profd_python_read_pointer(s->tstate + s->next_offset);
  return 0;
}

/* The sampled thread's PyThreadState: the GIL holder if it is this thread (the common case of a
 * busy Python thread), else the one found for it before, else its entry in the main interpreter's
 * thread list (a thread that waits has released the GIL). */
static __always_inline __u64 profd_python_thread_state(const struct profd_python_process *py,
                                                       __u32 tid) {
  struct task_struct *task = bpf_get_current_task_btf();
  const __u64 self = BPF_CORE_READ(task, thread.fsbase); /* pthread_self() on x86-64 */
  const struct profd_python_offsets *o = &py->offsets;
  __u64 tstate = profd_python_read_pointer(py->runtime + o->runtime_tstate_current);
  if (tstate && profd_python_read_pointer(tstate + o->tstate_thread_id) == self) return tstate;
  const __u64 *known = bpf_map_lookup_elem(&python_thread_states, &tid);
  if (known && *known && profd_python_read_pointer(*known + o->tstate_thread_id) == self)
    return *known;
  __u64 interp = profd_python_read_pointer(py->runtime + o->runtime_interpreters_head);
  if (!interp) return 0;
  struct profd_python_thread_search s = {
      .tstate = profd_python_read_pointer(interp + o->interp_threads_head),
      .self = self,
      .thread_id_offset = o->tstate_thread_id,
      .next_offset = o->tstate_next,
  };
  bpf_loop(PROFD_PYTHON_MAX_THREADS, profd_python_search_step, &s, 0);
  if (!s.tstate || profd_python_read_pointer(s.tstate + o->tstate_thread_id) != self) return 0;
  bpf_map_update_elem(&python_thread_states, &tid, &s.tstate, BPF_ANY);
  return s.tstate;
}

/* Global functions (not static): the verifier checks each once on its own, not at every state of
 * the unwinder's loop that calls it. */

/* Sets the cursor on the thread's innermost Python frame, when the process is a CPython one. */
__attribute__((noinline)) int profd_python_start(__u32 pid) {
  __u32 zero = 0;
  struct profd_python_cursor *c = bpf_map_lookup_elem(&python_cursor, &zero);
  if (!c) return 0;
  c->frame = 0;
  c->pending = 0;
  c->emitted = 0;
  c->native_done = 0;
  c->python = 0;
  const struct profd_python_process *py = bpf_map_lookup_elem(&python_processes, &pid);
  if (!py) return 0;
  c->python = 1;
  struct task_struct *task = bpf_get_current_task_btf();
  c->pid = pid;
  c->start_ticks = BPF_CORE_READ(task, group_leader, start_boottime) / PROFD_NANOS_PER_CLOCK_TICK;
  const __u64 tstate = profd_python_thread_state(py, (__u32)bpf_get_current_pid_tgid());
  if (!tstate) return 0; /* a thread that never ran Python, or one we could not find */
  const __u64 cframe = profd_python_read_pointer(tstate + py->offsets.tstate_cframe);
  if (cframe) c->frame = profd_python_read_pointer(cframe + py->offsets.cframe_current_frame);
  return 0;
}

/* Queues `code` for the daemon unless this process's walks have met it before. */
__attribute__((noinline)) int profd_python_note_code(__u64 code) {
  __u32 zero = 0;
  struct profd_python_cursor *c = bpf_map_lookup_elem(&python_cursor, &zero);
  if (!c) return 0;
  struct profd_python_code_seen seen = {.pid = c->pid, .start_ticks = c->start_ticks, .code = code};
  if (bpf_map_lookup_elem(&python_codes_seen, &seen)) return 0;
  if (bpf_map_push_elem(&python_new_codes, &seen, 0) != 0) {
    profd_count(PROFD_COUNTER_PYTHON_CODE_DROPPED);
    return 0;
  }
  const __u8 one = 1;
  bpf_map_update_elem(&python_codes_seen, &seen, &one, BPF_ANY);
  return 0;
}

/* Emits the cursor's frame into the user stack and moves to its caller; the eval frame's run ends
 * after its entry frame. False when nothing went in. */
static __always_inline bool profd_python_emit(struct profd_python_cursor *c,
                                              const struct profd_python_process *py) {
  const struct profd_python_offsets *o = &py->offsets;
  const __u64 frame = c->frame;
  c->pending = 0;
  if (c->emitted >= PROFD_PYTHON_MAX_FRAMES) {
    profd_count(PROFD_COUNTER_PYTHON_TRUNCATED);
    c->frame = 0;
    return false;
  }
  __u64 code = 0, previous = 0, prev_instr = 0;
  __u8 is_entry = 0;
  if (bpf_probe_read_user(&code, sizeof(code), (const void *)(frame + o->frame_code)) ||
      bpf_probe_read_user(&previous, sizeof(previous), (const void *)(frame + o->frame_previous)) ||
      bpf_probe_read_user(&prev_instr, sizeof(prev_instr),
                          (const void *)(frame + o->frame_prev_instr)) ||
      bpf_probe_read_user(&is_entry, sizeof(is_entry), (const void *)(frame + o->frame_is_entry)) ||
      !code || (code >> 47) != 0) {
    profd_count(PROFD_COUNTER_PYTHON_READ_FAILED);
    c->frame = 0;
    return false;
  }
  __u32 slot = 0; /* the user slot of stack_scratch */
  struct profd_stack *st = bpf_map_lookup_elem(&stack_scratch, &slot);
  if (!st) return false;
  const __u32 len = st->len;
  if (len >= PROFD_MAX_FRAMES) return false;
  st->ips[len] = profd_python_frame_value(code, prev_instr, o->code_code_adaptive);
  st->len = len + 1;
  profd_python_note_code(code);
  c->emitted++;
  c->frame = previous;
  c->pending = !is_entry && previous != 0;
  return true;
}

/* One step of the walk, before the native frame at `ip` goes in: a pending Python frame, or the
 * first Python frame of a native eval frame in its place. Returns enum profd_python_step. */
__attribute__((noinline)) int profd_python_frame(__u32 pid, __u64 ip) {
  __u32 zero = 0;
  struct profd_python_cursor *c = bpf_map_lookup_elem(&python_cursor, &zero);
  if (!c || !c->python) return PROFD_PYTHON_NATIVE;
  const struct profd_python_process *py = bpf_map_lookup_elem(&python_processes, &pid);
  if (!py) return PROFD_PYTHON_NATIVE;
  if (c->pending) return profd_python_emit(c, py) ? PROFD_PYTHON_PENDING : PROFD_PYTHON_END;
  if (c->native_done) return PROFD_PYTHON_END;
  if (ip < py->eval_start || ip >= py->eval_end) return PROFD_PYTHON_NATIVE;
  if (!c->frame) {
    profd_count(PROFD_COUNTER_PYTHON_NO_THREAD);
    return PROFD_PYTHON_NATIVE;
  }
  return profd_python_emit(c, py) ? PROFD_PYTHON_REPLACED : PROFD_PYTHON_NATIVE;
}

/* The native walk has ended: true when Python frames of its last eval frame are still to go. */
static __always_inline bool profd_python_native_done(void) {
  __u32 zero = 0;
  struct profd_python_cursor *c = bpf_map_lookup_elem(&python_cursor, &zero);
  if (!c) return false;
  c->native_done = 1;
  return c->pending != 0;
}

#endif /* PROFD_BPF_PYTHON_FRAMES_BPF_H */

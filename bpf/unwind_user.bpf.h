/* User stack unwinding in BPF from the compact unwind tables userspace loads (see profd_abi.h), with
 * frame pointers where a mapping has no table (Go, JIT code) or a pc has no row. One bpf_loop step per
 * frame; the step itself (find the pc's mapping, binary-search its rows, compute the caller's
 * registers) is unwind_step.h, which the daemon's thread dump compiles too. Here: its maps and hooks. */
#ifndef PROFD_BPF_UNWIND_USER_BPF_H
#define PROFD_BPF_UNWIND_USER_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "counters.bpf.h"
#include "profd_abi.h"
#include "unwind_step.h"

/* Set by the daemon before load: false walks every user stack with frame pointers. */
const volatile bool dwarf_unwinding = true;

/* clang emits only a forward declaration of a struct that no global names by value; libbpf needs its
 * size for the inner map below. */
struct profd_unwind_row profd_unwind_row_btf_anchor __attribute__((unused));

/* The rows of one file. Inner maps differ in size (BPF_F_INNER_MAP); this one is only the template.
 * The daemon writes a table's rows through mmap (BPF_F_MMAPABLE): a batch update copies and
 * checks them one element at a time, 0.8 us a row (a host's 460,000 rows took 0.36 s). */
struct unwind_rows_map {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __uint(map_flags, BPF_F_INNER_MAP | BPF_F_MMAPABLE);
  __type(key, __u32);
  __type(value, struct profd_unwind_row);
};

/* Unwind tables by table id, shared by every process that maps the file. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
  __uint(max_entries, 8192);
  __type(key, __u64);
  __array(values, struct unwind_rows_map);
} unwind_tables SEC(".maps");

/* Executable mappings of the processes whose stacks are unwound with tables (tgid → mappings). Only
 * userspace writes it, so it need not be preallocated. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 4096);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, __u32);
  __type(value, struct profd_process_unwind);
} process_unwind SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct profd_search_bounds);
} unwind_search SEC(".maps");

/* The hooks of unwind_step.h: helpers and maps. env is NULL, every program unwinds its own task. */
static __always_inline long profd_unwind_read(struct profd_unwind_env *env, void *dst, __u32 size,
                                             __u64 address) {
  return bpf_probe_read_user(dst, size, (const void *)address);
}

static __always_inline const void *profd_unwind_table(struct profd_unwind_env *env,
                                                      const __u64 *table_id) {
  return bpf_map_lookup_elem(&unwind_tables, table_id);
}

static __always_inline const struct profd_unwind_row *
profd_unwind_row_at(struct profd_unwind_env *env, const void *rows, const __u32 *index) {
  return bpf_map_lookup_elem((void *)rows, index);
}

static __always_inline struct profd_search_bounds *profd_unwind_bounds(struct profd_unwind_env *env) {
  __u32 zero = 0;
  return bpf_map_lookup_elem(&unwind_search, &zero);
}

static __always_inline void profd_unwind_count(struct profd_unwind_env *env, __u32 counter) {
  profd_count(counter);
}

static __always_inline const struct profd_process_unwind *
profd_unwind_process(struct profd_unwind_env *env, const __u32 *pid) {
  return bpf_map_lookup_elem(&process_unwind, pid);
}

/* The row cache (see unwind_step.h): direct-mapped, per CPU, so no locks; a collision only evicts.
 * 1024 entries of 32 bytes hold the frames of many hot stacks; a sampled program's callers repeat,
 * so after its first samples a step costs a cache probe and the stack reads instead of two hash
 * lookups and two binary searches through an inner map (a helper call per probe). */
#define PROFD_ROW_CACHE_BITS 10

struct profd_row_cache_entry {
  __u64 key; /* ip, bit 63: exact_ip; 0: empty */
  __u32 pid;
  __u32 generation;
  struct profd_unwind_row row;
};

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1 << PROFD_ROW_CACHE_BITS);
  __type(key, __u32);
  __type(value, struct profd_row_cache_entry);
} unwind_row_cache SEC(".maps");

static __always_inline __u64 profd_row_cache_key(const struct profd_unwind_state *s) {
  return s->ip | ((__u64)(s->exact_ip != 0) << 63);
}

static __always_inline struct profd_row_cache_entry *
profd_row_cache_slot(const struct profd_unwind_state *s, __u64 key) {
  const __u64 mixed = (key ^ ((__u64)s->generation << 32) ^ s->pid) * 0x9e3779b97f4a7c15ULL;
  __u32 index = (__u32)(mixed >> (64 - PROFD_ROW_CACHE_BITS));
  return bpf_map_lookup_elem(&unwind_row_cache, &index);
}

static __always_inline bool profd_unwind_cached_row(struct profd_unwind_env *env,
                                                    const struct profd_unwind_state *s,
                                                    struct profd_unwind_row *row) {
  const __u64 key = profd_row_cache_key(s);
  const struct profd_row_cache_entry *e = profd_row_cache_slot(s, key);
  if (!e || e->key != key || e->pid != s->pid || e->generation != s->generation) return false;
  *row = e->row;
  return true;
}

static __always_inline void profd_unwind_remember_row(struct profd_unwind_env *env,
                                                      const struct profd_unwind_state *s,
                                                      const struct profd_unwind_row *row) {
  const __u64 key = profd_row_cache_key(s);
  struct profd_row_cache_entry *e = profd_row_cache_slot(s, key);
  if (!e) return;
  e->key = key;
  e->pid = s->pid;
  e->generation = s->generation;
  e->row = *row;
}

/* What the Python frame walk did with one step of the user walk. */
enum profd_python_step {
  PROFD_PYTHON_NATIVE = 0,   /* nothing: the native frame goes in as it is */
  PROFD_PYTHON_REPLACED = 1, /* the native eval frame's first Python frame went in its place */
  PROFD_PYTHON_PENDING = 2,  /* a further Python frame of the same eval frame went in */
  PROFD_PYTHON_END = 3,      /* the native walk has ended and no Python frame is left */
};

#ifdef PROFD_PYTHON_FRAMES
/* Set by the daemon before load: false when no target can run CPython (given pids, none of them an
 * interpreter, and no forks followed), so the verifier drops the Python walk as dead code and the
 * program loads sooner. */
const volatile bool python_frames = true;
#include "python_frames.bpf.h"
#else
static const bool python_frames = false;
/* Programs without Python frames: every step is native, and the compiler drops the hooks. */
static __always_inline int profd_python_start(__u32 pid) { return 0; }
static __always_inline int profd_python_frame(__u32 pid, __u64 ip) { return PROFD_PYTHON_NATIVE; }
static __always_inline bool profd_python_native_done(void) { return false; }
#endif

/* The step itself as a global function: the verifier checks a global function once, on its own,
 * with *s unknown, and at a call only the argument's type. Inlined in the bpf_loop callback, the
 * mapping and row searches and the rules were checked again for each state the walk's loop brought
 * to the callback (cpu on 6.18: 14 passes, about 3/4 of its 63,441 instructions processed). */
__attribute__((noinline)) int profd_unwind_next_frame(struct profd_unwind_state *s) {
  if (!s) return 0;
  return profd_unwind_next(NULL, s);
}

/* One frame per iteration, native or Python: a native eval frame is replaced by its Python frames,
 * emitted one per iteration while the native registers wait at its caller. */
static long profd_unwind_step(__u32 index, void *ctx) {
  struct profd_unwind_state *s = ctx;
  __u32 slot = 0; /* the user slot of stack_scratch */
  struct profd_stack *st = bpf_map_lookup_elem(&stack_scratch, &slot);
  if (!st) return 1;
  __u32 len = st->len;
  if (len >= PROFD_MAX_FRAMES) {
    s->truncated = 1;
    return 1;
  }
  const int python = python_frames ? profd_python_frame(s->pid, s->ip) : PROFD_PYTHON_NATIVE;
  if (python == PROFD_PYTHON_PENDING) return 0;
  if (python == PROFD_PYTHON_END) return 1;
  if (python == PROFD_PYTHON_NATIVE) {
    st->ips[len] = s->ip;
    st->len = len + 1;
  }

  if (profd_unwind_next_frame(s)) return 0;
  return python_frames && profd_python_native_done() ? 0 : 1;
}

/* Unwinds the current task's user stack into `st` from the user registers `regs`. Returns false when
 * the process has no tables (the caller then walks frame pointers). */
static __always_inline bool profd_unwind_user(struct profd_stack *st, __u64 ip, __u64 sp, __u64 bp,
                                              __u32 pid) {
  if (!dwarf_unwinding) return false;
  const struct profd_process_unwind *proc = bpf_map_lookup_elem(&process_unwind, &pid);
  if (!proc) return false;
  struct profd_unwind_state s = {
      .ip = ip, .sp = sp, .bp = bp, .pid = pid, .exact_ip = 1, .generation = proc->generation};
  if (python_frames) profd_python_start(pid);
  st->len = 0;
  st->flags = 0;
  bpf_loop(PROFD_MAX_FRAMES + 1, profd_unwind_step, &s, 0);
  if (s.truncated) st->flags |= PROFD_STACK_TRUNCATED;
  return true;
}

#endif /* PROFD_BPF_UNWIND_USER_BPF_H */

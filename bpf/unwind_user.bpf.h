/* User stack unwinding in BPF from the compact unwind tables userspace loads (see profd_abi.h), with
 * frame pointers where a mapping has no table (Go, JIT code) or a pc has no row. One bpf_loop step per
 * frame; each step finds the pc's mapping, binary-searches its rows, and computes the caller's registers. */
#ifndef PROFD_BPF_UNWIND_USER_BPF_H
#define PROFD_BPF_UNWIND_USER_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "counters.bpf.h"
#include "profd_abi.h"

/* Set by the daemon before load: false walks every user stack with frame pointers. */
const volatile bool dwarf_unwinding = true;

/* clang emits only a forward declaration of a struct that no global names by value; libbpf needs its
 * size for the inner map below. */
struct profd_unwind_row profd_unwind_row_btf_anchor __attribute__((unused));

/* The rows of one file. Inner maps differ in size (BPF_F_INNER_MAP); this one is only the template. */
struct unwind_rows_map {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __uint(map_flags, BPF_F_INNER_MAP);
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

struct profd_unwind_state {
  __u64 ip;
  __u64 sp;
  __u64 bp;
  __u32 pid;
  __u32 exact_ip; /* ip is where the thread is (leaf, or interrupted by a signal), not a return address */
  __u32 done;
  __u32 truncated;
};

/* Binary search bounds, kept in map memory on purpose: the verifier tracks values on the BPF stack exactly,
 * so a search there forks a new state per branch and iteration (2^24 for a row search); values read back
 * from a map are unknown to it, so every iteration looks alike and is verified once. */
struct profd_search_bounds {
  __u32 lo;
  __u32 hi;
};

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct profd_search_bounds);
} unwind_search SEC(".maps");

static __always_inline const struct profd_unwind_mapping *
profd_find_mapping(const struct profd_process_unwind *proc, __u64 pc) {
  __u32 zero = 0;
  struct profd_search_bounds *b = bpf_map_lookup_elem(&unwind_search, &zero);
  if (!b) return NULL;
  b->lo = 0;
  b->hi = proc->count;
  /* Last mapping with start <= pc; 9 halvings cover 256 mappings. */
  for (int i = 0; i < 9; i++) {
    __u32 lo = b->lo, hi = b->hi;
    if (lo >= hi) break;
    __u32 mid = (lo + hi) / 2;
    if (mid >= PROFD_MAX_UNWIND_MAPPINGS) return NULL;
    if (proc->mappings[mid].start <= pc)
      b->lo = mid + 1;
    else
      b->hi = mid;
  }
  __u32 lo = b->lo;
  if (lo == 0 || lo > PROFD_MAX_UNWIND_MAPPINGS) return NULL;
  const struct profd_unwind_mapping *m = &proc->mappings[lo - 1];
  return pc < m->end ? m : NULL;
}

static __always_inline const struct profd_unwind_row *profd_find_row(void *rows, __u32 count,
                                                                    __u64 pc) {
  __u32 zero = 0;
  struct profd_search_bounds *b = bpf_map_lookup_elem(&unwind_search, &zero);
  if (!b) return NULL;
  b->lo = 0;
  b->hi = count;
  /* Last row with row.pc <= pc; 24 halvings cover 16M rows. */
  for (int i = 0; i < 24; i++) {
    __u32 lo = b->lo, hi = b->hi;
    if (lo >= hi) break;
    __u32 mid = (lo + hi) / 2;
    const struct profd_unwind_row *row = bpf_map_lookup_elem(rows, &mid);
    if (!row) return NULL;
    if (row->pc <= pc)
      b->lo = mid + 1;
    else
      b->hi = mid;
  }
  __u32 index = b->lo;
  if (index == 0) return NULL;
  index--;
  return bpf_map_lookup_elem(rows, &index);
}

/* The caller by frame pointers: [bp] is the caller's bp, [bp+8] the return address. */
static __always_inline bool profd_step_frame_pointer(struct profd_unwind_state *s) {
  __u64 frame[2];
  if (s->bp == 0 || bpf_probe_read_user(frame, sizeof(frame), (void *)s->bp) != 0) return false;
  s->sp = s->bp + 16;
  s->bp = frame[0];
  s->ip = frame[1];
  s->exact_ip = 0;
  return true;
}

/* A pc no row covers, where the thread is (leaf, or interrupted): most such code is a frameless leaf —
 * a syscall wrapper, like glibc's clone3 whose FDE ends before its syscall on purpose — so the return
 * address is at [sp]. Taken only if it points into a known mapping; else frame pointers. */
static __always_inline bool profd_step_frameless_leaf(struct profd_unwind_state *s,
                                                      const struct profd_process_unwind *proc) {
  __u64 ra;
  if (bpf_probe_read_user(&ra, sizeof(ra), (void *)s->sp) != 0 || !profd_find_mapping(proc, ra))
    return profd_step_frame_pointer(s);
  s->sp += 8;
  s->ip = ra;
  s->exact_ip = 0;
  return true;
}

/* Returns false when the walk ends. */
static __always_inline bool profd_step_dwarf(struct profd_unwind_state *s,
                                             const struct profd_process_unwind *proc,
                                             const struct profd_unwind_mapping *m) {
  __u64 table_id = m->table_id;
  void *rows = bpf_map_lookup_elem(&unwind_tables, &table_id);
  if (!rows) {
    profd_count(PROFD_COUNTER_UNWIND_TABLE_MISSING);
    return profd_step_frame_pointer(s);
  }
  /* A return address points after the call; the call itself belongs to the row before it. */
  __u64 pc = (s->exact_ip ? s->ip : s->ip - 1) - m->bias;
  const struct profd_unwind_row *row = profd_find_row(rows, m->row_count, pc);
  if (!row || row->cfa_type == PROFD_CFA_NONE) {
    profd_count(PROFD_COUNTER_UNWIND_NO_ROW);
    return s->exact_ip ? profd_step_frameless_leaf(s, proc) : profd_step_frame_pointer(s);
  }

  __u64 cfa;
  switch (row->cfa_type) {
    case PROFD_CFA_RSP:
      cfa = s->sp + row->cfa_offset;
      break;
    case PROFD_CFA_RBP:
      cfa = s->bp + row->cfa_offset;
      break;
    case PROFD_CFA_PLT:
      cfa = s->sp + row->cfa_offset + (((s->ip & 15) >= 11) ? 8 : 0);
      break;
    case PROFD_CFA_SIGNAL: {
      /* __restore_rt: the interrupted registers are in the ucontext at sp (rbp +120, rsp +160,
       * rip +168), and rip is where the thread was, not a return address. */
      __u64 regs[7]; /* sp+120 .. sp+168 */
      if (bpf_probe_read_user(regs, sizeof(regs), (void *)(s->sp + 120)) != 0) {
        profd_count(PROFD_COUNTER_UNWIND_READ_FAILED);
        return false;
      }
      s->bp = regs[0];
      s->sp = regs[5];
      s->ip = regs[6];
      s->exact_ip = 1;
      return s->ip != 0;
    }
    default: /* PROFD_CFA_END: the outermost frame */
      return false;
  }

  __u64 ra;
  if (bpf_probe_read_user(&ra, sizeof(ra), (void *)(cfa - 8)) != 0) {
    profd_count(PROFD_COUNTER_UNWIND_READ_FAILED);
    return false;
  }
  if (row->rbp_type == PROFD_RBP_AT_CFA) {
    __u64 bp;
    if (bpf_probe_read_user(&bp, sizeof(bp), (void *)(cfa + row->rbp_offset)) != 0) {
      profd_count(PROFD_COUNTER_UNWIND_READ_FAILED);
      return false;
    }
    s->bp = bp;
  } else if (row->rbp_type == PROFD_RBP_UNDEFINED) {
    s->bp = 0;
  }
  s->sp = cfa;
  s->ip = ra;
  s->exact_ip = 0;
  return true;
}

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
  st->ips[len] = s->ip;
  st->len = len + 1;

  const struct profd_process_unwind *proc = bpf_map_lookup_elem(&process_unwind, &s->pid);
  if (!proc) return 1;
  const struct profd_unwind_mapping *m = profd_find_mapping(proc, s->ip);
  bool more;
  if (m && m->table_id != 0) {
    more = profd_step_dwarf(s, proc, m);
  } else {
    if (!m) profd_count(PROFD_COUNTER_UNWIND_NO_MAPPING);
    more = profd_step_frame_pointer(s);
  }
  /* Stop on a null or kernel-half return address, and on a stack that does not grow up. */
  if (!more || s->ip == 0 || (s->ip >> 47) != 0) return 1;
  return 0;
}

/* Unwinds the current task's user stack into `st` from the user registers `regs`. Returns false when
 * the process has no tables (the caller then walks frame pointers). */
static __always_inline bool profd_unwind_user(struct profd_stack *st, __u64 ip, __u64 sp, __u64 bp,
                                              __u32 pid) {
  if (!dwarf_unwinding || !bpf_map_lookup_elem(&process_unwind, &pid)) return false;
  struct profd_unwind_state s = {.ip = ip, .sp = sp, .bp = bp, .pid = pid, .exact_ip = 1};
  st->len = 0;
  st->flags = 0;
  bpf_loop(PROFD_MAX_FRAMES + 1, profd_unwind_step, &s, 0);
  if (s.truncated) st->flags |= PROFD_STACK_TRUNCATED;
  return true;
}

#endif /* PROFD_BPF_UNWIND_USER_BPF_H */

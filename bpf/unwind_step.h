/* One step of the user-stack unwinder: from a frame's registers to its caller's, with the compact
 * unwind tables (profd_abi.h) where a mapping has one and frame pointers elsewhere. Plain C compiled
 * by both sides: the BPF programs (unwind_user.bpf.h) and, as user code, the daemon's thread dump
 * (unwind/stack_walker.cc), so both walk stacks by the same rules and the rules get unit tests.
 *
 * Everything that touches memory or maps goes through the hooks declared below, which each side
 * defines: BPF with helpers and maps (passing a NULL env), user space over a copied stack. */
#ifndef PROFD_BPF_UNWIND_STEP_H
#define PROFD_BPF_UNWIND_STEP_H

#ifdef __bpf__
/* vmlinux.h and bpf_helpers.h provide bool, NULL and __always_inline. */
#else
#include <stddef.h>
#ifndef __cplusplus
#include <stdbool.h>
#endif
#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif
#endif

#include "profd_abi.h"

/* The registers of the frame being unwound. */
struct profd_unwind_state {
  __u64 ip;
  __u64 sp;
  __u64 bp;
  __u32 pid;
  __u32 exact_ip; /* ip is where the thread is (leaf, or interrupted by a signal), not a return address */
  __u32 generation; /* the process's profd_process_unwind.generation; keeps truncated at offset 28:
                     * at 24 the verifier visits 39% more insns */
  __u32 truncated;
};

/* Binary search bounds. BPF keeps them in map memory on purpose: the verifier tracks values on the BPF
 * stack exactly, so a search there forks a new state per branch and iteration (2^24 for a row search);
 * values read back from a map are unknown to it, so every iteration looks alike and is verified once. */
struct profd_search_bounds {
  __u32 lo;
  __u32 hi;
};

/* What each side provides (opaque here; BPF passes NULL). */
struct profd_unwind_env;

/* Copies `size` bytes of the target's memory at `address` to `dst`; 0 on success. */
static __always_inline long profd_unwind_read(struct profd_unwind_env *env, void *dst, __u32 size,
                                             __u64 address);
/* The rows of table *table_id, or NULL when it is not loaded. Keys are passed by address, as to a map
 * lookup: the BPF side then uses the caller's variable as the key, and the code the verifier sees is
 * what it was before this header (a copy per call costs it 7% more states). */
static __always_inline const void *profd_unwind_table(struct profd_unwind_env *env,
                                                      const __u64 *table_id);
/* Row *index of `rows`, or NULL past its end. */
static __always_inline const struct profd_unwind_row *
profd_unwind_row_at(struct profd_unwind_env *env, const void *rows, const __u32 *index);
/* Scratch for the binary searches, or NULL. */
static __always_inline struct profd_search_bounds *profd_unwind_bounds(struct profd_unwind_env *env);
/* Counts one event PROFD_COUNTER_*. */
static __always_inline void profd_unwind_count(struct profd_unwind_env *env, __u32 counter);
/* The mappings of process *pid, or NULL when it has no tables. */
static __always_inline const struct profd_process_unwind *
profd_unwind_process(struct profd_unwind_env *env, const __u32 *pid);
/* A cache of rows found before, by (pid, generation, ip, exact_ip): most samples repeat their
 * callers, and a hit skips the mapping search, the table lookup and the row search. Copies the row
 * to *row and returns true on a hit. A side without a cache returns false and remembers nothing. */
static __always_inline bool profd_unwind_cached_row(struct profd_unwind_env *env,
                                                    const struct profd_unwind_state *s,
                                                    struct profd_unwind_row *row);
static __always_inline void profd_unwind_remember_row(struct profd_unwind_env *env,
                                                      const struct profd_unwind_state *s,
                                                      const struct profd_unwind_row *row);

/* The mapping holding pc, or NULL. */
static __always_inline const struct profd_unwind_mapping *
profd_find_mapping(struct profd_unwind_env *env, const struct profd_process_unwind *proc, __u64 pc) {
  struct profd_search_bounds *b = profd_unwind_bounds(env);
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

/* The row covering pc (an ELF address), or NULL before the first row. */
static __always_inline const struct profd_unwind_row *
profd_find_row(struct profd_unwind_env *env, const void *rows, __u32 count, __u64 pc) {
  struct profd_search_bounds *b = profd_unwind_bounds(env);
  if (!b) return NULL;
  b->lo = 0;
  b->hi = count;
  /* Last row with row.pc <= pc; 24 halvings cover 16M rows. */
  for (int i = 0; i < 24; i++) {
    __u32 lo = b->lo, hi = b->hi;
    if (lo >= hi) break;
    __u32 mid = (lo + hi) / 2;
    const struct profd_unwind_row *row = profd_unwind_row_at(env, rows, &mid);
    if (!row) return NULL;
    if (row->pc <= pc)
      b->lo = mid + 1;
    else
      b->hi = mid;
  }
  __u32 index = b->lo;
  if (index == 0) return NULL;
  index--;
  return profd_unwind_row_at(env, rows, &index);
}

/* The caller by frame pointers: [bp] is the caller's bp, [bp+8] the return address. */
static __always_inline bool profd_step_frame_pointer(struct profd_unwind_env *env,
                                                     struct profd_unwind_state *s) {
  __u64 frame[2];
  if (s->bp == 0 || profd_unwind_read(env, frame, sizeof(frame), s->bp) != 0) return false;
  s->sp = s->bp + 16;
  s->bp = frame[0];
  s->ip = frame[1];
  s->exact_ip = 0;
  return true;
}

/* A pc no row covers, where the thread is (leaf, or interrupted): most such code is a frameless leaf —
 * a syscall wrapper, like glibc's clone3 whose FDE ends before its syscall on purpose — so the return
 * address is at [sp]. Taken only if it points into a known mapping; else frame pointers. */
static __always_inline bool profd_step_frameless_leaf(struct profd_unwind_env *env,
                                                      struct profd_unwind_state *s,
                                                      const struct profd_process_unwind *proc) {
  __u64 ra;
  if (profd_unwind_read(env, &ra, sizeof(ra), s->sp) != 0 || !profd_find_mapping(env, proc, ra))
    return profd_step_frame_pointer(env, s);
  s->sp += 8;
  s->ip = ra;
  s->exact_ip = 0;
  return true;
}

/* What profd_find_frame_row did. */
enum profd_row_search {
  PROFD_ROW_FOUND = 0,   /* *row is the frame's rule */
  PROFD_ROW_STEPPED = 1, /* no rule: a fallback (frame pointers, frameless leaf) moved s */
  PROFD_ROW_ENDED = 2,   /* no rule and no fallback: the walk ends */
};

/* The rule for s's frame from its mapping's table, or a fallback step where there is none. */
static __always_inline int profd_find_frame_row(struct profd_unwind_env *env,
                                                struct profd_unwind_state *s,
                                                struct profd_unwind_row *out) {
  const struct profd_process_unwind *proc = profd_unwind_process(env, &s->pid);
  if (!proc) return PROFD_ROW_ENDED;
  const struct profd_unwind_mapping *m = profd_find_mapping(env, proc, s->ip);
  bool more;
  if (!m || m->table_id == 0) {
    if (!m) profd_unwind_count(env, PROFD_COUNTER_UNWIND_NO_MAPPING);
    more = profd_step_frame_pointer(env, s);
    return more ? PROFD_ROW_STEPPED : PROFD_ROW_ENDED;
  }
  __u64 table_id = m->table_id;
  const void *rows = profd_unwind_table(env, &table_id);
  if (!rows) {
    profd_unwind_count(env, PROFD_COUNTER_UNWIND_TABLE_MISSING);
    more = profd_step_frame_pointer(env, s);
    return more ? PROFD_ROW_STEPPED : PROFD_ROW_ENDED;
  }
  /* A return address points after the call; the call itself belongs to the row before it. */
  __u64 pc = (s->exact_ip ? s->ip : s->ip - 1) - m->bias;
  const struct profd_unwind_row *row = profd_find_row(env, rows, m->row_count, pc);
  if (!row || row->cfa_type == PROFD_CFA_NONE) {
    profd_unwind_count(env, PROFD_COUNTER_UNWIND_NO_ROW);
    more = s->exact_ip ? profd_step_frameless_leaf(env, s, proc) : profd_step_frame_pointer(env, s);
    return more ? PROFD_ROW_STEPPED : PROFD_ROW_ENDED;
  }
  *out = *row;
  return PROFD_ROW_FOUND;
}

/* Applies the frame's rule: s moves to the caller. Returns false when the walk ends. */
static __always_inline bool profd_apply_row(struct profd_unwind_env *env,
                                            struct profd_unwind_state *s,
                                            const struct profd_unwind_row *row) {
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
      if (profd_unwind_read(env, regs, sizeof(regs), s->sp + 120) != 0) {
        profd_unwind_count(env, PROFD_COUNTER_UNWIND_READ_FAILED);
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

  /* The return address and, when the rule saved it, the caller's rbp: one read where they are
   * adjacent (rbp pushed right below the return address, as every frame-pointer prologue does). */
  if (row->rbp_type == PROFD_RBP_AT_CFA && row->rbp_offset == -16) {
    __u64 pair[2]; /* [cfa-16] = rbp, [cfa-8] = return address */
    if (profd_unwind_read(env, pair, sizeof(pair), cfa - 16) != 0) {
      profd_unwind_count(env, PROFD_COUNTER_UNWIND_READ_FAILED);
      return false;
    }
    s->bp = pair[0];
    s->sp = cfa;
    s->ip = pair[1];
    s->exact_ip = 0;
    return true;
  }
  __u64 ra;
  if (profd_unwind_read(env, &ra, sizeof(ra), cfa - 8) != 0) {
    profd_unwind_count(env, PROFD_COUNTER_UNWIND_READ_FAILED);
    return false;
  }
  if (row->rbp_type == PROFD_RBP_AT_CFA) {
    __u64 bp;
    if (profd_unwind_read(env, &bp, sizeof(bp), cfa + row->rbp_offset) != 0) {
      profd_unwind_count(env, PROFD_COUNTER_UNWIND_READ_FAILED);
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

/* Moves `s` from its frame to the caller's, whose ip the walk records next. Returns false when the
 * walk ends: no caller, or a null or kernel-half return address. */
static __always_inline bool profd_unwind_next(struct profd_unwind_env *env,
                                              struct profd_unwind_state *s) {
  struct profd_unwind_row row;
  bool more = true;
  int found = PROFD_ROW_FOUND;
  if (!profd_unwind_cached_row(env, s, &row)) {
    found = profd_find_frame_row(env, s, &row);
    if (found == PROFD_ROW_FOUND) profd_unwind_remember_row(env, s, &row);
  }
  /* One call site, so the verifier sees the rule's code once. */
  if (found == PROFD_ROW_FOUND)
    more = profd_apply_row(env, s, &row);
  else
    more = found == PROFD_ROW_STEPPED;
  if (!more || s->ip == 0 || (s->ip >> 47) != 0) return false;
  return true;
}

#endif /* PROFD_BPF_UNWIND_STEP_H */

/* Stack capture shared by every profile type: walk a stack into per-CPU scratch, hash it, and store it once
 * in the `stacks` map under its hash. User stacks are walked with the unwind tables of unwind_user.bpf.h
 * where the daemon loaded them, else with frame pointers; kernel stacks by the kernel's own unwinder. */
#ifndef PROFD_BPF_STACK_CAPTURE_BPF_H
#define PROFD_BPF_STACK_CAPTURE_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "profd_abi.h"
#include "counters.bpf.h"

#ifndef EEXIST
#define EEXIST 17
#endif
#ifndef E2BIG
#define E2BIG 7
#endif

/* Stacks by id (hash of their frames). Sized by the daemon before load. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 16384);
  __type(key, __u64);
  __type(value, struct profd_stack);
} stacks SEC(".maps");

/* Scratch for the walk: a profd_stack is too large for the 512-byte BPF stack. Index 0: user, 1: kernel. */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 2);
  __type(key, __u32);
  __type(value, struct profd_stack);
} stack_scratch SEC(".maps");

#include "unwind_user.bpf.h"

/* A program that times its phases defines PROFD_PHASE(phase) before including this file: it
 * charges the time since the last mark to `phase` (see cpu.bpf.c). */
#ifndef PROFD_PHASE
#define PROFD_PHASE(phase) do {} while (0)
#endif

/* A 64-bit mix per frame (splitmix64 finalizer); never returns 0, which means "no stack". */
static __always_inline __u64 profd_hash_stack(const struct profd_stack *st) {
  __u64 h = 0x9e3779b97f4a7c15ULL ^ st->len;
  for (__u32 i = 0; i < PROFD_MAX_FRAMES; i++) {
    if (i >= st->len) break;
    __u64 x = h ^ st->ips[i];
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    h = x + 0x9e3779b97f4a7c15ULL;
  }
  return h ? h : 1;
}

static __always_inline bool profd_same_stack(const struct profd_stack *a, const struct profd_stack *b) {
  if (a->len != b->len) return false;
  for (__u32 i = 0; i < PROFD_MAX_FRAMES; i++) {
    if (i >= a->len) break;
    if (a->ips[i] != b->ips[i]) return false;
  }
  return true;
}

/* Walks the current task's user stack into `st`: with unwind tables when the process has them, else
 * with frame pointers. Returns false when there is no user stack to walk. */
static __always_inline bool profd_walk_user_stack(void *ctx, struct profd_stack *st) {
  /* Both are BTF pointers the verifier trusts: plain loads, not a bpf_probe_read_kernel call each. */
  struct task_struct *task = bpf_get_current_task_btf();
  if (!task->mm) return false; /* a kernel thread */
  /* The user registers saved on kernel entry: where the thread was when the sample interrupted it or
   * when it entered the syscall it is blocked in. */
  struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
  __u32 pid = bpf_get_current_pid_tgid() >> 32;
  if (profd_unwind_user(st, regs->ip, regs->sp, regs->bp, pid)) return true;
  long bytes = bpf_get_stack(ctx, st->ips, sizeof(st->ips), BPF_F_USER_STACK);
  if (bytes < 0) {
    profd_count(PROFD_COUNTER_USER_STACK_FAILED);
    return false;
  }
  st->len = (__u32)bytes / sizeof(__u64);
  /* bpf_get_stack fills at most the buffer: a full buffer may mean outer frames were cut off. */
  st->flags = st->len >= PROFD_MAX_FRAMES ? PROFD_STACK_TRUNCATED : 0;
  return true;
}

static __always_inline bool profd_walk_kernel_stack(void *ctx, struct profd_stack *st) {
  long bytes = bpf_get_stack(ctx, st->ips, sizeof(st->ips), 0);
  if (bytes < 0) {
    profd_count(PROFD_COUNTER_KERNEL_STACK_FAILED);
    return false;
  }
  st->len = (__u32)bytes / sizeof(__u64);
  st->flags = st->len >= PROFD_MAX_FRAMES ? PROFD_STACK_TRUNCATED : 0;
  return true;
}

/* Hashes the stack walked into stack_scratch slot `slot` and stores it once in `stacks`; returns
 * its id, or 0 when it could not be stored. A global function, so the verifier checks its two loops
 * over up to PROFD_MAX_FRAMES frames once, not for each stack captured and each caller's state. */
__attribute__((noinline)) __u64 profd_store_stack(__u32 slot) {
  struct profd_stack *st = bpf_map_lookup_elem(&stack_scratch, &slot);
  if (!st) return 0;
  if (st->flags & PROFD_STACK_TRUNCATED) profd_count(PROFD_COUNTER_STACK_TRUNCATED);

  __u64 id = profd_hash_stack(st);
  /* Stored before is the common case: a lookup first, as an update takes the bucket's lock. */
  const struct profd_stack *stored = bpf_map_lookup_elem(&stacks, &id);
  if (!stored) {
    long err = bpf_map_update_elem(&stacks, &id, st, BPF_NOEXIST);
    if (err == 0) return id;
    if (err != -EEXIST) {
      profd_count(err == -E2BIG ? PROFD_COUNTER_STACKS_MAP_FULL : PROFD_COUNTER_STACKS_STORE_FAILED);
      return 0;
    }
    stored = bpf_map_lookup_elem(&stacks, &id); /* another CPU stored it meanwhile */
  }
  if (stored && !profd_same_stack(stored, st)) { /* a different stack there: a collision */
    profd_count(PROFD_COUNTER_STACK_HASH_COLLISION);
    return 0;
  }
  return id;
}

/* Captures the current user (user != 0) or kernel stack of `ctx`; returns its id, or 0 when there
 * is none. */
static __always_inline __u64 profd_capture_stack(void *ctx, int user) {
  __u32 slot = user ? 0 : 1;
  struct profd_stack *st = bpf_map_lookup_elem(&stack_scratch, &slot);
  if (!st) return 0;
  const bool walked = user ? profd_walk_user_stack(ctx, st) : profd_walk_kernel_stack(ctx, st);
  PROFD_PHASE(user ? PROFD_PHASE_USER_WALK : PROFD_PHASE_KERNEL_WALK);
  if (!walked || st->len == 0) return 0;
  return profd_store_stack(slot);
}

#endif /* PROFD_BPF_STACK_CAPTURE_BPF_H */

// SPDX-License-Identifier: GPL-2.0
/* heap and allocs profiles: one session uprobe program on the allocator's entry points (malloc, calloc,
 * realloc, …, free; the attach cookie says which), attached to each target as one uprobe_multi link.
 * Allocations are sampled by bytes like tcmalloc and Go: each thread counts down a distance drawn from
 * an exponential distribution (mean sample_rate bytes); the allocation that crosses zero is sampled.
 * Only a sampled allocation asks for its return probe (the entry returns 0), to learn the block's
 * address: it adds what it stands for (sample_weight: objects in 1/65536ths, bytes) to the counts map
 * and is remembered in `live` until freed, so what is still in `live` at the end is the in-use heap.
 * Every other call costs the target one trap.
 *
 * Every probe hit costs a trap whatever happens here; the daemon bounds that cost by attaching the
 * link in duty-cycled windows. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

/* A Python program's allocations show the Python function that made them. */
#define PROFD_PYTHON_FRAMES 1

#include "process_events.bpf.h"
#include "profd_abi.h"
#include "sample_counts.bpf.h"
#include "stack_capture.bpf.h"

extern bool bpf_session_is_return(void) __ksym;
extern __u64 *bpf_session_cookie(void) __ksym;

/* Mean bytes between samples; <= 1 samples every allocation. The daemon lowers it when the probes are
 * duty-cycled, so the windows it sees yield as many samples as the whole window would have. */
volatile __u64 sample_rate = 512 * 1024;
/* Bumped with each change of sample_rate: threads then draw a new distance at the new rate. */
volatile __u32 sample_rate_generation = 0;
/* -ln(u) for u = (i + 0.5) / PROFD_EXP_TABLE_SIZE, in 1/65536ths: exponential draws without log(). */
const volatile __u32 exp_table[PROFD_EXP_TABLE_SIZE] = {};
/* h(x) = x / (1 - exp(-x)) at x = i / PROFD_SIZE_WEIGHT_STEPS, in 1/65536ths (see sample_weight). */
const volatile __u32 size_weight[PROFD_SIZE_WEIGHT_TABLE_SIZE] = {};

/* Set by the daemon once every allocator probe is in, cleared before any comes out: allocations
 * are sampled only while it is set, and the user-mode ticks are counted by it, so the windows
 * that saw allocations and the windows whose work is counted are the same. (A uprobe_multi
 * link's breakpoints go in one by one during its attach call, which takes 5-20 ms: counting
 * from the call's end while sampling from its start biased totals ~12% high in 22 ms windows.) */
volatile __u32 probes_attached = 0;
/* The targets' user-mode task-clock ticks, [0] with the probes detached, [1] attached: the work
 * they did in each state (a trap is kernel time, so it adds no tick), by which the daemon scales
 * what the attached windows saw to the whole collection. */
volatile __u64 user_ticks[2] = {};

/* Set by the daemon while it measures what a probe costs: whether profd_calibrate asks for its return. */
volatile __u32 calibrate_return = 0;

/* Per-CPU probe hit counters (enum profd_heap_stat), for the duty-cycle controller. */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, PROFD_HEAP_STAT_MAX);
  __type(key, __u32);
  __type(value, __u64);
} heap_stats SEC(".maps");

/* Target pid → its allocator functions' addresses. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1024);
  __type(key, __u32);
  __type(value, struct profd_allocator_ranges);
} allocator_ranges SEC(".maps");

/* A thread's sampling state and its sampled call in progress. */
struct profd_heap_thread {
  __s64 bytes_until_sample;
  __u64 call;        /* sequence number of the sampled call whose return is awaited */
  __u64 size;        /* its bytes */
  __u64 estimated_count_q16; /* what it stands for (sample_weight) */
  __u64 estimated_bytes;
  __u64 out_pointer; /* posix_memalign's memptr: where the block's address is written */
  __u64 user_stack_id;
  __u64 entry_sp;    /* the sampled call's stack pointer and return address at entry */
  __u64 entry_return_address;
  __u32 rate_generation; /* of the distance drawn */
  __u8 initialized;
  __u8 pending;      /* the sampled call has not returned */
};

struct {
  __uint(type, BPF_MAP_TYPE_TASK_STORAGE);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, int);
  __type(value, struct profd_heap_thread);
} heap_threads SEC(".maps");

/* Sampled blocks not freed yet. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __uint(max_entries, 1 << 20);
  __type(key, struct profd_live_block_key);
  __type(value, struct profd_live_block);
} live SEC(".maps");

/* Set by the daemon before load (heap profiles not duty-cycled): every sampled block's allocation
 * and free goes to heap_events in order, from which the daemon finds the peak of live bytes. */
const volatile bool track_peak = false;

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 1 << 20);
} heap_events SEC(".maps");

static __always_inline void heap_stat(__u32 stat) {
  __u64 *value = bpf_map_lookup_elem(&heap_stats, &stat);
  if (value) *value += 1;
}

static __always_inline __s64 next_sample_distance(void) {
  __u32 i = bpf_get_prandom_u32() & (PROFD_EXP_TABLE_SIZE - 1);
  return (__s64)((sample_rate * exp_table[i]) >> 16) + 1;
}

/* Poisson sampling by bytes: true when this allocation of `size` bytes is sampled. */
static __always_inline bool take_sample(struct profd_heap_thread *t, __u64 size) {
  if (sample_rate <= 1) return true;
  if (!t->initialized || t->rate_generation != sample_rate_generation) {
    t->initialized = 1;
    t->rate_generation = sample_rate_generation;
    t->bytes_until_sample = next_sample_distance();
  }
  t->bytes_until_sample -= (__s64)size;
  if (t->bytes_until_sample > 0) return false;
  t->bytes_until_sample = next_sample_distance();
  return true;
}

/* What a sampled allocation of `size` bytes stands for among all allocations, at mean distance
 * `rate`: it was sampled with probability p = 1 - exp(-size / rate), so it counts 1/p allocations
 * and size/p bytes (the Horvitz-Thompson estimate: unbiased for each allocation, whatever the mix
 * of sizes under one stack and whatever rate was in force when it was drawn). Go instead divides a
 * stack's totals by p of their average size, which counts mixed sizes 4.8x too few (16 B-1 MiB).
 * size/p = rate h(x) with h(x) = x / (1 - exp(-x)), x = size / rate: h is smooth (h(0) = 1,
 * 0 < h' < 1), so a table at steps of 1/64 with linear interpolation is exact to 1e-5; h(x) = x
 * from x = 16 on (p = 1). */
static __always_inline void sample_weight(__u64 size, __u64 rate, __u64 *count_q16, __u64 *bytes) {
  if (rate <= 1 || size == 0) {
    *count_q16 = 1 << 16;
    *bytes = size;
    return;
  }
  if (size > (1ull << 40)) size = 1ull << 40;                    /* keeps size << 16 in range */
  const __u64 x_q16 = (size << 16) / rate;
  if (x_q16 >= (__u64)16 << 16) {
    *count_q16 = 1 << 16;
    *bytes = size;
    return;
  }
  const __u32 step = 65536 / PROFD_SIZE_WEIGHT_STEPS;
  __u32 i = (__u32)(x_q16 / step);
  if (i >= PROFD_SIZE_WEIGHT_TABLE_SIZE - 1) i = PROFD_SIZE_WEIGHT_TABLE_SIZE - 2;
  const __u64 frac = x_q16 - (__u64)i * step;
  const __u64 lo = size_weight[i], hi = size_weight[i + 1];
  const __u64 h_q16 = lo + ((hi - lo) * frac) / step;
  *bytes = (rate * h_q16) >> 16;
  *count_q16 = (*bytes << 16) / size;
}

/* True when the call comes from inside the allocator's own functions (realloc(NULL, n) → malloc). */
static __always_inline bool called_by_allocator(__u32 pid, __u64 return_address) {
  const struct profd_allocator_ranges *ranges = bpf_map_lookup_elem(&allocator_ranges, &pid);
  if (!ranges) return false;
  for (int i = 0; i < PROFD_MAX_ALLOCATOR_FUNCTIONS; i++) {
    if (i >= ranges->count) break;
    if (return_address >= ranges->start[i] && return_address < ranges->end[i]) return true;
  }
  return false;
}

static __always_inline void peak_event(__u32 kind, __u32 pid, __u64 address,
                                       const struct profd_live_block *block) {
  struct profd_heap_event *e = bpf_ringbuf_reserve(&heap_events, sizeof(*e), 0);
  if (!e) {
    heap_stat(PROFD_HEAP_EVENTS_LOST);
    return;
  }
  e->kind = kind;
  e->pid = pid;
  e->address = address;
  if (block)
    e->block = *block;
  else
    __builtin_memset(&e->block, 0, sizeof(e->block));
  bpf_ringbuf_submit(e, 0);
}

static __always_inline void forget_block(__u32 pid, __u64 address) {
  /* Closing a link does not stop its probes at once: frees that run after the daemon detached
   * would empty the live set it is about to read (measured: a program that keeps its last 128
   * blocks and frees the oldest showed none in use). Frees count only while attached. */
  if (!probes_attached) return;
  struct profd_live_block_key key = {.pid = pid, .address = address};
  if (bpf_map_delete_elem(&live, &key) == 0 && track_peak)
    peak_event(PROFD_HEAP_EVENT_FREE, pid, address, 0);
}

/* Counts a sampled allocation at its stack and remembers its block until it is freed. */
static __always_inline void record_allocation(__u32 pid, __u32 tid, __u64 user_stack_id,
                                              __u64 address, __u64 size, __u64 count_q16,
                                              __u64 bytes) {
  struct profd_sample_key key = {};
  key.pid = pid;
  key.tid = tid;
  key.user_stack_id = user_stack_id;
  bpf_get_current_comm(key.thread_comm, sizeof(key.thread_comm));
  profd_add_samples(&key, count_q16, bytes);

  struct profd_live_block_key block_key = {.pid = pid, .address = address};
  struct profd_live_block block = {
      .key = key, .size = size, .estimated_count_q16 = count_q16, .estimated_bytes = bytes};
  long err = bpf_map_update_elem(&live, &block_key, &block, BPF_ANY);
  if (err) profd_count(err == -E2BIG ? PROFD_COUNTER_LIVE_MAP_FULL : PROFD_COUNTER_LIVE_STORE_FAILED);
  else if (track_peak)
    peak_event(PROFD_HEAP_EVENT_ALLOC, pid, address, &block);
}

/* A sampled allocation returned: count it and remember its block. */
static __always_inline int allocation_returned(struct pt_regs *ctx, __u32 pid, __u32 tid) {
  struct profd_heap_thread *t = bpf_task_storage_get(&heap_threads, bpf_get_current_task_btf(), 0, 0);
  __u64 *cookie = bpf_session_cookie();
  if (!t || !cookie || *cookie != t->call) return 0; /* not the call this thread sampled last */
  t->pending = 0;
  __u64 address = PT_REGS_RC(ctx);
  if (t->out_pointer) { /* posix_memalign returns 0 and writes the address */
    if (address != 0 || bpf_probe_read_user(&address, sizeof(address), (void *)t->out_pointer))
      address = 0;
  }
  if (!address) return 0;
  record_allocation(pid, tid, t->user_stack_id, address, t->size, t->estimated_count_q16,
                    t->estimated_bytes);
  return 0;
}

/* Returns 0 to have the return probe run for this call, 1 not to. */
SEC("uprobe.session")
int profd_heap_call(struct pt_regs *ctx) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  __u32 pid = pid_tgid >> 32;
  if (!profd_is_target(pid)) return 1;
  if (bpf_session_is_return()) {
    heap_stat(PROFD_HEAP_ALLOC_RETURNS);
    return allocation_returned(ctx, pid, (__u32)pid_tgid);
  }
  const __u64 function = bpf_get_attach_cookie(ctx);
  heap_stat(function == PROFD_HEAP_FREE ? PROFD_HEAP_FREE_CALLS : PROFD_HEAP_ALLOC_CALLS);
  const __u64 sp = PT_REGS_SP(ctx);
  __u64 return_address = 0;
  bpf_probe_read_user(&return_address, sizeof(return_address), (void *)sp);
  if (called_by_allocator(pid, return_address)) {
    heap_stat(PROFD_HEAP_NESTED_CALLS);
    return 1;
  }
  struct profd_heap_thread *t = bpf_task_storage_get(&heap_threads, bpf_get_current_task_btf(), 0,
                                                     BPF_LOCAL_STORAGE_GET_F_CREATE);
  /* A tail call of a sampled call (glibc's reallocarray jumps to realloc) enters in the same frame,
   * whose return address the sampled call's return probe has replaced: it is that call, not another. */
  if (t && t->pending && sp == t->entry_sp && return_address != t->entry_return_address) {
    heap_stat(PROFD_HEAP_NESTED_CALLS);
    return 1;
  }
  /* Read once, at fixed offsets: the verifier refuses a context load through a computed pointer. */
  const __u64 arg1 = PT_REGS_PARM1(ctx);
  const __u64 arg2 = PT_REGS_PARM2(ctx);
  const __u64 arg3 = PT_REGS_PARM3(ctx);
  __u64 size = 0, old_pointer = 0, out_pointer = 0;
  switch (function) {
    case PROFD_HEAP_FREE:
      if (arg1) forget_block(pid, arg1);
      return 1;
    case PROFD_HEAP_MALLOC:
    case PROFD_HEAP_VALLOC:
      size = arg1;
      break;
    case PROFD_HEAP_CALLOC:
      size = arg1 * arg2;
      break;
    case PROFD_HEAP_REALLOC:
      old_pointer = arg1;
      size = arg2;
      break;
    case PROFD_HEAP_REALLOCARRAY:
      old_pointer = arg1;
      size = arg2 * arg3;
      break;
    case PROFD_HEAP_ALIGNED_ALLOC:
      size = arg2;
      break;
    case PROFD_HEAP_POSIX_MEMALIGN:
      out_pointer = arg1;
      size = arg3;
      break;
    default:
      return 1;
  }
  /* realloc ends the old block (a failed realloc keeps it: rare, and then it is just not counted) */
  if (old_pointer) forget_block(pid, old_pointer);

  if (!probes_attached || !t || !take_sample(t, size)) return 1;
  profd_count(PROFD_COUNTER_SAMPLES);
  /* The rate the thread's distance was drawn at: a new rate takes effect with a new draw. */
  sample_weight(size, sample_rate, &t->estimated_count_q16, &t->estimated_bytes);
  __u64 *cookie = bpf_session_cookie();
  if (!cookie) return 1;
  t->call += 1;
  *cookie = t->call;
  t->size = size;
  t->out_pointer = out_pointer;
  t->entry_sp = sp;
  t->entry_return_address = return_address;
  t->pending = 1;
  t->user_stack_id = profd_capture_stack(ctx, 1);
  return 0;
}

/* profd's preload sampler (preload/allocation_sampler.c), in a command profd launched: it drew the
 * sample in the process, and only a sampled allocation comes here, at a label inside the interposer
 * the program called, with the block's address, its size and the rate its distance was drawn at in
 * the first three argument registers. (Session programs for the uprobe_multi link; never a return.) */
SEC("uprobe.session")
int profd_preload_sampled(struct pt_regs *ctx) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  __u32 pid = pid_tgid >> 32;
  if (!profd_is_target(pid)) return 1;
  const __u64 address = PT_REGS_PARM1(ctx);
  const __u64 size = PT_REGS_PARM2(ctx);
  const __u64 rate = PT_REGS_PARM3(ctx);
  heap_stat(PROFD_HEAP_ALLOC_RETURNS);
  profd_count(PROFD_COUNTER_SAMPLES);
  __u64 count_q16 = 0, bytes = 0;
  sample_weight(size, rate, &count_q16, &bytes);
  record_allocation(pid, (__u32)pid_tgid, profd_capture_stack(ctx, 1), address, size, count_q16,
                    bytes);
  return 1;
}

/* The preload sampler's free of a block it sampled (its address in the first argument register). */
SEC("uprobe.session")
int profd_preload_freed(struct pt_regs *ctx) {
  __u32 pid = bpf_get_current_pid_tgid() >> 32;
  if (!profd_is_target(pid)) return 1;
  heap_stat(PROFD_HEAP_FREE_CALLS);
  forget_block(pid, PT_REGS_PARM1(ctx));
  return 1;
}

/* A task-clock event on each target thread, user mode only (exclude_kernel: the kernel drops the
 * samples that land in kernel mode before this runs). Forked children inherit the event; they
 * are not targets. */
SEC("perf_event")
int profd_heap_user_tick(void *ctx) {
  __u32 pid = bpf_get_current_pid_tgid() >> 32;
  if (!bpf_map_lookup_elem(&allocator_ranges, &pid)) return 0;
  __sync_fetch_and_add(&user_ticks[probes_attached ? 1 : 0], 1);
  return 0;
}

/* Attached to a function of profd's own while it measures what an entry (and a return) probe costs. */
SEC("uprobe.session")
int profd_calibrate(struct pt_regs *ctx) { return calibrate_return ? 0 : 1; }

char LICENSE[] SEC("license") = "GPL";

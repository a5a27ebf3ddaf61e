/* The ABI shared by profd's BPF programs and the C++ daemon: map keys, values and counter ids.
 * Fixed-width types only; every struct's size is pinned so the two sides can never disagree. */
#ifndef PROFD_BPF_PROFD_ABI_H
#define PROFD_BPF_PROFD_ABI_H

#ifdef __bpf__
/* vmlinux.h provides __u32/__u64 for BPF. */
#else
#include <linux/types.h>
#endif

/* Frames kept per stack, user and kernel alike (the kernel's perf_event_max_stack default). */
#define PROFD_MAX_FRAMES 127
#define PROFD_COMM_LEN 16

/* Stack ids are 64-bit hashes of the frames; 0 means "no stack" (kernel thread, or capture failed). */
struct profd_stack {
  __u64 ips[PROFD_MAX_FRAMES];
  __u32 len;   /* frames used */
  __u32 flags; /* PROFD_STACK_* */
};

#define PROFD_STACK_TRUNCATED 1u /* the walk stopped at PROFD_MAX_FRAMES, outer frames are missing */

/* One key per distinct (thread, user stack, kernel stack) in the counts map. */
struct profd_sample_key {
  __u32 pid; /* tgid */
  __u32 tid;
  __u64 user_stack_id;
  __u64 kernel_stack_id;
  char thread_comm[PROFD_COMM_LEN];
};

/* Every way a sample can be lost or damaged; indexes into the per-CPU `counters` array. */
enum profd_counter {
  PROFD_COUNTER_SAMPLES = 0,          /* samples that passed the pid filter */
  PROFD_COUNTER_COUNTS_MAP_FULL,      /* sample dropped: counts map had no room for a new key */
  PROFD_COUNTER_COUNTS_STORE_FAILED,  /* sample dropped: the kernel could not store a new key now */
  PROFD_COUNTER_STACKS_MAP_FULL,      /* stack dropped: stacks map had no room (sample kept, stack id 0) */
  PROFD_COUNTER_STACKS_STORE_FAILED,  /* stack dropped: the kernel could not store it now (no memory) */
  PROFD_COUNTER_STACK_HASH_COLLISION, /* stack dropped: another stack is stored under the same hash */
  PROFD_COUNTER_USER_STACK_FAILED,    /* bpf_get_stack failed on a user stack */
  PROFD_COUNTER_KERNEL_STACK_FAILED,  /* bpf_get_stack failed on a kernel stack */
  PROFD_COUNTER_STACK_TRUNCATED,      /* a stack hit PROFD_MAX_FRAMES */
  PROFD_COUNTER_MAX,
};

#ifdef __cplusplus
static_assert(sizeof(struct profd_stack) == 8 * PROFD_MAX_FRAMES + 8, "profd_stack layout");
static_assert(sizeof(struct profd_sample_key) == 40, "profd_sample_key layout");
#else
_Static_assert(sizeof(struct profd_stack) == 8 * PROFD_MAX_FRAMES + 8, "profd_stack layout");
_Static_assert(sizeof(struct profd_sample_key) == 40, "profd_sample_key layout");
#endif

#endif /* PROFD_BPF_PROFD_ABI_H */

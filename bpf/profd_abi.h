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

/* What a counts key accumulates: events, and their total weight (CPU nanoseconds, blocked nanoseconds). */
struct profd_sample_value {
  __u64 count;
  __u64 total;
};

/* A CPU's sampling period as the daemon last set it (the CPU sampler varies it), indexed by CPU in
 * `cpu_periods`: the period in nanoseconds, and when (CLOCK_MONOTONIC ns) the change restarted the
 * CPU's timer, cutting its running period short. */
struct profd_cpu_period {
  __u64 period_ns;
  __u64 restarted_ns;
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
  PROFD_COUNTER_UNWIND_NO_MAPPING,    /* a pc outside the process's known mappings: frame pointers used */
  PROFD_COUNTER_UNWIND_NO_ROW,        /* a pc no unwind row covers: leaf rule or frame pointers */
  PROFD_COUNTER_UNWIND_TABLE_MISSING, /* a mapping's table is not loaded: frame pointers used */
  PROFD_COUNTER_UNWIND_READ_FAILED,   /* reading the user stack failed: the stack ends there */
  PROFD_COUNTER_LIVE_MAP_FULL,        /* heap: a sampled block not remembered, live map full */
  PROFD_COUNTER_LIVE_STORE_FAILED,    /* heap: a sampled block not remembered (no memory) */
  PROFD_COUNTER_PYTHON_NO_THREAD,     /* a Python thread's state not found: eval frames kept native */
  PROFD_COUNTER_PYTHON_READ_FAILED,   /* a Python frame unreadable: its chain ends there */
  PROFD_COUNTER_PYTHON_TRUNCATED,     /* a thread's Python frames beyond PROFD_PYTHON_MAX_FRAMES */
  PROFD_COUNTER_PYTHON_CODE_DROPPED,  /* a new code object not queued (queue full): read at the end */
  PROFD_COUNTER_MAX,
};

/* Where a CPU sample's BPF time goes, with `profd --bpf-stats` (the CPU sampler's phase_timing):
 * nanoseconds per phase summed per CPU in `phase_nanos`, and the samples timed. */
enum profd_phase {
  PROFD_PHASE_USER_WALK = 0, /* unwinding the user stack */
  PROFD_PHASE_USER_STORE,    /* hashing it and storing it in `stacks` */
  PROFD_PHASE_KERNEL_WALK,   /* bpf_get_stack of the kernel stack */
  PROFD_PHASE_KERNEL_STORE,  /* hashing and storing it */
  PROFD_PHASE_COUNT,         /* the thread's name and the counts map's update */
  PROFD_PHASE_SAMPLES,       /* not a phase: the samples timed */
  PROFD_PHASE_LAST_MARK,     /* not a phase: when the running phase began */
  PROFD_PHASE_MAX,
};

/* ---- block and mutex ---- */

/* What switch_out.bpf.h keeps per target thread (by tid): the latest switch-out it saw, and the wait
 * that thread is in, if any. The daemon reads it at the end of a window for waits that ended after the
 * thread's last switch-out (see offcpu_collector.cc). */
struct profd_thread_switch {
  __u32 pid; /* tgid */
  __u32 waiting; /* 1: a counted wait began at wait_since_nanos and has not been charged yet */
  __u64 last_exec_nanos; /* the thread's CPU time (sum_exec_runtime) at its latest switch-out */
  __u64 wait_since_nanos; /* bpf_ktime_get_ns() when the wait began (CLOCK_MONOTONIC) */
  __u64 wait_exec_nanos; /* its CPU time then */
  __u64 user_stack_id;
  __u64 kernel_stack_id;
};

/* ---- heap and allocs ---- */

#define PROFD_EXP_TABLE_SIZE 1024 /* entries of heap.bpf.c's exponential table */
/* heap.bpf.c's table of h(x) = x / (1 - exp(-x)) at x = i / 64 for i = 0 .. 1024 (x < 16). */
#define PROFD_SIZE_WEIGHT_STEPS 64
#define PROFD_SIZE_WEIGHT_TABLE_SIZE (16 * PROFD_SIZE_WEIGHT_STEPS + 1)

/* A sampled block still allocated, by process and address. */
struct profd_live_block_key {
  __u32 pid;
  __u32 reserved;
  __u64 address;
};

struct profd_live_block {
  struct profd_sample_key key; /* where it was allocated */
  __u64 size;
  /* What the block stands for among all allocations, by the probability it had of being sampled
   * (see heap.bpf.c): allocations in 1/65536ths, and bytes. */
  __u64 estimated_count_q16;
  __u64 estimated_bytes;
};

/* heap.bpf.c's events for the heap profile's peak (track_peak): a sampled block allocated (with what
 * it stands for) or freed, in order, through a ring buffer. */
enum profd_heap_event_kind {
  PROFD_HEAP_EVENT_ALLOC = 1,
  PROFD_HEAP_EVENT_FREE = 2,
};
struct profd_heap_event {
  __u32 kind;
  __u32 pid;
  __u64 address;
  struct profd_live_block block; /* PROFD_HEAP_EVENT_ALLOC */
};

/* The allocator entry points, as attach cookies of heap.bpf.c's program. */
enum profd_heap_function {
  PROFD_HEAP_MALLOC = 1,
  PROFD_HEAP_CALLOC,
  PROFD_HEAP_REALLOC,
  PROFD_HEAP_REALLOCARRAY,
  PROFD_HEAP_POSIX_MEMALIGN,
  PROFD_HEAP_ALIGNED_ALLOC, /* aligned_alloc(alignment, size), memalign(alignment, size) */
  PROFD_HEAP_VALLOC,        /* valloc(size), pvalloc(size) */
  PROFD_HEAP_FREE,
};

#define PROFD_MAX_ALLOCATOR_FUNCTIONS 32

/* Where a process's probed allocator functions are (runtime addresses [start, end)): a call whose
 * return address is inside one of them is the allocator calling itself (realloc(NULL, n) calls malloc)
 * and is not counted again. */
struct profd_allocator_ranges {
  __u32 count;
  __u32 reserved;
  __u64 start[PROFD_MAX_ALLOCATOR_FUNCTIONS];
  __u64 end[PROFD_MAX_ALLOCATOR_FUNCTIONS];
};

/* Probe hits, per-CPU in heap_stats: what the duty-cycle controller prices. */
enum profd_heap_stat {
  PROFD_HEAP_ALLOC_CALLS = 0, /* entry probes of allocation functions */
  PROFD_HEAP_ALLOC_RETURNS,   /* return probes (only sampled allocations have one) */
  PROFD_HEAP_FREE_CALLS,      /* free() probes */
  PROFD_HEAP_NESTED_CALLS,    /* the allocator calling itself: not counted */
  PROFD_HEAP_EVENTS_LOST,     /* peak events the ring buffer had no room for */
  PROFD_HEAP_STAT_MAX,
};

/* Values of the process_events map. */
enum profd_process_event {
  PROFD_PROCESS_EXEC = 1,
  PROFD_PROCESS_EXIT = 2,
  PROFD_PROCESS_FORK = 3, /* a target forked it (follow_forks): it is a target now */
};

/* ---- DWARF-based unwinding ----
 * Userspace turns each ELF file's .eh_frame/.debug_frame into a compact table of rows, sorted by pc, one
 * BPF array per file; the unwinder finds the row of a pc by binary search and computes the caller's
 * registers from it. x86-64 only: the return address is always at CFA - 8. */

enum profd_cfa_type {
  PROFD_CFA_NONE = 0,   /* no unwind information covers this pc (a gap, or a rule we cannot express) */
  PROFD_CFA_RSP = 1,    /* CFA = rsp + cfa_offset */
  PROFD_CFA_RBP = 2,    /* CFA = rbp + cfa_offset */
  PROFD_CFA_PLT = 3,    /* PLT stubs: CFA = rsp + cfa_offset + ((rip & 15) >= 11 ? 8 : 0) */
  PROFD_CFA_SIGNAL = 4, /* signal trampoline: rsp, rbp and rip are read from the ucontext at rsp */
  PROFD_CFA_END = 5,    /* outermost frame: the return address is undefined (e.g. _start) */
};

enum profd_rbp_type {
  PROFD_RBP_UNCHANGED = 0, /* rbp keeps its value in the caller (same value, or no rule) */
  PROFD_RBP_AT_CFA = 1,    /* the caller's rbp was saved at CFA + rbp_offset */
  PROFD_RBP_UNDEFINED = 2, /* the caller's rbp cannot be recovered */
};

/* One row: the rule for pcs from `pc` (ELF virtual address) up to the next row's pc. */
struct profd_unwind_row {
  __u64 pc;
  __s32 cfa_offset;
  __s16 rbp_offset;
  __u8 cfa_type; /* enum profd_cfa_type */
  __u8 rbp_type; /* enum profd_rbp_type */
};

#define PROFD_MAX_UNWIND_MAPPINGS 256

/* One executable mapping of a process, as the unwinder sees it. */
struct profd_unwind_mapping {
  __u64 start; /* runtime addresses [start, end) */
  __u64 end;
  __u64 bias;      /* runtime address - ELF virtual address */
  __u64 table_id;  /* key of its rows in unwind_tables; 0: walk this code with frame pointers */
  __u32 row_count; /* rows in that table */
  __u32 reserved;
};

/* The executable mappings of one process, sorted by start. */
struct profd_process_unwind {
  __u32 count;
  /* Changes with every publication of a process's mappings (never 0): the BPF row cache keys on it,
   * so rows found under a pid's previous mappings (before an exec or dlopen) are not used again. */
  __u32 generation;
  struct profd_unwind_mapping mappings[PROFD_MAX_UNWIND_MAPPINGS];
};

#ifdef __cplusplus
static_assert(sizeof(struct profd_unwind_row) == 16, "profd_unwind_row layout");
static_assert(sizeof(struct profd_unwind_mapping) == 40, "profd_unwind_mapping layout");
#else
_Static_assert(sizeof(struct profd_unwind_row) == 16, "profd_unwind_row layout");
_Static_assert(sizeof(struct profd_unwind_mapping) == 40, "profd_unwind_mapping layout");
#endif

/* ---- Python frames (cpu, block, mutex, threadcreate) ----
 * For a CPython process the daemon publishes where its runtime is and its version's struct offsets
 * (python_processes, by tgid). The unwinder replaces each native frame in _PyEval_EvalFrameDefault by
 * the Python frames that call runs: the thread's _PyInterpreterFrame chain from
 * cframe->current_frame, up to and including the next frame with is_entry set. */

#define PROFD_PYTHON_MAX_FRAMES 64

/* A Python frame in profd_stack.ips: top nibble 0x5 (above every user address, 57-bit ones
 * included, and below the kernel half), the code object's address / 8 in bits 16..59 (47-bit
 * addresses; objects are 8-aligned), the instruction's offset in 2-byte code units from
 * co_code_adaptive in bits 0..15 (saturated at 0xffff: line unknown). */
#define PROFD_PYTHON_FRAME_TAG 0x5000000000000000ULL
#define PROFD_PYTHON_FRAME_TAG_MASK 0xf000000000000000ULL
#define PROFD_PYTHON_CODE_SHIFT 16
#define PROFD_PYTHON_CODE_MASK ((1ULL << 44) - 1)
#define PROFD_PYTHON_OFFSET_MASK 0xffffULL

/* The profd_stack.ips value of a Python frame running code object `code`, whose prev_instr is
 * `prev_instr` (the instruction running, or last run; before the first one at a frame's start) and
 * whose instructions start `code_adaptive` bytes in. The BPF walk and the daemon's thread dump
 * both encode with it. */
static inline __u64 profd_python_frame_value(__u64 code, __u64 prev_instr, __u64 code_adaptive) {
  const __u64 first = code + code_adaptive;
  __u64 offset = prev_instr >= first ? (prev_instr - first) / 2 : 0;
  if (offset > PROFD_PYTHON_OFFSET_MASK) offset = PROFD_PYTHON_OFFSET_MASK;
  return PROFD_PYTHON_FRAME_TAG |
         (((code >> 3) & PROFD_PYTHON_CODE_MASK) << PROFD_PYTHON_CODE_SHIFT) | offset;
}

/* Byte offsets into one CPython version's structs (daemon/process/python_offsets.h has the
 * tables). The first group is what BPF reads; the rest is for the daemon's symbolization. */
struct profd_python_offsets {
  __u16 runtime_tstate_current;    /* _PyRuntimeState.gilstate.tstate_current: the GIL holder */
  __u16 runtime_interpreters_head; /* _PyRuntimeState.interpreters.head */
  __u16 interp_threads_head;       /* PyInterpreterState.threads.head */
  __u16 tstate_next;               /* PyThreadState.next */
  __u16 tstate_cframe;             /* PyThreadState.cframe */
  __u16 tstate_thread_id;          /* PyThreadState.thread_id: pthread_self(), fsbase on x86-64 */
  __u16 cframe_current_frame;      /* _PyCFrame.current_frame */
  __u16 frame_code;                /* _PyInterpreterFrame.f_code */
  __u16 frame_previous;            /* _PyInterpreterFrame.previous */
  __u16 frame_prev_instr;          /* _PyInterpreterFrame.prev_instr */
  __u16 frame_is_entry;            /* _PyInterpreterFrame.is_entry (a bool) */
  __u16 code_code_adaptive;        /* PyCodeObject.co_code_adaptive: the instructions */
  __u16 code_qualname;             /* PyCodeObject.co_qualname */
  __u16 code_filename;             /* PyCodeObject.co_filename */
  __u16 code_firstlineno;          /* PyCodeObject.co_firstlineno (an int) */
  __u16 code_linetable;            /* PyCodeObject.co_linetable (bytes) */
  __u16 object_type;               /* PyObject.ob_type */
  __u16 var_size;                  /* PyVarObject.ob_size */
  __u16 bytes_data;                /* PyBytesObject.ob_sval */
  __u16 unicode_length;            /* PyASCIIObject.length */
  __u16 unicode_state;             /* PyASCIIObject.state (bit 5 compact, bit 6 ascii) */
  __u16 unicode_ascii_data;        /* sizeof(PyASCIIObject): a compact ASCII string's characters */
  __u16 unicode_utf8_length;       /* PyCompactUnicodeObject.utf8_length */
  __u16 unicode_utf8;              /* PyCompactUnicodeObject.utf8 */
  __u16 unicode_compact_data;      /* sizeof(PyCompactUnicodeObject): a compact non-ASCII string's */
};

struct profd_python_process {
  __u64 runtime;    /* runtime address of _PyRuntime */
  __u64 eval_start; /* runtime addresses [start, end) of _PyEval_EvalFrameDefault */
  __u64 eval_end;
  struct profd_python_offsets offsets;
};

/* A code object the walk met for the first time in a process (python_new_codes): the daemon reads
 * it while the process lives, instead of re-reading every stack. start_ticks tells a reused pid
 * apart: the process's start in clock ticks since boot, /proc/PID/stat's starttime. */
struct profd_python_code_seen {
  __u32 pid; /* tgid */
  __u32 reserved;
  __u64 start_ticks;
  __u64 code; /* the code object's address */
};

/* The kernel's USER_HZ: /proc/PID/stat's starttime is start_boottime / (1e9 / USER_HZ). */
#define PROFD_NANOS_PER_CLOCK_TICK 10000000ULL

#ifdef __cplusplus
static_assert(sizeof(struct profd_stack) == 8 * PROFD_MAX_FRAMES + 8, "profd_stack layout");
static_assert(sizeof(struct profd_sample_key) == 40, "profd_sample_key layout");
static_assert(sizeof(struct profd_live_block) == 64, "profd_live_block layout");
static_assert(sizeof(struct profd_heap_event) == 80, "profd_heap_event layout");
static_assert(sizeof(struct profd_thread_switch) == 48, "profd_thread_switch layout");
static_assert(sizeof(struct profd_cpu_period) == 16, "profd_cpu_period layout");
static_assert(sizeof(struct profd_python_offsets) == 50, "profd_python_offsets layout");
static_assert(sizeof(struct profd_python_process) == 80, "profd_python_process layout");
static_assert(sizeof(struct profd_python_code_seen) == 24, "profd_python_code_seen layout");
#else
_Static_assert(sizeof(struct profd_stack) == 8 * PROFD_MAX_FRAMES + 8, "profd_stack layout");
_Static_assert(sizeof(struct profd_sample_key) == 40, "profd_sample_key layout");
_Static_assert(sizeof(struct profd_live_block) == 64, "profd_live_block layout");
_Static_assert(sizeof(struct profd_heap_event) == 80, "profd_heap_event layout");
_Static_assert(sizeof(struct profd_thread_switch) == 48, "profd_thread_switch layout");
_Static_assert(sizeof(struct profd_cpu_period) == 16, "profd_cpu_period layout");
_Static_assert(sizeof(struct profd_python_offsets) == 50, "profd_python_offsets layout");
_Static_assert(sizeof(struct profd_python_process) == 80, "profd_python_process layout");
_Static_assert(sizeof(struct profd_python_code_seen) == 24, "profd_python_code_seen layout");
#endif

#endif /* PROFD_BPF_PROFD_ABI_H */

/* profd's allocation sampler, preloaded (LD_PRELOAD) into the commands profd launches for heap and
 * allocs profiles. It interposes the allocator's entry points, draws the Poisson byte distance on
 * every call (nanoseconds: a thread-local countdown) and passes each call on to the allocator the
 * program would have used (dlsym RTLD_NEXT: glibc, or jemalloc and the like loaded after it). Only a
 * sampled allocation, and the free of a sampled block, reach profd: at a labelled instruction
 * (profd_preload_sampled_*, profd_preload_freed_*) where profd has a uprobe, with the block's
 * address, its size and the rate it was drawn at in the first three argument registers. The BPF
 * program there captures the stack as at an allocator's entry. One trap per sample, not per call.
 *
 * A free must know whether its block was sampled: a table of sampled blocks, one cache line per
 * bucket of 8 addresses, looked up without a lock. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))
#define TLS __thread __attribute__((tls_model("initial-exec")))

/* The labels profd attaches to: asm statements with the values in rdi, rsi and rdx. */
#define SAMPLE_POINT(name, address, size, rate)                                          \
  __asm__ volatile(".globl profd_preload_sampled_" #name "\n"                            \
                   "profd_preload_sampled_" #name ":\n\tnop"                             \
                   :                                                                     \
                   : "D"(address), "S"(size), "d"(rate)                                  \
                   : "memory")
#define FREE_POINT(name, address)                                                        \
  __asm__ volatile(".globl profd_preload_freed_" #name "\n"                              \
                   "profd_preload_freed_" #name ":\n\tnop"                               \
                   :                                                                     \
                   : "D"(address)                                                        \
                   : "memory")

/* ---- the allocator underneath ---- */

static void *(*next_malloc)(size_t);
static void (*next_free)(void *);
static void *(*next_calloc)(size_t, size_t);
static void *(*next_realloc)(void *, size_t);
static int (*next_posix_memalign)(void **, size_t, size_t);
static void *(*next_aligned_alloc)(size_t, size_t);
static void *(*next_memalign)(size_t, size_t);
static void *(*next_valloc)(size_t);
static void *(*next_pvalloc)(size_t);

/* What dlsym itself allocates while it resolves them comes from here and is never freed. */
static char bootstrap[64 * 1024] __attribute__((aligned(64)));
static size_t bootstrap_used;
static int resolving;

static void *bootstrap_alloc(size_t size) {
  size = (size + 63) & ~(size_t)63;
  const size_t at = __atomic_fetch_add(&bootstrap_used, size, __ATOMIC_RELAXED);
  if (at > sizeof(bootstrap) || size > sizeof(bootstrap) - at) return NULL;
  return bootstrap + at;
}

static int in_bootstrap(const void *p) {
  return (const char *)p >= bootstrap && (const char *)p < bootstrap + sizeof(bootstrap);
}

static uint64_t sample_rate = 512 * 1024; /* PROFD_SAMPLE_RATE; <= 1: every allocation */
static int sampling = 1;

static void resolve(void) {
  if (next_malloc || resolving) return;
  resolving = 1;
  next_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
  next_calloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
  next_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
  next_posix_memalign = (int (*)(void **, size_t, size_t))dlsym(RTLD_NEXT, "posix_memalign");
  next_aligned_alloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "aligned_alloc");
  next_memalign = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "memalign");
  next_valloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "valloc");
  next_pvalloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "pvalloc");
  const char *rate = getenv("PROFD_SAMPLE_RATE");
  if (rate && *rate) sample_rate = strtoull(rate, NULL, 10);
  __atomic_store_n(&next_malloc, (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc"), __ATOMIC_RELEASE);
  resolving = 0;
  if (!next_malloc || !next_free || !next_calloc || !next_realloc) sampling = 0;
}

/* The process profd launched and probes: the first to load the sampler, which leaves its pid in
 * PROFD_PRELOAD_PID (an exec in that process keeps sampling). The processes it starts inherit
 * LD_PRELOAD, but a heap profile does not follow them: there the sampler stands aside (every call
 * passed on unsampled, no trap) and takes itself out of LD_PRELOAD, so that what they start does
 * not load it at all. A child forked without an exec stops sampling at its first sample. */
static pid_t launched_pid;

static int is_named(const char *path, size_t length, const char *name) {
  const size_t n = strlen(name);
  return length >= n && memcmp(path + length - n, name, n) == 0 &&
         (length == n || path[length - n - 1] == '/');
}

static int is_sampler_path(const char *path, size_t length) {
  return is_named(path, length, "libprofd_preload.so") ||
         is_named(path, length, "libprofd_preload_jemalloc.so");
}

/* LD_PRELOAD without this sampler (its entries are separated by colons or spaces). */
static void leave_ld_preload(void) {
  const char *preload = getenv("LD_PRELOAD");
  if (!preload) return;
  const size_t length = strlen(preload);
  char *kept = next_malloc ? next_malloc(length + 1) : NULL;
  if (!kept) return;
  size_t used = 0;
  for (const char *p = preload; *p;) {
    const size_t n = strcspn(p, ": ");
    if (n > 0 && !is_sampler_path(p, n)) {
      if (used) kept[used++] = ':';
      memcpy(kept + used, p, n);
      used += n;
    }
    p += n;
    if (*p) p++;
  }
  kept[used] = '\0';
  if (used)
    setenv("LD_PRELOAD", kept, 1);
  else
    unsetenv("LD_PRELOAD");
  next_free(kept);
}

static void keep_to_the_launched_process(void) {
  const char *owner = getenv("PROFD_PRELOAD_PID");
  const pid_t self = getpid();
  if (!owner || !*owner) {
    char pid[24];
    char *end = pid + sizeof(pid);
    char *at = end;
    *--at = '\0';
    for (unsigned long v = (unsigned long)self; at == end - 1 || v; v /= 10) *--at = (char)('0' + v % 10);
    setenv("PROFD_PRELOAD_PID", at, 1);
    launched_pid = self;
    return;
  }
  launched_pid = (pid_t)strtol(owner, NULL, 10);
  if (launched_pid == self) return;
  sampling = 0;
  leave_ld_preload();
}

/* Resolved before the program's threads start (allocations made before come through resolve()). */
__attribute__((constructor)) static void start(void) {
  resolve();
  keep_to_the_launched_process();
}

/* ---- Poisson sampling by bytes, per thread ---- */

static TLS int64_t bytes_until_sample;
static TLS uint64_t random_state;
static TLS int inside; /* the allocator underneath calls back into us (rare): not sampled twice */

static uint64_t next_random(void) {
  if (random_state == 0) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    random_state = ((uint64_t)now.tv_nsec << 20) ^ (uint64_t)(uintptr_t)&random_state ^
                   (uint64_t)getpid() ^ 0x9e3779b97f4a7c15ull;
  }
  random_state ^= random_state >> 12; /* xorshift64* */
  random_state ^= random_state << 25;
  random_state ^= random_state >> 27;
  return random_state * 2685821657736338717ull;
}

/* -ln(u) for u uniform in (0, 1): u = m 2^e, ln m = 2 atanh((m - 1) / (m + 1)) by its series. */
static double minus_log_uniform(void) {
  double u = ((double)(next_random() >> 11) + 0.5) / 9007199254740992.0;
  int e = 0;
  while (u < 0.5) {
    u *= 2;
    e--;
  }
  const double z = (u - 1) / (u + 1), z2 = z * z;
  const double ln_m = 2 * z * (1 + z2 * (1.0 / 3 + z2 * (1.0 / 5 + z2 * (1.0 / 7 + z2 / 9))));
  return -(ln_m + e * 0.6931471805599453);
}

static int64_t next_distance(void) {
  return (int64_t)(minus_log_uniform() * (double)sample_rate) + 1;
}

/* True when this allocation of `size` bytes is sampled. */
static inline int take_sample(size_t size) {
  if (!sampling || inside) return 0;
  if (sample_rate > 1) {
    if (bytes_until_sample == 0) bytes_until_sample = next_distance();
    bytes_until_sample -= (int64_t)size;
    if (bytes_until_sample > 0) return 0;
    bytes_until_sample = next_distance();
  }
  if (launched_pid && getpid() != launched_pid) { /* a forked child: not profiled */
    sampling = 0;
    return 0;
  }
  return 1;
}

/* ---- the sampled blocks ---- */

#define BUCKET_SLOTS 8
#define BUCKETS (1u << 17) /* 8 MiB reserved, touched where used */
static uintptr_t (*sampled)[BUCKET_SLOTS];
static uint64_t untracked; /* samples whose bucket was full: their free is not seen */

/* How many sampled blocks' addresses hash to each of 65536 values: a free whose count is 0 (nearly
 * every free: the sampled blocks live at once are few) is no sampled block's, found in 64 KiB that
 * stay in the cache instead of a random line of the 8 MiB table. */
static uint8_t maybe_sampled[1u << 16];

static uint64_t address_hash(uintptr_t address) {
  return (uint64_t)address * 0x9e3779b97f4a7c15ull;
}

static uintptr_t (*bucket_of(uintptr_t address))[BUCKET_SLOTS] {
  return &sampled[address_hash(address) >> (64 - 17)];
}

static uint8_t *filter_of(uintptr_t address) {
  return &maybe_sampled[(address_hash(address) >> 20) & 0xffff];
}

static int remember(uintptr_t address) {
  if (!sampled) {
    void *table = mmap(NULL, sizeof(uintptr_t) * BUCKET_SLOTS * BUCKETS, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (table == MAP_FAILED) return 0;
    void *expected = NULL;
    if (!__atomic_compare_exchange_n((void **)&sampled, &expected, table, 0, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE))
      munmap(table, sizeof(uintptr_t) * BUCKET_SLOTS * BUCKETS);
  }
  uint8_t *filter = filter_of(address);
  if (__atomic_load_n(filter, __ATOMIC_RELAXED) == UINT8_MAX) {  /* saturated: untracked */
    __atomic_add_fetch(&untracked, 1, __ATOMIC_RELAXED);
    return 0;
  }
  uintptr_t *slots = *bucket_of(address);
  for (int i = 0; i < BUCKET_SLOTS; i++) {
    uintptr_t empty = 0;
    if (__atomic_compare_exchange_n(&slots[i], &empty, address, 0, __ATOMIC_RELEASE,
                                    __ATOMIC_RELAXED)) {
      __atomic_add_fetch(filter, 1, __ATOMIC_RELEASE);
      return 1;
    }
  }
  __atomic_add_fetch(&untracked, 1, __ATOMIC_RELAXED);
  return 0;
}

/* True (and forgotten) when `address` was a sampled block. Only its owner frees it. */
static inline int forget(uintptr_t address) {
  uint8_t *filter = filter_of(address);
  if (__builtin_expect(__atomic_load_n(filter, __ATOMIC_ACQUIRE) == 0, 1)) return 0;
  uintptr_t *slots = *bucket_of(address);
  for (int i = 0; i < BUCKET_SLOTS; i++) {
    if (__atomic_load_n(&slots[i], __ATOMIC_RELAXED) == address) {
      __atomic_store_n(&slots[i], 0, __ATOMIC_RELEASE);
      __atomic_sub_fetch(filter, 1, __ATOMIC_RELEASE);
      return 1;
    }
  }
  return 0;
}

/* An allocation returned `p` of `size` bytes: reported when sampled. Not inlined, so that each
 * label is in one function and the stack above it is the caller's. */
#define REPORT(name, p, size)                                          \
  do {                                                                 \
    if ((p) && take_sample(size)) {                                    \
      const uint64_t rate_ = sample_rate;                              \
      const size_t size_ = (size);                                     \
      remember((uintptr_t)(p));                                        \
      SAMPLE_POINT(name, (p), size_, rate_);                           \
    }                                                                  \
  } while (0)

#define FREED(name, p)                                  \
  do {                                                  \
    if ((p) && forget((uintptr_t)(p))) FREE_POINT(name, (p)); \
  } while (0)

/* ---- the interposers ---- */

EXPORT __attribute__((noinline)) void *malloc(size_t size) {
  if (__builtin_expect(!next_malloc, 0)) {
    resolve();
    if (!next_malloc) return bootstrap_alloc(size);
  }
  void *p = next_malloc(size);
  REPORT(malloc, p, size);
  return p;
}

EXPORT __attribute__((noinline)) void free(void *p) {
  if (!p || in_bootstrap(p)) return;
  if (__builtin_expect(!next_free, 0)) {
    resolve();
    if (!next_free) return;  /* while resolving: a block of dlsym's own, kept */
  }
  FREED(free, p);
  next_free(p);
}

EXPORT __attribute__((noinline)) void *calloc(size_t count, size_t size) {
  if (__builtin_expect(!next_calloc, 0)) {
    resolve();
    if (!next_calloc) {  /* dlsym's own calloc, while resolving: zeroed static memory */
      size_t bytes;
      if (__builtin_mul_overflow(count, size, &bytes)) return NULL;
      return bootstrap_alloc(bytes);
    }
  }
  void *p = next_calloc(count, size);
  size_t bytes;
  if (!__builtin_mul_overflow(count, size, &bytes)) REPORT(calloc, p, bytes);
  return p;
}

/* A block from the bootstrap area, moved to a real one. */
static void *leave_bootstrap(void *old, size_t size) {
  void *p = malloc(size);
  const size_t left = (size_t)(bootstrap + sizeof(bootstrap) - (char *)old);
  if (p) memcpy(p, old, size < left ? size : left);
  return p;
}

/* realloc's work, in each of its two entry points, so that the label is in the function the
 * program called (the stack above it is then the program's). */
#define REALLOC(name, old, size)                                                    \
  do {                                                                              \
    if ((old) && in_bootstrap(old)) return leave_bootstrap((old), (size));          \
    if (__builtin_expect(!next_realloc, 0)) resolve();                              \
    if (!next_realloc) return (old) ? NULL : malloc(size);                          \
    /* The old block ends (a failed realloc keeps it: it is then no longer tracked) */ \
    FREED(name, old);                                                               \
    inside++;                                                                       \
    void *p_ = next_realloc((old), (size));                                         \
    inside--;                                                                       \
    REPORT(name, p_, (size));                                                       \
    return p_;                                                                      \
  } while (0)

EXPORT __attribute__((noinline)) void *realloc(void *old, size_t size) {
  REALLOC(realloc, old, size);
}

EXPORT __attribute__((noinline)) void *reallocarray(void *old, size_t count, size_t size) {
  size_t bytes;
  if (__builtin_mul_overflow(count, size, &bytes)) {
    errno = ENOMEM;
    return NULL;
  }
  REALLOC(reallocarray, old, bytes);
}

EXPORT __attribute__((noinline)) int posix_memalign(void **out, size_t alignment, size_t size) {
  if (__builtin_expect(!next_posix_memalign, 0)) resolve();
  if (!next_posix_memalign) return ENOMEM;  /* while resolving, or not there */
  inside++;
  const int err = next_posix_memalign(out, alignment, size);
  inside--;
  if (err == 0) REPORT(posix_memalign, *out, size);
  return err;
}

EXPORT __attribute__((noinline)) void *aligned_alloc(size_t alignment, size_t size) {
  if (__builtin_expect(!next_aligned_alloc, 0)) resolve();
  if (!next_aligned_alloc) return NULL;  /* while resolving, or not there */
  inside++;
  void *p = next_aligned_alloc(alignment, size);
  inside--;
  REPORT(aligned_alloc, p, size);
  return p;
}

EXPORT __attribute__((noinline)) void *memalign(size_t alignment, size_t size) {
  if (__builtin_expect(!next_memalign, 0)) resolve();
  if (!next_memalign) return NULL;  /* while resolving, or not there */
  inside++;
  void *p = next_memalign(alignment, size);
  inside--;
  REPORT(memalign, p, size);
  return p;
}

EXPORT __attribute__((noinline)) void *valloc(size_t size) {
  if (__builtin_expect(!next_valloc, 0)) resolve();
  if (!next_valloc) return NULL;  /* while resolving, or not there */
  inside++;
  void *p = next_valloc(size);
  inside--;
  REPORT(valloc, p, size);
  return p;
}

EXPORT __attribute__((noinline)) void *pvalloc(size_t size) {
  if (__builtin_expect(!next_pvalloc, 0)) resolve();
  if (!next_pvalloc) return NULL;  /* while resolving, or not there */
  inside++;
  void *p = next_pvalloc(size);
  inside--;
  REPORT(pvalloc, p, size);
  return p;
}

#ifdef PROFD_JEMALLOC_API
/* jemalloc's own entry points, for a program that calls them (libprofd_preload_jemalloc.so, which
 * profd preloads instead of libprofd_preload.so where the command links or preloads jemalloc: a
 * program without jemalloc that looks for mallocx by a weak symbol must not find ours). mallocx and
 * rallocx allocate; rallocx, dallocx and sdallocx end blocks. xallocx resizes in place: the block
 * stays the same sampled one, with its first size. nallocx, sallocx and mallctl allocate nothing
 * and are left to jemalloc. */
static void *(*next_mallocx)(size_t, int);
static void *(*next_rallocx)(void *, size_t, int);
static void (*next_dallocx)(void *, int);
static void (*next_sdallocx)(void *, size_t, int);

/* Resolved once, before the program's threads start (the constructor), or at a first call. */
static void resolve_jemalloc(void) {
  if (next_mallocx) return;
  next_rallocx = (void *(*)(void *, size_t, int))dlsym(RTLD_NEXT, "rallocx");
  next_dallocx = (void (*)(void *, int))dlsym(RTLD_NEXT, "dallocx");
  next_sdallocx = (void (*)(void *, size_t, int))dlsym(RTLD_NEXT, "sdallocx");
  __atomic_store_n(&next_mallocx, (void *(*)(size_t, int))dlsym(RTLD_NEXT, "mallocx"),
                   __ATOMIC_RELEASE);
}

__attribute__((constructor)) static void start_jemalloc(void) { resolve_jemalloc(); }

EXPORT __attribute__((noinline)) void *mallocx(size_t size, int flags) {
  if (__builtin_expect(!next_mallocx, 0)) resolve_jemalloc();
  if (!next_mallocx) return NULL; /* no jemalloc underneath: an allocation failure */
  inside++;
  void *p = next_mallocx(size, flags);
  inside--;
  REPORT(mallocx, p, size);
  return p;
}

EXPORT __attribute__((noinline)) void *rallocx(void *old, size_t size, int flags) {
  if (__builtin_expect(!next_rallocx, 0)) resolve_jemalloc();
  if (!next_rallocx) return NULL;
  inside++;
  void *p = next_rallocx(old, size, flags);
  inside--;
  if (p) { /* a failed rallocx keeps the old block */
    FREED(rallocx, old);
    REPORT(rallocx, p, size);
  }
  return p;
}

EXPORT __attribute__((noinline)) void dallocx(void *p, int flags) {
  if (__builtin_expect(!next_dallocx, 0)) resolve_jemalloc();
  if (!next_dallocx) return;
  FREED(dallocx, p);
  next_dallocx(p, flags);
}

EXPORT __attribute__((noinline)) void sdallocx(void *p, size_t size, int flags) {
  if (__builtin_expect(!next_sdallocx, 0)) resolve_jemalloc();
  if (!next_sdallocx) return;
  FREED(sdallocx, p);
  next_sdallocx(p, size, flags);
}
#endif

/* How many samples could not be tracked to their free (for tests and the curious). */
EXPORT uint64_t profd_preload_untracked(void) { return __atomic_load_n(&untracked, __ATOMIC_RELAXED); }

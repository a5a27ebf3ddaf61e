// Allocates from known functions in known amounts, for the heap and allocs profiles.
// usage: heap-split MODE DELAY SECONDS [ITERATIONS_PER_SECOND]
//   split: each iteration allocate_and_free_large() mallocs and frees 3 x 64 KiB,
//          allocate_and_free_small() 1 x 64 KiB, leak_some() mallocs 32 KiB and never frees it:
//          allocated bytes 6:2:1, in use at the end only leak_some's.
//   peak:  once, transient_peak() holds 32 MiB and frees it, then leak_some() leaks 32 x 32 KiB:
//          the peak of live bytes is transient_peak's, what is live at the end leak_some's.
//   kinds: once, 100 calls each of calloc, realloc(NULL, n), reallocarray, posix_memalign,
//          aligned_alloc, memalign, valloc and C++ new, from one function per kind, all freed.
//   churn: malloc(64)/free as fast as possible in churn(); prints the pairs per second made.
//   sizes: malloc/free pairs as fast as possible in mixed_sizes(), sizes log-uniform from 16 B to
//          1 MiB (a fixed xorshift sequence); prints the calls and bytes it allocated.
//   ring:  as a cache or a queue does: keep_large() and keep_small() each malloc a block (3 x 32 KiB
//          and 32 KiB) and free the oldest of the last 64 each keeps, as fast as they can: what
//          is in use at any time, and at the end, is 3/4 keep_large's.
//   fixed: N malloc/free pairs (ITERATIONS_PER_SECOND is N here), each followed by WORK rounds of
//          arithmetic (the 5th argument); prints the seconds taken (the cost benchmark).
// It waits DELAY seconds first (for the profiler to attach) and runs for SECONDS.
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

namespace {

volatile unsigned char g_sink;
std::vector<void*> g_leaked;

// Touches every page, so the allocation is not optimized away and costs the CPU a real program's
// use of its memory would.
__attribute__((noinline)) void touch(void* p, size_t size) {
  unsigned char* bytes = static_cast<unsigned char*>(p);
  for (size_t i = 0; i < size; i += 4096) bytes[i] = static_cast<unsigned char>(i);
  g_sink = bytes[size - 1];
}

constexpr size_t kUnit = 64 * 1024;

}  // namespace

extern "C" {

__attribute__((noinline)) void allocate_and_free_large() {
  for (int i = 0; i < 3; i++) {
    void* p = malloc(kUnit);
    touch(p, kUnit);
    free(p);
  }
}

__attribute__((noinline)) void* keep_large() {
  void* p = malloc(3 * 32 * 1024);
  touch(p, 3 * 32 * 1024);
  return p;
}

__attribute__((noinline)) void* keep_small() {
  void* p = malloc(32 * 1024);
  touch(p, 32 * 1024);
  return p;
}

__attribute__((noinline)) void allocate_and_free_small() {
  void* p = malloc(kUnit);
  touch(p, kUnit);
  free(p);
}

__attribute__((noinline)) void leak_some() {
  void* p = malloc(kUnit / 2);
  touch(p, kUnit / 2);
  g_leaked.push_back(p);
}

// Holds 32 MiB (512 blocks of 64 KiB) at once, then frees it all.
__attribute__((noinline)) void transient_peak() {
  std::vector<void*> held;
  for (int i = 0; i < 512; i++) {
    held.push_back(malloc(kUnit));
    touch(held.back(), kUnit);
  }
  for (void* p : held) free(p);
}

__attribute__((noinline)) void use_calloc(std::vector<void*>* out) { out->push_back(calloc(10, 100)); }
__attribute__((noinline)) void use_realloc(std::vector<void*>* out) {
  out->push_back(realloc(nullptr, 1000));
}
__attribute__((noinline)) void use_reallocarray(std::vector<void*>* out) {
  out->push_back(reallocarray(nullptr, 10, 100));
}
__attribute__((noinline)) void use_posix_memalign(std::vector<void*>* out) {
  void* p = nullptr;
  if (posix_memalign(&p, 64, 1000) == 0) out->push_back(p);
}
__attribute__((noinline)) void use_aligned_alloc(std::vector<void*>* out) {
  out->push_back(aligned_alloc(64, 1024));
}
__attribute__((noinline)) void use_memalign(std::vector<void*>* out) {
  out->push_back(memalign(64, 1000));
}
__attribute__((noinline)) void use_valloc(std::vector<void*>* out) { out->push_back(valloc(1000)); }
__attribute__((noinline)) void use_new(std::vector<char*>* out) { out->push_back(new char[1000]); }

// Returns the malloc/free pairs made.
__attribute__((noinline)) long churn(std::chrono::steady_clock::time_point end) {
  long pairs = 0;
  while (std::chrono::steady_clock::now() < end) {
    for (int i = 0; i < 1000; i++) {
      void* p = malloc(64);
      static_cast<volatile unsigned char*>(p)[0] = 1;
      free(p);
    }
    pairs += 1000;
  }
  return pairs;
}

__attribute__((noinline)) void mixed_sizes(std::chrono::steady_clock::time_point end, long* calls,
                                           unsigned long long* bytes) {
  unsigned long long x = 88172645463325252ull;
  while (std::chrono::steady_clock::now() < end) {
    for (int i = 0; i < 100; i++) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      // 2^(4 + 16 u) bytes for u uniform in [0, 1): 16 B .. 1 MiB, as many of each magnitude.
      const double u = static_cast<double>(x >> 11) / 9007199254740992.0;
      const size_t size = static_cast<size_t>(std::exp2(4 + 16 * u));
      void* p = malloc(size);
      static_cast<volatile unsigned char*>(p)[0] = 1;
      free(p);
      *calls += 1;
      *bytes += size;
    }
  }
}

__attribute__((noinline)) void fixed_work(long pairs, long work) {
  volatile unsigned long x = 0;
  for (long n = 0; n < pairs; n++) {
    void* p = malloc(64 + (n & 255));
    static_cast<volatile unsigned char*>(p)[0] = 1;
    free(p);
    for (long w = 0; w < work; w++) x = x * 31 + w;
  }
}

}  // extern "C"

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr,
                 "usage: heap-split split|peak|kinds|churn|sizes|fixed DELAY SECONDS [N] [WORK]\n");
    return 2;
  }
  const std::string mode = argv[1];
  const double delay = atof(argv[2]);
  const double seconds = atof(argv[3]);
  const double rate = argc > 4 ? atof(argv[4]) : 200;
  std::this_thread::sleep_for(std::chrono::duration<double>(delay));
  const auto start = std::chrono::steady_clock::now();
  const auto end = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                               std::chrono::duration<double>(seconds));
  if (mode == "split") {
    // Iterations are paced to `rate` per second, so the profile window sees a steady rate.
    for (long n = 0; std::chrono::steady_clock::now() < end; n++) {
      allocate_and_free_large();
      allocate_and_free_small();
      leak_some();
      std::this_thread::sleep_until(start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                                std::chrono::duration<double>((n + 1) / rate)));
    }
  } else if (mode == "peak") {
    transient_peak();
    for (int i = 0; i < 32; i++) leak_some();
  } else if (mode == "kinds") {
    std::vector<void*> blocks;
    std::vector<char*> news;
    for (int i = 0; i < 100; i++) {
      use_calloc(&blocks);
      use_realloc(&blocks);
      use_reallocarray(&blocks);
      use_posix_memalign(&blocks);
      use_aligned_alloc(&blocks);
      use_memalign(&blocks);
      use_valloc(&blocks);
      use_new(&news);
    }
    for (void* p : blocks) free(p);
    for (char* p : news) delete[] p;
    std::this_thread::sleep_until(end);
  } else if (mode == "ring") {
    void* large[64] = {};
    void* small[64] = {};
    for (unsigned n = 0; std::chrono::steady_clock::now() < end; n++) {
      void* l = keep_large();
      free(large[n % 64]);
      large[n % 64] = l;
      void* s = keep_small();
      free(small[n % 64]);
      small[n % 64] = s;
    }
  } else if (mode == "churn") {
    const long pairs = churn(end);
    std::printf("churn: %.0f malloc/free pairs per second\n", pairs / seconds);
  } else if (mode == "sizes") {
    long calls = 0;
    unsigned long long bytes = 0;
    mixed_sizes(end, &calls, &bytes);
    std::printf("sizes: %ld calls %llu bytes\n", calls, bytes);
  } else if (mode == "fixed") {
    const long work = argc > 5 ? atol(argv[5]) : 0;
    fixed_work(static_cast<long>(rate), work);
    const double taken =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("fixed: %.0f pairs in %.3f s (%.0f pairs/s)\n", rate, taken, rate / taken);
  } else {
    std::fprintf(stderr, "heap-split: unknown mode %s\n", mode.c_str());
    return 2;
  }
  return 0;
}

// A CPU-bound workload whose true profile is known by construction: for every unit of work in
// cold_function, hot_function does three with the very same per-unit code, so 3/4 of its CPU time
// is in hot_function (cum) and 1/4 in cold_function. Both inline mix_step, so their frames carry an
// inline chain. The unit's length varies from round to round (the same in both functions, from a
// fixed pseudo-random sequence): with rounds of one fixed length, a sampler's fixed period can lock
// onto the round's phase and see one function more than its share for seconds.
//
// usage: cpu-split [SECONDS [THREAD_NAME]]   (runs SECONDS, default 30; renames itself THREAD_NAME)
// At exit it prints the rounds of work per second it did, the throughput the overhead benchmark
// compares.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <time.h>

#define UNIT 200000

static volatile uint64_t sink;

static inline __attribute__((always_inline)) uint64_t mix_step(uint64_t x) {
  x ^= x << 13;  // mix_step line
  x ^= x >> 7;
  x ^= x << 17;
  return x;
}

__attribute__((noinline)) void hot_function(uint64_t seed, uint64_t unit) {
  uint64_t x = seed | 1;
  for (uint64_t i = 0; i < 3 * unit; i++) x = mix_step(x);
  sink = x;
}

__attribute__((noinline)) void cold_function(uint64_t seed, uint64_t unit) {
  uint64_t x = seed | 1;
  for (uint64_t i = 0; i < 1 * unit; i++) x = mix_step(x);
  sink = x;
}

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? atof(argv[1]) : 30;
  if (argc > 2) prctl(PR_SET_NAME, argv[2], 0, 0, 0);
  const double start = now_seconds();
  const double end = start + seconds;
  uint64_t round = 0;
  uint64_t random = 88172645463325252ULL;  // xorshift64, a fixed sequence: runs stay comparable
  while (now_seconds() < end) {
    random ^= random << 13;
    random ^= random >> 7;
    random ^= random << 17;
    const uint64_t unit = UNIT / 2 + random % UNIT;  // 0.5 to 1.5 units, 1 on average
    hot_function(round, unit);
    cold_function(round, unit);
    round++;
  }
  printf("rounds_per_second %.3f\n", round / (now_seconds() - start));
  return 0;
}

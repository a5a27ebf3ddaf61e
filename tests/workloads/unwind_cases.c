// Workloads for the unwinding correctness tests: each spins forever at the bottom of a known call chain,
// so every CPU sample and every stack eu-stack takes have the same callers.
//
// usage: unwind-cases MODE   where MODE is
//   chain   main → level1 → level2 → level3 → spin
//   libc    main → level1 → sort_numbers → qsort (glibc, no frame pointers) → compare_numbers (spins)
//   signal  main → level1 → raise → [signal] → on_signal → spin
//   shlib   main → level1 → lib_outer (libunwind-lib.so) → lib_inner → call_back → spin
//   deep    main → level1 → recurse × 300 → spin (deeper than the 127 frames profd keeps)
//   syscall main → level1 → write_loop → write (glibc) → the kernel, over and over
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void lib_outer(void (*callback)(void));  // in unwind_lib.c

volatile uint64_t sink;

#define NOINLINE __attribute__((noinline))

// The leaf: a loop the compiler cannot drop, with no calls, so only its own pc varies. (It ends only if
// the generator hits 1, which it never does in practice; a visible exit keeps the callers ordinary.)
NOINLINE void spin(void) {
  while (sink != 1) sink = sink * 6364136223846793005ULL + 1442695040888963407ULL;
}

NOINLINE void level3(void) {
  spin();
  sink++;  // keeps the call from becoming a jump
}
NOINLINE void level2(void) {
  level3();
  sink++;
}

NOINLINE int compare_numbers(const void* a, const void* b) {
  spin();
  return memcmp(a, b, sizeof(int));
}
NOINLINE void sort_numbers(void) {
  int numbers[64];
  for (int i = 0; i < 64; i++) numbers[i] = 64 - i;
  qsort(numbers, 64, sizeof(int), compare_numbers);
  sink++;
}

NOINLINE void on_signal(int sig) {
  spin();
  sink += sig;
}

NOINLINE void call_back(void) {
  spin();
  sink++;
}

NOINLINE void recurse(int depth) {
  if (depth == 0)
    spin();
  else
    recurse(depth - 1);
  sink++;
}

NOINLINE void write_loop(void) {
  int fd = open("/dev/null", O_WRONLY);
  char byte = 0;
  while (write(fd, &byte, 1) == 1) sink++;
}

NOINLINE void level1(const char* mode) {
  if (strcmp(mode, "libc") == 0) {
    sort_numbers();
  } else if (strcmp(mode, "signal") == 0) {
    signal(SIGUSR1, on_signal);
    raise(SIGUSR1);
  } else if (strcmp(mode, "shlib") == 0) {
    lib_outer(call_back);
  } else if (strcmp(mode, "syscall") == 0) {
    write_loop();
  } else if (strcmp(mode, "deep") == 0) {
    recurse(300);
  } else {
    level2();
  }
  sink++;
}

int main(int argc, char** argv) {
  level1(argc > 1 ? argv[1] : "chain");
  return 0;
}

// Issue 11, defect 6: how much a uprobe hit slows the probed program's own user-mode code.
// Each iteration mallocs and frees 64 bytes (two allocator calls) and then reads PAGES random pages
// of a 64 MiB buffer, as a program with a working set does between its allocations. It waits for a
// line on stdin (a profiler attaches meanwhile), runs ITERATIONS, and prints its user and system
// seconds for the loop alone.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static double Seconds(struct timeval t) { return t.tv_sec + t.tv_usec / 1e6; }

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: probe_penalty ITERATIONS PAGES\n");
    return 2;
  }
  const long iterations = atol(argv[1]), pages = atol(argv[2]);
  const size_t size = 64 << 20;
  char* buffer = malloc(size);
  memset(buffer, 1, size);
  char line[16];
  if (!fgets(line, sizeof(line), stdin)) return 1;
  struct rusage before, after;
  getrusage(RUSAGE_SELF, &before);
  unsigned long x = 88172645463325252UL;
  volatile char sink = 0;
  for (long i = 0; i < iterations; i++) {
    char* volatile block = malloc(64);
    free(block);
    for (long p = 0; p < pages; p++) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      sink += buffer[x % size];
    }
  }
  getrusage(RUSAGE_SELF, &after);
  printf("%.4f %.4f\n", Seconds(after.ru_utime) - Seconds(before.ru_utime),
         Seconds(after.ru_stime) - Seconds(before.ru_stime));
  return 0;
}

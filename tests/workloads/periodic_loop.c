// A loop that runs at about 100 Hz, as pollers, game loops and rate limiters do: work for 5 ms,
// sleep 5 ms, over and over, so it takes about half a core. Its period is close to a 99 Hz
// sampler's: a sampler with a fixed period aliases with it (its wake-ups are drawn onto the
// sampler's ticks by timer slack). Runs for the seconds given (default 60).
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static volatile unsigned long work_done;

__attribute__((noinline)) static void tick_work(double seconds) {
  const double end = now() + seconds;
  while (now() < end) work_done++;
}

int main(int argc, char **argv) {
  const double end = now() + (argc > 1 ? atof(argv[1]) : 60);
  while (now() < end) {
    tick_work(0.005);
    usleep(5000);
  }
  return 0;
}

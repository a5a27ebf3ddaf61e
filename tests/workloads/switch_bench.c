// Benchmark workloads for the block and mutex profiles; each prints operations per second.
// usage: switch-bench pingpong SECONDS   two threads pass a byte back and forth over pipes (every
//                                        round trip is two context switches)
//        switch-bench lock SECONDS       one thread locks and unlocks a pthread mutex (never contended)
//        switch-bench syscalls SECONDS   one thread makes cheap system calls (getppid), for the cost
//                                        of syscall tracing to processes that are not profiled
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/syscall.h>
#include <unistd.h>

static int ping[2], pong[2];

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void* echo(void* arg) {
  char byte;
  while (read(ping[0], &byte, 1) == 1 && byte) write(pong[1], &byte, 1);
  return arg;
}

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "pingpong";
  const double seconds = argc > 2 ? atof(argv[2]) : 5;
  uint64_t ops = 0;
  const double start = now_seconds();
  if (strcmp(mode, "lock") == 0) {
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    while (now_seconds() - start < seconds) {
      for (int i = 0; i < 10000; i++) {
        pthread_mutex_lock(&lock);
        ops++;
        pthread_mutex_unlock(&lock);
      }
    }
  } else if (strcmp(mode, "syscalls") == 0) {
    while (now_seconds() - start < seconds) {
      for (int i = 0; i < 10000; i++) {
        syscall(SYS_getppid);
        ops++;
      }
    }
  } else {
    if (pipe(ping) || pipe(pong)) return 1;
    pthread_t t;
    pthread_create(&t, NULL, echo, NULL);
    char byte = 1;
    while (now_seconds() - start < seconds) {
      write(ping[1], &byte, 1);
      read(pong[0], &byte, 1);
      ops++;
    }
    byte = 0;
    write(ping[1], &byte, 1);
    pthread_join(t, NULL);
  }
  printf("ops_per_second %.0f\n", ops / (now_seconds() - start));
  return 0;
}

// A workload whose blocking is known by construction, for the block profile:
//  - the main thread sleeps 20 ms in sleep_long and 5 ms in sleep_short, in turn: 4/5 of its off-CPU
//    time is under sleep_long, 1/5 under sleep_short;
//  - a second thread waits in wait_on_socket for bytes a third thread (feed_socket) sends every 50 ms.
// Built without frame pointers: the waits sit in glibc's syscall wrappers.
//  - with "late", main also starts a fourth thread 2 s in, which sleeps 10 ms at a time in
//    sleep_in_late_thread: a thread created after profiling began must be profiled too.
// usage: block-split [SECONDS [late]]
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int sockets[2];
static volatile int sink;

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

__attribute__((noinline)) void sleep_long(void) {
  sleep_ms(20);
  sink++;
}

__attribute__((noinline)) void sleep_short(void) {
  sleep_ms(5);
  sink++;
}

__attribute__((noinline)) void wait_on_socket(void) {
  char byte;
  if (recv(sockets[0], &byte, 1, 0) == 1) sink++;
}

static void* socket_reader(void* arg) {
  for (;;) wait_on_socket();
  return arg;
}

__attribute__((noinline)) void feed_socket(void) {
  sleep_ms(50);
  if (send(sockets[1], "x", 1, 0) == 1) sink++;
}

static void* socket_writer(void* arg) {
  for (;;) feed_socket();
  return arg;
}

__attribute__((noinline)) void sleep_in_late_thread(void) {
  sleep_ms(10);
  sink++;
}

static void* late_thread(void* arg) {
  for (;;) sleep_in_late_thread();
  return arg;
}

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? atof(argv[1]) : 30;
  int late = argc > 2 && strcmp(argv[2], "late") == 0;
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sockets) != 0) return 1;
  pthread_t reader, writer;
  pthread_create(&reader, NULL, socket_reader, NULL);
  pthread_create(&writer, NULL, socket_writer, NULL);
  struct timespec start, now;
  clock_gettime(CLOCK_MONOTONIC, &start);
  do {
    sleep_long();
    sleep_short();
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (late && now.tv_sec - start.tv_sec >= 2) {
      pthread_t t;
      pthread_create(&t, NULL, late_thread, NULL);
      late = 0;
    }
  } while ((now.tv_sec - start.tv_sec) + (now.tv_nsec - start.tv_nsec) / 1e9 < seconds);
  return 0;
}

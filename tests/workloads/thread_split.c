// Creates threads in known numbers from known functions, for the threadcreate profile: after DELAY
// seconds, create_four_threads starts 4 threads and create_one_thread 1; they park until the end.
// usage: thread-split [DELAY [SECONDS]]
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

static void* park(void* arg) {
  pause();
  return arg;
}

static void start_thread(void) {
  pthread_t t;
  pthread_create(&t, NULL, park, NULL);
}

__attribute__((noinline)) void create_four_threads(void) {
  for (int i = 0; i < 4; i++) start_thread();
}

__attribute__((noinline)) void create_one_thread(void) { start_thread(); }

int main(int argc, char** argv) {
  const double delay = argc > 1 ? atof(argv[1]) : 1;
  const double seconds = argc > 2 ? atof(argv[2]) : 30;
  usleep((useconds_t)(delay * 1e6));
  create_four_threads();
  create_one_thread();
  usleep((useconds_t)(seconds * 1e6));
  return 0;
}

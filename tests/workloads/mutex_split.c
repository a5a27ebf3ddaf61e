// Lock contention whose shape is known by construction, for the mutex profile: 4 threads take a hot
// lock in contend_hot on every round and a cold lock in contend_cold on one round in 100, each held
// for the same short spin, so nearly all lock waiting is under contend_hot. usage: mutex-split
// [SECONDS [condvar]] With "condvar", a thread instead waits in wait_for_work on a condition
// variable that main signals every 10 ms: waiting for work, which the mutex profile must not count
// as lock contention.
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static pthread_mutex_t hot = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t cold = PTHREAD_MUTEX_INITIALIZER;
static volatile uint64_t sink;
static double end_time;

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void hold(void) {
  for (int i = 0; i < 20000; i++) sink = sink * 3 + 1;
}

__attribute__((noinline)) void contend_hot(void) {
  pthread_mutex_lock(&hot);
  hold();
  pthread_mutex_unlock(&hot);
}

__attribute__((noinline)) void contend_cold(void) {
  pthread_mutex_lock(&cold);
  hold();
  pthread_mutex_unlock(&cold);
}

static void* worker(void* arg) {
  for (uint64_t round = 0; now_seconds() < end_time; round++) {
    contend_hot();
    if (round % 100 == 0) contend_cold();
  }
  return arg;
}

static pthread_cond_t work = PTHREAD_COND_INITIALIZER;
static int work_ready;

__attribute__((noinline)) void wait_for_work(void) {
  pthread_mutex_lock(&cold);
  while (!work_ready) pthread_cond_wait(&work, &cold);
  work_ready = 0;
  pthread_mutex_unlock(&cold);
}

static void* waiter(void* arg) {
  for (;;) wait_for_work();
  return arg;
}

int main(int argc, char** argv) {
  end_time = now_seconds() + (argc > 1 ? atof(argv[1]) : 30);
  if (argc > 2 && strcmp(argv[2], "condvar") == 0) {
    pthread_t t;
    pthread_create(&t, NULL, waiter, NULL);
    while (now_seconds() < end_time) {
      struct timespec ten_ms = {0, 10000000};
      nanosleep(&ten_ms, NULL);
      pthread_mutex_lock(&cold);
      work_ready = 1;
      pthread_cond_signal(&work);
      pthread_mutex_unlock(&cold);
    }
    return 0;
  }
  pthread_t threads[4];
  for (int i = 0; i < 4; i++) pthread_create(&threads[i], NULL, worker, NULL);
  for (int i = 0; i < 4; i++) pthread_join(threads[i], NULL);
  return 0;
}

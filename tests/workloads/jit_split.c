// A tiny JIT: generates two functions at run time into anonymous executable memory, as V8, the
// JVM or LuaJIT do, names them in /tmp/perf-PID.map (perf's convention), and spends 3/4 of its
// time in jit_hot and 1/4 in jit_cold, both called from main.
//
// usage: jit-split SECONDS [--no-map]
//   The map lists jit_hot at once and jit_cold only after 0.5 s, as a JIT that compiles lazily
//   appends to it. --no-map writes none and prints the two functions' addresses and sizes instead.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

// int f(int n) { while (--n) {} return n; } with a frame pointer, as JIT code keeps one.
static const uint8_t kLoop[] = {
    0x55,              // push rbp
    0x48, 0x89, 0xe5,  // mov rbp, rsp
    0x89, 0xf9,        // mov ecx, edi
    0xff, 0xc9,        // loop: dec ecx
    0x75, 0xfc,        // jnz loop
    0x89, 0xc8,        // mov eax, ecx
    0x5d,              // pop rbp
    0xc3,              // ret
};

typedef int (*jit_function)(int);

static double Now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void AppendToMap(uintptr_t start, size_t size, const char* name) {
  char path[64];
  snprintf(path, sizeof(path), "/tmp/perf-%d.map", getpid());
  FILE* map = fopen(path, "a");
  if (!map) {
    perror(path);
    exit(1);
  }
  fprintf(map, "%lx %zx %s\n", (unsigned long)start, size, name);
  fclose(map);
}

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? atof(argv[1]) : 30;
  const int write_map = !(argc > 2 && strcmp(argv[2], "--no-map") == 0);
  // Written, then made executable (W^X), at 64-byte aligned slots like a code cache.
  uint8_t* code = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (code == MAP_FAILED) return 1;
  memcpy(code, kLoop, sizeof(kLoop));
  memcpy(code + 64, kLoop, sizeof(kLoop));
  if (mprotect(code, 4096, PROT_READ | PROT_EXEC) != 0) return 1;
  jit_function hot = (jit_function)(void*)code;
  jit_function cold = (jit_function)(void*)(code + 64);
  if (write_map) {
    AppendToMap((uintptr_t)hot, sizeof(kLoop), "jit_hot");
  } else {
    printf("%lx %zx jit_hot\n%lx %zx jit_cold\n", (unsigned long)(uintptr_t)hot, sizeof(kLoop),
           (unsigned long)(uintptr_t)cold, sizeof(kLoop));
    fflush(stdout);
  }
  const double start = Now();
  int cold_named = !write_map;
  volatile int sink = 0;
  // The unit varies from round to round (0.5-1.5 million, the same in both): with one fixed round
  // length a sampler's fixed period can lock onto its phase and over-sample one function.
  uint64_t x = 88172645463325252ull;
  while (Now() - start < seconds) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    const int unit = 500000 + (int)(x % 1000000);
    sink += hot(3 * unit);
    sink += cold(unit);
    if (!cold_named && Now() - start > 0.5) {
      AppendToMap((uintptr_t)cold, sizeof(kLoop), "jit_cold");
      cold_named = 1;
    }
  }
  if (write_map) {
    char path[64];
    snprintf(path, sizeof(path), "/tmp/perf-%d.map", getpid());
    unlink(path);
  }
  return sink == 42;
}

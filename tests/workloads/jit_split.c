// A tiny JIT: generates two functions at run time into anonymous executable memory, as V8, the
// JVM or LuaJIT do, names them in /tmp/perf-PID.map (perf's convention), and spends 3/4 of its
// time in jit_hot and 1/4 in jit_cold, both called from main.
//
// usage: jit-split SECONDS [--no-map | --jitdump DIR]
//   The map lists jit_hot at once and jit_cold only after 0.5 s, as a JIT that compiles lazily
//   appends to it. --no-map writes none and prints the two functions' addresses and sizes instead.
//   --jitdump writes no map but DIR/jit-PID.dump (perf's jitdump format, as V8's --perf-prof and
//   the JVM's perf agent write it), mapped into the process as perf's convention asks, with each
//   function's code and source lines: the loop of both is line 11 of jit_split.js, the entry line 10.
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

static uint64_t Nanoseconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

// The jitdump file, written as records are made (the format's byte layout, little-endian here).
static FILE* jitdump;

static void WriteJitDumpHeader(const char* dir) {
  char path[4096];
  snprintf(path, sizeof(path), "%s/jit-%d.dump", dir, getpid());
  jitdump = fopen(path, "w+");
  if (!jitdump) {
    perror(path);
    exit(1);
  }
  struct {
    uint32_t magic, version, total_size, elf_mach, pad1, pid;
    uint64_t timestamp, flags;
  } header = {0x4A695444, 1, sizeof(header), 62 /* EM_X86_64 */, 0, (uint32_t)getpid(),
              Nanoseconds(), 0};
  fwrite(&header, sizeof(header), 1, jitdump);
  fflush(jitdump);
  // Tools find the file by its mapping (perf in its mmap events, profd in /proc/PID/maps).
  if (mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE, fileno(jitdump), 0) == MAP_FAILED) {
    perror("mmap jitdump");
    exit(1);
  }
}

// JIT_CODE_DEBUG_INFO, then JIT_CODE_LOAD with the code itself (the debug info comes first).
static void AppendToJitDump(uintptr_t start, size_t size, const char* name) {
  static uint64_t index;
  static const char kFile[] = "jit_split.js";
  const struct {
    uint64_t offset;
    uint32_t line;
  } lines[] = {{0, 10}, {6, 11}, {10, 12}};  // entry, loop, return (offsets into kLoop)
  uint32_t debug_size = 16 + 16;
  for (size_t i = 0; i < 3; i++) debug_size += 16 + sizeof(kFile);
  struct {
    uint32_t id, total_size;
    uint64_t timestamp, code_addr, nr_entry;
  } debug = {2, debug_size, Nanoseconds(), start, 3};
  fwrite(&debug, sizeof(debug), 1, jitdump);
  for (size_t i = 0; i < 3; i++) {
    const struct {
      uint64_t code_addr;
      uint32_t line, discriminator;
    } entry = {start + lines[i].offset, lines[i].line, 0};
    fwrite(&entry, sizeof(entry), 1, jitdump);
    fwrite(kFile, sizeof(kFile), 1, jitdump);
  }
  const size_t name_size = strlen(name) + 1;
  struct {
    uint32_t id, total_size;
    uint64_t timestamp;
    uint32_t pid, tid;
    uint64_t vma, code_addr, code_size, code_index;
  } load = {0, (uint32_t)(56 + name_size + size), Nanoseconds(), (uint32_t)getpid(),
            (uint32_t)getpid(), start, start, size, index++};
  fwrite(&load, sizeof(load), 1, jitdump);
  fwrite(name, name_size, 1, jitdump);
  fwrite((const void*)start, size, 1, jitdump);
  fflush(jitdump);
}

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
  const int use_jitdump = argc > 3 && strcmp(argv[2], "--jitdump") == 0;
  const int write_map = !(argc > 2 && strcmp(argv[2], "--no-map") == 0) && !use_jitdump;
  if (use_jitdump) WriteJitDumpHeader(argv[3]);
  // Written, then made executable (W^X), at 64-byte aligned slots like a code cache.
  uint8_t* code = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (code == MAP_FAILED) return 1;
  memcpy(code, kLoop, sizeof(kLoop));
  memcpy(code + 64, kLoop, sizeof(kLoop));
  if (mprotect(code, 4096, PROT_READ | PROT_EXEC) != 0) return 1;
  jit_function hot = (jit_function)(void*)code;
  jit_function cold = (jit_function)(void*)(code + 64);
  if (use_jitdump) {
    AppendToJitDump((uintptr_t)hot, sizeof(kLoop), "jit_hot");
  } else if (write_map) {
    AppendToMap((uintptr_t)hot, sizeof(kLoop), "jit_hot");
  } else {
    printf("%lx %zx jit_hot\n%lx %zx jit_cold\n", (unsigned long)(uintptr_t)hot, sizeof(kLoop),
           (unsigned long)(uintptr_t)cold, sizeof(kLoop));
    fflush(stdout);
  }
  const double start = Now();
  int cold_named = !write_map && !use_jitdump;
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
      if (use_jitdump)
        AppendToJitDump((uintptr_t)cold, sizeof(kLoop), "jit_cold");
      else
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

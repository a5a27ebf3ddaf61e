// The shared-library half of unwind_cases.c: two frames without frame pointers inside a .so.
#include <stdint.h>

extern volatile uint64_t lib_sink;
volatile uint64_t lib_sink;

__attribute__((noinline)) void lib_inner(void (*callback)(void)) {
  callback();
  lib_sink++;
}

__attribute__((noinline)) void lib_outer(void (*callback)(void)) {
  lib_inner(callback);
  lib_sink++;
}

// Linked into the fixture programs, or built as a shared library of its own.
#include "fixture_lib.h"

#include <stdlib.h>

__attribute__((noinline)) static int Mix(int value) { return (value * 2654435761u) >> 7; }

int FixtureLibWork(int seed) {
  int* scratch = malloc(sizeof(int) * 4);
  for (int i = 0; i < 4; ++i) scratch[i] = Mix(seed + i);
  int result = scratch[0] ^ scratch[3];
  free(scratch);
  return result;
}

// Code shapes whose call frame information differs: leaf, callee-saved pushes, a variable-length
// array (CFA moves to rbp even without frame pointers), recursion, calls through the PLT.
#include <alloca.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture_lib.h"

__attribute__((noinline)) static int Compare(const void* a, const void* b) {
  return *(const int*)a - *(const int*)b;
}

__attribute__((noinline)) int SumVla(int n) {
  int values[n];
  for (int i = 0; i < n; ++i) values[i] = n - i;
  qsort(values, n, sizeof values[0], Compare);
  int sum = 0;
  for (int i = 0; i < n; ++i) sum += values[i] * i;
  return sum;
}

__attribute__((noinline)) long ManyRegisters(long a, long b, long c, long d, long e, long f) {
  long x = a * b, y = c * d, z = e * f;
  for (long i = 0; i < a; ++i) {
    x += FixtureLibWork((int)(y + i));
    y ^= x + z;
    z += y;
  }
  return x + y + z;
}

__attribute__((noinline)) int Recurse(int depth) {
  if (depth == 0) return SumVla(8);
  char* buffer = alloca(depth * 16);
  memset(buffer, depth, depth * 16);
  return Recurse(depth - 1) + buffer[depth];
}

int main(int argc, char** argv) {
  long result = Recurse(argc + 3) + ManyRegisters(argc, 2, 3, 4, 5, 6);
  printf("%ld\n", result);
  return result == 42;
}

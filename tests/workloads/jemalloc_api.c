/* A program built against jemalloc that calls its own API, as folly-based programs do: for each of N
 * rounds, two mallocx calls from use_mallocx (100 and 300 bytes) and one rallocx from use_rallocx
 * (growing the first to 5000 bytes), freed with sdallocx and dallocx. With every allocation sampled,
 * use_mallocx makes 2N allocations of 400N bytes and use_rallocx N of 5000N bytes; nothing is live at
 * the end. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

/* jemalloc's API (Debian ships the library without its header in the runtime package). */
void *mallocx(size_t size, int flags);
void *rallocx(void *ptr, size_t size, int flags);
void dallocx(void *ptr, int flags);
void sdallocx(void *ptr, size_t size, int flags);

/* Each writes to its block before it returns, so that the call is no tail call (whose caller's frame
 * would be gone from the stack). */
__attribute__((noinline)) char *use_mallocx(size_t size) {
  char *p = mallocx(size, 0);
  if (p) p[0] = 1;
  return p;
}

__attribute__((noinline)) char *use_rallocx(char *p, size_t size) {
  char *q = rallocx(p, size, 0);
  if (q) q[size - 1] = 1;
  return q;
}

int main(int argc, char **argv) {
  const int rounds = argc > 1 ? atoi(argv[1]) : 1000;
  size_t touched = 0;
  for (int i = 0; i < rounds; i++) {
    char *p = use_mallocx(100);
    p = use_rallocx(p, 5000);
    if (!p) return 1;
    p[4999] = (char)i;
    touched += (unsigned char)p[4999];
    sdallocx(p, 5000, 0);
    char *q = use_mallocx(300);
    if (!q) return 1;
    dallocx(q, 0);
  }
  printf("%d rounds (%zu)\n", rounds, touched);
  return 0;
}

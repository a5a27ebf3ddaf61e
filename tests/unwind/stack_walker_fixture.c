// Built with -fomit-frame-pointer (see CMakeLists.txt): frame pointers cannot walk these frames.
#define _GNU_SOURCE
#include "stack_walker_fixture.h"

#include <setjmp.h>
#include <signal.h>
#include <stddef.h>
#include <ucontext.h>

struct unwfix_truth unwfix_truth;
static unwfix_record_fn record_fn;
static void* record_arg;
static volatile int vla_length = 40;  // not a constant, or the compiler makes the VLA an array

// The registers at this point of the function. rbp is read first and rip last, so whichever
// registers the compiler picks for the outputs, none is overwritten before it is read.
#define UNWFIX_CAPTURE(ip, sp, bp)                                      \
  __asm__ volatile("mov %%rbp, %2\n\tmov %%rsp, %1\n\tlea 0(%%rip), %0" \
                   : "=r"(ip), "=r"(sp), "=r"(bp)                       \
                   :                                                    \
                   : "memory")

// Records the registers where the calling function stands, its return address as the first truth.
#define UNWFIX_RECORD_HERE()                                                  \
  do {                                                                        \
    uint64_t ip, sp, bp;                                                      \
    UNWFIX_CAPTURE(ip, sp, bp);                                               \
    unwfix_truth.return_addresses[0] = (uint64_t)__builtin_return_address(0); \
    record_fn(ip, sp, bp, record_arg);                                        \
  } while (0)

__attribute__((noinline)) static int leaf(int n) {
  volatile char pad[24];
  pad[0] = (char)n;
  UNWFIX_RECORD_HERE();
  return pad[0] + 1;
}

__attribute__((noinline)) static int middle(int n) {
  volatile char vla[n];
  vla[0] = (char)n;
  int r = leaf(n + 1);  // used after the call: no tail call
  unwfix_truth.return_addresses[1] = (uint64_t)__builtin_return_address(0);
  return r + vla[0];
}

__attribute__((noinline)) int unwfix_walk_chain(unwfix_record_fn record, void* arg) {
  record_fn = record;
  record_arg = arg;
  int r = middle(vla_length);
  unwfix_truth.return_addresses[2] = (uint64_t)__builtin_return_address(0);
  return r + 1;
}

static void on_signal(int sig, siginfo_t* info, void* context) {
  const ucontext_t* uc = context;
  unwfix_truth.signal_ip = (uint64_t)uc->uc_mcontext.gregs[REG_RIP];
  UNWFIX_RECORD_HERE();
}

__attribute__((noinline)) static int signal_middle(int n) {
  volatile char pad[32];
  pad[0] = (char)n;
  int r = raise(SIGUSR1);
  unwfix_truth.return_addresses[1] = (uint64_t)__builtin_return_address(0);
  return r + pad[0];
}

__attribute__((noinline)) int unwfix_walk_signal(unwfix_record_fn record, void* arg) {
  record_fn = record;
  record_arg = arg;
  struct sigaction action = {0}, old;
  action.sa_sigaction = on_signal;
  action.sa_flags = SA_SIGINFO;
  sigemptyset(&action.sa_mask);
  if (sigaction(SIGUSR1, &action, &old) != 0) return -1;
  int r = signal_middle(7);
  unwfix_truth.return_addresses[2] = (uint64_t)__builtin_return_address(0);
  sigaction(SIGUSR1, &old, NULL);
  return r + 1;
}

static jmp_buf noreturn_exit;

__attribute__((noinline, noreturn)) static void leaf_noreturn(int n) {
  volatile char pad[24];
  pad[0] = (char)n;
  UNWFIX_RECORD_HERE();
  longjmp(noreturn_exit, pad[0] ? 1 : 2);
}

// Its call is its last instruction, so its return address is already past its end.
__attribute__((noinline)) static void middle_noreturn(int n) {
  volatile char pad[40];
  pad[0] = (char)n;
  unwfix_truth.return_addresses[1] = (uint64_t)__builtin_return_address(0);
  leaf_noreturn(n + pad[0]);
}

__attribute__((noinline)) int unwfix_walk_noreturn(unwfix_record_fn record, void* arg) {
  record_fn = record;
  record_arg = arg;
  if (setjmp(noreturn_exit) == 0) middle_noreturn(vla_length);
  unwfix_truth.return_addresses[2] = (uint64_t)__builtin_return_address(0);
  return 1;
}

// Calls built without frame pointers whose stacks stack_walker_test.cc records and unwinds.
#ifndef PROFD_TESTS_UNWIND_STACK_WALKER_FIXTURE_H
#define PROFD_TESTS_UNWIND_STACK_WALKER_FIXTURE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// Called where the innermost function stands, with its registers: records the stack above sp.
typedef void (*unwfix_record_fn)(uint64_t ip, uint64_t sp, uint64_t bp, void* arg);

// The truth a walk must find, as the compiler's __builtin_return_address saw it.
struct unwfix_truth {
  uint64_t return_addresses[3];  // of the innermost function first
  uint64_t signal_ip;            // where unwfix_walk_signal's thread was when the signal came
};
extern struct unwfix_truth unwfix_truth;

// outer → middle (a variable-length array: CFA from rbp) → leaf (frameless), which records.
int unwfix_walk_chain(unwfix_record_fn record, void* arg);
// outer → middle → raise(SIGUSR1) → the handler, which records; return_addresses[0] is the
// handler's own (the signal trampoline), [1] middle's, [2] outer's.
int unwfix_walk_signal(unwfix_record_fn record, void* arg);
// outer → middle → leaf, which records and longjmps back to outer: middle's call of leaf (noreturn)
// is its last instruction.
int unwfix_walk_noreturn(unwfix_record_fn record, void* arg);

#ifdef __cplusplus
}
#endif

#endif  // PROFD_TESTS_UNWIND_STACK_WALKER_FIXTURE_H

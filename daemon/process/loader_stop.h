// Runs a launched command, stopped by ptrace at its first instruction after exec, up to the
// point where its dynamic loader has mapped every library it loads at start-up, and leaves it
// stopped there: no library's initializer and nothing of the program has run yet.
//
// The point is the loader's debugger hook, as gdb uses it: glibc's (and musl's) ld.so calls
// `_dl_debug_state` after each change to its list of objects, and `_r_debug.r_state` is
// RT_CONSISTENT once the start-up set is mapped. profd puts a breakpoint on that function and
// takes it out again. Stopping here, rather than resolving DT_NEEDED by hand, gets the libraries
// the loader really chose (LD_PRELOAD, LD_LIBRARY_PATH, RUNPATH, ld.so.cache, hwcaps), so the
// allocator's uprobes go on the right file and every library's unwind table and symbols are read
// before its code runs. What runs before the stop is the loader mapping files, a millisecond or so.
#ifndef PROFD_DAEMON_PROCESS_LOADER_STOP_H
#define PROFD_DAEMON_PROCESS_LOADER_STOP_H

#include <sys/types.h>

#include <string>

namespace profd {

struct LoaderStop {
  enum class Result {
    kStopped,  // stopped with its start-up libraries mapped
    kNoLoader, // statically linked: everything was mapped at exec; still stopped there
    kFailed,   // the hook could not be used (`why` says why); still stopped, maybe further on
    kEnded,    // the command exited or was killed on the way (`wait_status`)
  };
  Result result = Result::kFailed;
  int wait_status = 0;  // kEnded: waitpid's status
  std::string why;      // kFailed
};

// `pid` is this process's ptrace tracee, in a ptrace-stop. Signals that reach it meanwhile are
// delivered to it. Gives up after `timeout_seconds` (a loader that never calls the hook) by stopping
// it with SIGSTOP; the breakpoint is always taken out again.
LoaderStop RunToLoadedLibraries(pid_t pid, double timeout_seconds = 2.0);

}  // namespace profd

#endif  // PROFD_DAEMON_PROCESS_LOADER_STOP_H

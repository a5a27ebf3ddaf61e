// What every collection does after its window: symbolize the samples and build the pprof profile
// (and one per process), with the comments that say how it was collected.
#ifndef PROFD_DAEMON_PROFILES_PROFILE_FINISH_H
#define PROFD_DAEMON_PROFILES_PROFILE_FINISH_H

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "collect/stack_samples.h"
#include "process/loaded_unwind_tables.h"
#include "process/process_table.h"
#include "profiles/profile_collection.h"
#include "profiles/profile_request.h"
#include "profiles/profile_types.h"
#include "profiles/python_frames.h"
#include "symbolizer.h"

namespace profd {

// How a window went, for the profile's comments.
struct WindowFacts {
  std::chrono::system_clock::time_point wall_start;
  std::chrono::steady_clock::duration duration{};
  double elapsed = 0;
  std::vector<std::string> notes;                   // the collector's
  std::optional<LoadedUnwindTables::Stats> unwind;  // with DWARF unwinding
  std::string exit_note;                            // targets that exited
  std::string credentials_note;                     // targets that became another user's
  double own_cpu_seconds = -1;                      // profd's CPU while collecting (< 0: unknown)
  std::string bpf_line;                             // with --bpf-stats
  // The daemon's long-lived symbolizers (their caches outlive a request); null: fresh ones.
  Symbolizer* symbolizer = nullptr;
  const KernelSymbolizer* kernel = nullptr;
  bool warn_when_empty = true;  // false for a cumulative profile's snapshot
  // Python code objects read during the window (a launched command's exit takes its memory away);
  // null: read at assembly.
  PythonFrameNames* python = nullptr;
};

// Symbolizes `samples` against `processes` and builds the profile (and the per-process ones) with
// the comments that say how it was collected.
void FinishProfile(const ProfileRequest& request, const ProfileKind& kind, StackSamples& samples,
                   ProcessTable& processes, const WindowFacts& facts, CollectedProfile* result);

}  // namespace profd

#endif  // PROFD_DAEMON_PROFILES_PROFILE_FINISH_H

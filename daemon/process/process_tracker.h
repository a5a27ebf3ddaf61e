// The one owner of what a collection knows of the processes it watches: their mappings (a
// ProcessTable), read when first sampled, again after an exec, dropped from the unwind tables at an
// exit, and, when following a process tree, the processes its targets start. The one-shot
// collection and the daemon's shared sampler both track through it. The unwind tables stay with
// the caller, who is told what they must learn: the shared sampler builds them outside the lock
// that guards its tracker.
#ifndef PROFD_DAEMON_PROCESS_PROCESS_TRACKER_H
#define PROFD_DAEMON_PROCESS_PROCESS_TRACKER_H

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <set>
#include <vector>

#include "process/loaded_unwind_tables.h"
#include "process/process_table.h"

namespace profd {

// An exec, exit or fork notice of bpf/process_events.bpf.h.
struct ProcessEvent {
  pid_t pid;
  bool exited;  // false: exec'ed or, when following forks, forked by a target
  bool forked = false;
};

class ProcessTracker {
 public:
  using Clock = std::chrono::steady_clock;
  struct Options {
    bool dwarf_unwinding = true;  // false: frame pointers only, the tables learn no mappings
    bool follow_forks = false;    // a target's fork and exec notices make their process tracked
    // After an exec the loader maps the new image's libraries within milliseconds: its mappings
    // are read again 10, 30, 70, 150 and 310 ms after it (RereadDue), not only at the caller's
    // next tick.
    bool reread_after_exec = false;
  };
  explicit ProcessTracker(Options options) : options_(options) {}

  // Reads `pid`, again if known; its mappings go into `changes` when new or changed.
  void Read(pid_t pid, UnwindTableChanges* changes);
  // A process with new samples: its mappings while it is alive (a known one is not read again).
  void Sampled(pid_t pid, UnwindTableChanges* changes);
  // An exec, exit or fork notice. Only known processes count, and, when following forks, new
  // ones. `released` (may be empty) says whether an exec'ed process stops being tracked as at its
  // exit (a target that is no longer the caller's).
  void Notice(const ProcessEvent& event, Clock::time_point now,
              const std::function<bool(pid_t)>& released, UnwindTableChanges* changes);
  // Stops tracking `pid` (a target that exited or is no longer the caller's): its tables go; it
  // stays in the table, for its samples.
  void Release(pid_t pid, UnwindTableChanges* changes);
  // Reads the exec'ed processes whose re-read is due by `now`.
  void RereadDue(Clock::time_point now, UnwindTableChanges* changes);
  // Seconds until the next re-read is due, at most 1.
  double SecondsToNextReread(Clock::time_point now) const;
  // Reads again every live process the targets started (for code they dlopen'ed).
  void RereadFollowed(UnwindTableChanges* changes);
  // The processes that have exited since the last call, as the table still holds them (pid and
  // start time), for a caller that forgets each when it is no longer needed (Forget).
  std::vector<std::pair<pid_t, uint64_t>> TakeExited();
  // Forgets the process of `pid` if it is still the one started at `start_ticks`.
  void Forget(pid_t pid, uint64_t start_ticks);
  // Forgets every process.
  void Clear();

  const ProcessTable& table() const { return table_; }
  // Symbolizing reads in the processes of samples it was not told of.
  ProcessTable& table() { return table_; }

 private:
  void Untrack(pid_t pid, UnwindTableChanges* changes);
  // When the last read of `pid` changed what the tables know: its mappings into `changes`.
  void Changed(bool changed, pid_t pid, UnwindTableChanges* changes) const;

  struct Reread {
    Clock::time_point when;
    int step;
  };
  static constexpr int kRereadSteps = 5;

  const Options options_;
  ProcessTable table_;
  std::set<pid_t> followed_;  // live processes the targets started
  std::map<pid_t, Reread> rereads_;
  std::vector<pid_t> exited_;  // since the last TakeExited
};

}  // namespace profd

#endif  // PROFD_DAEMON_PROCESS_PROCESS_TRACKER_H

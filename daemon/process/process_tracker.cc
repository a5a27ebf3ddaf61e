#include "process/process_tracker.h"

#include <algorithm>

namespace profd {

void ProcessTracker::Changed(bool changed, pid_t pid, UnwindTableChanges* changes) const {
  if (!changed || !options_.dwarf_unwinding) return;
  if (const ProcessInfo* process = table_.Find(pid)) changes->push_back({pid, *process});
}

void ProcessTracker::Read(pid_t pid, UnwindTableChanges* changes) {
  Changed(table_.Find(pid) ? table_.Refresh(pid) : table_.Observe(pid), pid, changes);
}

void ProcessTracker::Sampled(pid_t pid, UnwindTableChanges* changes) {
  if (!table_.Find(pid)) Changed(table_.Observe(pid), pid, changes);
}

void ProcessTracker::Notice(const ProcessEvent& event, Clock::time_point now,
                            const std::function<bool(pid_t)>& released,
                            UnwindTableChanges* changes) {
  // A followed target's new process: known from its fork (or its exec, when both came between
  // two calls).
  const bool started = options_.follow_forks && !event.exited;
  if (!table_.Find(event.pid) && !started) return;
  if (started) followed_.insert(event.pid);
  if (event.exited) {
    exited_.push_back(event.pid);  // its samples still symbolize until the owner Forgets it
    Untrack(event.pid, changes);
    return;
  }
  if (released && released(event.pid)) {
    Untrack(event.pid, changes);
    return;
  }
  Changed(table_.Refresh(event.pid), event.pid, changes);
  if (!event.forked && options_.reread_after_exec)
    rereads_[event.pid] = {now + std::chrono::milliseconds(10), 0};
}

void ProcessTracker::Release(pid_t pid, UnwindTableChanges* changes) { Untrack(pid, changes); }

void ProcessTracker::Untrack(pid_t pid, UnwindTableChanges* changes) {
  changes->push_back({pid, std::nullopt});
  followed_.erase(pid);
  rereads_.erase(pid);
}

void ProcessTracker::RereadDue(Clock::time_point now, UnwindTableChanges* changes) {
  std::vector<pid_t> due;
  for (auto it = rereads_.begin(); it != rereads_.end();) {
    if (it->second.when > now) {
      ++it;
      continue;
    }
    due.push_back(it->first);
    // Due again twice as long after, up to its last step.
    Reread& r = it->second;
    if (++r.step == kRereadSteps) {
      it = rereads_.erase(it);
      continue;
    }
    r.when = now + std::chrono::milliseconds(10 << r.step);
    ++it;
  }
  for (pid_t pid : due) Changed(table_.Refresh(pid), pid, changes);
}

double ProcessTracker::SecondsToNextReread(Clock::time_point now) const {
  double next = 1;
  for (const auto& [pid, r] : rereads_)
    next = std::min(next, std::max(0.0, std::chrono::duration<double>(r.when - now).count()));
  return next;
}

void ProcessTracker::RereadFollowed(UnwindTableChanges* changes) {
  for (pid_t pid : followed_) Changed(table_.Refresh(pid), pid, changes);
}

std::vector<std::pair<pid_t, uint64_t>> ProcessTracker::TakeExited() {
  std::vector<std::pair<pid_t, uint64_t>> exited;
  for (pid_t pid : exited_)
    if (const ProcessInfo* process = table_.Find(pid))
      exited.emplace_back(pid, process->start_ticks);
  exited_.clear();
  return exited;
}

void ProcessTracker::Forget(pid_t pid, uint64_t start_ticks) {
  const ProcessInfo* process = table_.Find(pid);
  if (process && process->start_ticks == start_ticks) table_.Forget(pid);
}

void ProcessTracker::Clear() {
  table_ = ProcessTable();
  followed_.clear();
  rereads_.clear();
  exited_.clear();
}

}  // namespace profd

#include "process/process_tracker.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

namespace profd {
namespace {

using Clock = ProcessTracker::Clock;

// A child that sleeps until killed: a live process other than ours.
class Child {
 public:
  Child() : pid_(fork()) {
    if (pid_ == 0) {
      pause();
      _exit(0);
    }
  }
  ~Child() {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_;
};

TEST(ProcessTracker, ReadTellsTheTablesOnlyWhatIsNew) {
  ProcessTracker tracker({});
  UnwindTableChanges changes;
  tracker.Read(getpid(), &changes);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].pid, getpid());
  ASSERT_TRUE(changes[0].process.has_value());
  EXPECT_NE(tracker.table().Find(getpid()), nullptr);
  changes.clear();
  tracker.Read(getpid(), &changes);  // nothing mapped since
  tracker.Sampled(getpid(), &changes);
  EXPECT_TRUE(changes.empty());
}

TEST(ProcessTracker, FramePointersOnlyNeedNoTables) {
  ProcessTracker tracker({.dwarf_unwinding = false});
  UnwindTableChanges changes;
  tracker.Read(getpid(), &changes);
  EXPECT_TRUE(changes.empty());
  EXPECT_NE(tracker.table().Find(getpid()), nullptr);  // still read, for symbols
}

TEST(ProcessTracker, ExitDropsTablesAndKeepsSymbolsUntilForgotten) {
  ProcessTracker tracker({});
  Child child;
  UnwindTableChanges changes;
  tracker.Sampled(child.pid(), &changes);
  ASSERT_EQ(changes.size(), 1u);
  changes.clear();
  tracker.Notice({.pid = child.pid(), .exited = true}, Clock::now(), nullptr, &changes);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_FALSE(changes[0].process.has_value());
  const ProcessInfo* known = tracker.table().Find(child.pid());
  ASSERT_NE(known, nullptr);
  const uint64_t start_ticks = known->start_ticks;
  const std::vector<std::pair<pid_t, uint64_t>> exited = tracker.TakeExited();
  ASSERT_EQ(exited.size(), 1u);
  EXPECT_EQ(exited[0], std::make_pair(child.pid(), start_ticks));
  EXPECT_TRUE(tracker.TakeExited().empty());     // each exit is handed over once
  tracker.Forget(child.pid(), start_ticks + 1);  // another process at that pid: not this one
  EXPECT_NE(tracker.table().Find(child.pid()), nullptr);
  tracker.Forget(child.pid(), start_ticks);
  EXPECT_EQ(tracker.table().Find(child.pid()), nullptr);
}

TEST(ProcessTracker, NoticesOfUnknownProcessesCountOnlyWhenFollowing) {
  Child child;
  UnwindTableChanges changes;
  ProcessTracker host_wide({});
  host_wide.Notice({.pid = child.pid(), .exited = false, .forked = true}, Clock::now(), nullptr,
                   &changes);
  EXPECT_TRUE(changes.empty());
  EXPECT_EQ(host_wide.table().Find(child.pid()), nullptr);

  ProcessTracker following({.follow_forks = true});
  following.Notice({.pid = child.pid(), .exited = false, .forked = true}, Clock::now(), nullptr,
                   &changes);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].pid, child.pid());
  EXPECT_TRUE(changes[0].process.has_value());
  // A fork schedules no re-read; only an exec does.
  EXPECT_EQ(following.SecondsToNextReread(Clock::now()), 1.0);
}

TEST(ProcessTracker, ExecIsReadAgainFiveTimesThenNoMore) {
  ProcessTracker tracker({.reread_after_exec = true});
  UnwindTableChanges changes;
  tracker.Read(getpid(), &changes);
  const Clock::time_point start = Clock::now();
  tracker.Notice({.pid = getpid(), .exited = false}, start, nullptr, &changes);
  EXPECT_LE(tracker.SecondsToNextReread(start), 0.011);
  Clock::time_point now = start;
  for (int i = 0; i < 5; i++) {
    now += std::chrono::seconds(1);
    EXPECT_EQ(tracker.SecondsToNextReread(now), 0.0) << i;
    tracker.RereadDue(now, &changes);
  }
  EXPECT_EQ(tracker.SecondsToNextReread(now + std::chrono::seconds(1)), 1.0);
}

TEST(ProcessTracker, ReleasedOnExecStopsTracking) {
  ProcessTracker tracker({.reread_after_exec = true});
  UnwindTableChanges changes;
  tracker.Read(getpid(), &changes);
  changes.clear();
  tracker.Notice(
      {.pid = getpid(), .exited = false}, Clock::now(), [](pid_t) { return true; }, &changes);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_FALSE(changes[0].process.has_value());
  EXPECT_EQ(tracker.SecondsToNextReread(Clock::now()), 1.0);  // no re-read for it
}

}  // namespace
}  // namespace profd

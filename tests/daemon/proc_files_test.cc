#include "process/proc_files.h"

#include <errno.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <thread>

#include "profd_abi.h"

namespace profd {
namespace {

pid_t Tid() { return static_cast<pid_t>(syscall(SYS_gettid)); }

// A pid that was ours and is gone: a child that exited and was reaped.
pid_t GonePid() {
  const pid_t child = fork();
  if (child == 0) _exit(0);
  waitpid(child, nullptr, 0);
  return child;
}

void Spin(std::chrono::milliseconds how_long) {
  const auto end = std::chrono::steady_clock::now() + how_long;
  volatile uint64_t x = 0;
  while (std::chrono::steady_clock::now() < end) x = x + 1;
}

TEST(ProcFiles, ThreadsNamesAndStatesOfThisProcess) {
  std::atomic<pid_t> worker_tid{0};
  std::atomic<bool> done{false};
  std::thread worker([&] {
    pthread_setname_np(pthread_self(), "proc-files-w");
    worker_tid = Tid();
    while (!done) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  });
  while (worker_tid == 0) std::this_thread::yield();
  const std::vector<pid_t> threads = ThreadsOf(getpid());
  EXPECT_TRUE(std::is_sorted(threads.begin(), threads.end()));
  EXPECT_NE(std::find(threads.begin(), threads.end(), getpid()), threads.end());
  EXPECT_NE(std::find(threads.begin(), threads.end(), worker_tid.load()), threads.end());
  EXPECT_EQ(ThreadComm(getpid(), worker_tid), "proc-files-w");
  EXPECT_EQ(ThreadState(getpid(), Tid()), 'R');  // this thread, reading its own stat
  done = true;
  worker.join();
}

TEST(ProcFiles, RunTimeGrowsWithWork) {
  const uint64_t before = ThreadRunNanos(getpid(), Tid());
  const double user_before = ProcessUserSeconds(getpid());
  const double all_before = ProcessRunSeconds(getpid());
  Spin(std::chrono::milliseconds(300));
  const uint64_t ran = ThreadRunNanos(getpid(), Tid()) - before;
  // 300 ms of wall time spinning: most of it on a CPU even on a loaded host, never more.
  EXPECT_GT(ran, 50'000'000u);
  EXPECT_LT(ran, 400'000'000u);
  EXPECT_GT(ProcessUserSeconds(getpid()) - user_before, 0.04);
  EXPECT_GT(ProcessRunSeconds(getpid()) - all_before, 0.05);
}

TEST(ProcFiles, CommandLineExecutableAndCgroup) {
  const std::optional<std::string> cmdline = ReadCmdline(getpid());
  ASSERT_TRUE(cmdline.has_value());
  // The first argument is how we were started; there is no trailing NUL.
  EXPECT_EQ(cmdline->substr(0, cmdline->find('\0')), program_invocation_name);
  EXPECT_NE(cmdline->back(), '\0');
  char real[PATH_MAX];
  ASSERT_NE(realpath(program_invocation_name, real), nullptr);
  EXPECT_EQ(ExecutableOf(getpid()), real);
  const std::string cgroup = CgroupOf(getpid());
  EXPECT_FALSE(cgroup.empty());
  EXPECT_EQ(cgroup.front(), '/');
}

// The start time is the boot-time clock at fork in 10 ms ticks, as the BPF Python walk computes it
// from the task's start_boottime (profd_python_code_seen).
TEST(ProcFiles, StartTicksAreTheBootClockAtFork) {
  auto boot_ticks = [] {
    timespec now;
    clock_gettime(CLOCK_BOOTTIME, &now);
    return (static_cast<uint64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec) /
           PROFD_NANOS_PER_CLOCK_TICK;
  };
  const uint64_t before = boot_ticks();
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const pid_t child = fork();
  if (child == 0) {
    char byte;
    close(ready[1]);
    (void)!read(ready[0], &byte, 1);  // until the parent has read our stat
    _exit(0);
  }
  const uint64_t after = boot_ticks();
  const uint64_t started = ProcessStartTicks(child);
  close(ready[1]);
  waitpid(child, nullptr, 0);
  close(ready[0]);
  EXPECT_GE(started, before);
  EXPECT_LE(started, after);
  EXPECT_GE(started, ProcessStartTicks(getpid()));
}

TEST(ProcFiles, AGoneProcessAnswersEmpty) {
  const pid_t gone = GonePid();
  EXPECT_TRUE(ThreadsOf(gone).empty());
  EXPECT_FALSE(ReadCmdline(gone).has_value());
  EXPECT_EQ(ThreadComm(gone, gone), "");
  EXPECT_EQ(ThreadState(gone, gone), 0);
  EXPECT_EQ(ThreadRunNanos(gone, gone), 0u);
  EXPECT_EQ(ProcessRunSeconds(gone), 0);
  EXPECT_EQ(ProcessUserSeconds(gone), 0);
  EXPECT_EQ(ProcessStartTicks(gone), 0u);
  EXPECT_EQ(CgroupOf(gone), "");
  EXPECT_EQ(ExecutableOf(gone), "");
}

}  // namespace
}  // namespace profd

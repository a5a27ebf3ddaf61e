// The one reader of what profd reads from /proc about a process and its threads, beyond its
// mappings and credentials (process_table.h): thread ids, files of a thread, the command line, CPU
// time, the thread's state, its cgroup and executable. Every function answers "" / 0 / empty for
// a process or thread that is gone (or that profd may not read), never throws.
#ifndef PROFD_DAEMON_PROCESS_PROC_FILES_H
#define PROFD_DAEMON_PROCESS_PROC_FILES_H

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace profd {

// "/proc/PID/WHAT", or "/proc/PID/task/TID/WHAT".
std::string ProcPath(pid_t pid, const std::string& what);
std::string TaskPath(pid_t pid, pid_t tid, const std::string& what);

// The whole file; "" when it cannot be read.
std::string ReadProcFile(const std::string& path);

// The ids of the process's threads, ascending; empty when it is gone.
std::vector<pid_t> ThreadsOf(pid_t pid);

// Calls `visit` once for each thread of `pids` not yet in `seen` (and adds it), for giving every
// thread a per-thread perf event: a thread created before its creator's event was opened has none,
// so the threads are listed again until a pass finds no new one (one created after it inherits the
// event). Stops at the first `visit` that returns false, and returns false then.
bool ForEachNewThread(const std::vector<pid_t>& pids, std::set<pid_t>* seen,
                      const std::function<bool(pid_t)>& visit);

// /proc/PID/cmdline with its final NUL dropped (arguments stay NUL-separated, as net/http/pprof
// answers them); nullopt when the process is gone.
std::optional<std::string> ReadCmdline(pid_t pid);

// A thread's name (/proc/PID/task/TID/comm, without the newline).
std::string ThreadComm(pid_t pid, pid_t tid);

// A thread's state letter from its stat ('R' running or runnable, 'S', 'D', ...); 0 when gone.
char ThreadState(pid_t pid, pid_t tid);

// Nanoseconds the thread has run on a CPU (the first field of its schedstat); 0 when gone.
uint64_t ThreadRunNanos(pid_t pid, pid_t tid);

// Seconds every thread of the process has run (the sum of their schedstat); 0 when gone.
double ProcessRunSeconds(pid_t pid);

// Seconds the process has run in user mode (utime of /proc/PID/stat, in clock ticks); 0 when gone.
double ProcessUserSeconds(pid_t pid);

// When the process started, in clock ticks since boot (starttime of /proc/PID/stat); 0 when gone.
uint64_t ProcessStartTicks(pid_t pid);

// The process's cgroup v2 path ("/system.slice/redis.service"); "" when none or gone.
std::string CgroupOf(pid_t pid);

// The target of /proc/PID/exe; "" when it cannot be read.
std::string ExecutableOf(pid_t pid);

}  // namespace profd

#endif  // PROFD_DAEMON_PROCESS_PROC_FILES_H

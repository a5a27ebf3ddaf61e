#include "profiles/thread_dump_profile.h"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "base/log.h"
#include "collect/thread_dump.h"
#include "process/proc_files.h"
#include "process/process_table.h"
#include "profile_builder.h"
#include "profiles/profile_assembler.h"
#include "symbolizer.h"

namespace profd {

CollectedProfile CollectThreadDump(const ProfileRequest& request) {
  CollectedProfile result;
  std::string error;
  if (request.all_processes) {
    result.status = CollectedProfile::Status::kBadRequest;
    result.error =
        "the goroutine profile dumps the threads of given processes, not of the whole host";
    return result;
  }
  KernelSymbolizer kernel;
  if (!kernel.Load("/proc/kallsyms", &error)) LogWarning("kernel stacks are left out: " + error);
  ProcessTable processes;
  ThreadDump dump;
  const auto wall_start = std::chrono::system_clock::now();
  for (pid_t pid : request.pids) {
    if (!processes.Observe(pid)) {
      result.error = "pid " + std::to_string(pid) + " exited before its threads could be read";
      return result;
    }
    if (DumpThreads(*processes.Find(pid), kernel, request.dwarf_unwinding, &dump) == 0) {
      result.error = "no thread of pid " + std::to_string(pid) + " could be read" +
                     (dump.errors.empty() ? "" : ": " + dump.errors.back());
      return result;
    }
  }
  // Ownership was checked before the dump; a set-user-ID exec meanwhile makes it another user's
  // (and undumpable: its /proc directory root's), and what was read is not handed out.
  for (pid_t pid : request.pids) {
    ProcessCredentials c;
    struct stat st;
    if (request.owner_uid < 0 || !ReadProcessCredentials(pid, &c) ||
        stat(("/proc/" + std::to_string(pid)).c_str(), &st) != 0)
      continue;
    if (c.WhollyUsers(static_cast<uint32_t>(request.owner_uid)) && st.st_uid == request.owner_uid)
      continue;
    result.status = CollectedProfile::Status::kBadRequest;
    result.error = "pid " + std::to_string(pid) +
                   " changed credentials (or became undumpable) while its threads were read: it "
                   "is no longer yours to profile";
    LogWarning(result.error);
    return result;
  }
  for (const std::string& e : dump.errors) LogWarning(e);
  std::vector<double>& pauses = dump.pause_micros;
  Symbolizer symbolizer(ProfileSymbolizerOptions());
  ProfileAssembler assembler(&symbolizer, &kernel, &processes);
  result.builder = std::make_unique<ProfileBuilder>(
      SampleTypesOf(ProfileType::kGoroutine), InfoOf(ProfileType::kGoroutine).default_sample_type,
      ValueType{"goroutine", "count"}, 1);
  ProfileBuilder& builder = *result.builder;
  assembler.Add(dump.samples, &builder);
  builder.SetTime(
      std::chrono::duration_cast<std::chrono::nanoseconds>(wall_start.time_since_epoch()).count(),
      0);
  std::sort(pauses.begin(), pauses.end());
  char line[200];
  std::snprintf(line, sizeof(line),
                "profd 0.1.0 thread dump: %zu threads, each stopped (ptrace) for median %.0f us, "
                "max %.0f us",
                pauses.size(), pauses.empty() ? 0.0 : pauses[pauses.size() / 2],
                pauses.empty() ? 0.0 : pauses.back());
  builder.AddComment(line);
  LogDebug(line);
  result.status = CollectedProfile::Status::kOk;
  return result;
}

}  // namespace profd

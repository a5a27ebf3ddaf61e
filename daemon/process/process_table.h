// What profd knows of each profiled process: its name and its executable mappings, captured while
// the process is alive so that its samples can still be symbolized after it exits or its files are
// replaced.
#ifndef PROFD_DAEMON_PROCESS_PROCESS_TABLE_H
#define PROFD_DAEMON_PROCESS_PROCESS_TABLE_H

#include <sys/types.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/unique_fd.h"

namespace profd {

// One line of /proc/PID/maps.
struct MapsEntry {
  uint64_t start = 0;
  uint64_t end = 0;
  uint64_t offset = 0;
  std::string perms;  // "r-xp"
  uint32_t dev_major = 0;
  uint32_t dev_minor = 0;
  uint64_t inode = 0;
  std::string path;  // "" for anonymous, "[vdso]" etc. for special mappings; " (deleted)" stripped
  bool deleted = false;

  bool executable() const { return perms.size() > 2 && perms[2] == 'x'; }
};

// Parses the text of /proc/PID/maps; lines that do not parse are skipped.
std::vector<MapsEntry> ParseProcMaps(const std::string& text);

// A mapped file held open by fd, so it stays readable after the process exits or the file is
// deleted. Shared by every process that maps the same file (same device and inode).
struct MappedFile {
  UniqueFd fd;
  std::string path;  // the path the process mapped it from
  uint64_t dev = 0;
  uint64_t inode = 0;
  // Path the symbolizer opens: /proc/self/fd/N.
  std::string open_path() const { return "/proc/self/fd/" + std::to_string(fd.get()); }
};

struct Mapping {
  uint64_t start = 0;
  uint64_t end = 0;
  uint64_t offset = 0;
  std::string path;
  std::shared_ptr<MappedFile> file;  // null for anonymous code and files that could not be opened
  bool is_vdso = false;              // file is then a copy of the vDSO image
};

struct ProcessInfo {
  pid_t pid = 0;
  std::string comm;
  std::string exe;                // the executable's path (/proc/PID/exe), "" when unreadable
  // Its start in clock ticks since boot (/proc/PID/stat's starttime): with the pid, which process
  // this is, once pids are reused.
  uint64_t start_ticks = 0;
  // Its service_name and container_id labels (ServiceNameOf, ContainerIdOf of its cgroup), taken
  // once when it is read rather than at every sample.
  std::string service_name;
  std::string container_id;
  // The process's root directory, for debug-file lookups inside containers: /proc/self/fd/N of
  // root_dir, held open so that it still reaches the files once the process has exited (a zombie's
  // /proc/PID/root cannot be followed); /proc/PID/root when it could not be opened.
  std::string root;
  std::shared_ptr<UniqueFd> root_dir;
  std::vector<Mapping> mappings;  // executable mappings, sorted by start
  bool kernel_thread = false;

  // The mapping holding `address`, or null.
  const Mapping* FindMapping(uint64_t address) const;
  // The executable's first mapping (pprof's main binary), else the first file mapping, or null.
  const Mapping* MainMapping() const;
};

// Reads /proc/PID/comm ("" when the process is gone).
std::string ReadProcessComm(pid_t pid);
// True while the process runs: it exists and has not exited (a zombie has).
bool ProcessExists(pid_t pid);
// True for kernel threads (PF_KTHREAD in /proc/PID/stat).
bool IsKernelThread(pid_t pid);
// The real, effective, saved and filesystem uids of /proc/PID/status; false without the process.
bool ReadProcessUids(pid_t pid, uid_t uids[4]);

// A process's credentials as /proc/PID/status gives them.
struct ProcessCredentials {
  uint32_t uids[4] = {};  // real, effective, saved, filesystem
  uint32_t gids[4] = {};
  uint64_t permitted_capabilities = 0;
  // What a user without privileges can hold, as the BPF filter checks it (owner_uid): all four
  // uids `uid`, the four gids one group (none gained by a set-group-ID exec), no capabilities (none
  // gained from file capabilities).
  bool WhollyUsers(uint32_t uid) const;
};
bool ReadProcessCredentials(pid_t pid, ProcessCredentials* out);

class ProcessTable {
 public:
  // Captures `pid` if it is not known yet. Returns false when it could not be read (e.g. it
  // exited).
  bool Observe(pid_t pid);
  // Re-reads the mappings of a known live process (after dlopen or exec); keeps the old ones if it
  // is gone. Returns true when its executable mappings changed.
  bool Refresh(pid_t pid);
  const ProcessInfo* Find(pid_t pid) const;
  // A copy of `pids`' entries (every process when empty) sharing their open files: for reading
  // while this table changes.
  ProcessTable Snapshot(const std::vector<pid_t>& pids) const {
    ProcessTable copy;
    for (const auto& [pid, info] : processes_)
      if (pids.empty() || std::find(pids.begin(), pids.end(), pid) != pids.end())
        copy.processes_.emplace(pid, info);
    copy.vdso_ = vdso_;
    copy.vdso_tried_ = vdso_tried_;
    return copy;
  }
  std::vector<pid_t> pids() const {
    std::vector<pid_t> out;
    for (const auto& [pid, info] : processes_) out.push_back(pid);
    return out;
  }
  // Forgets `pid` (its files close when no other process maps them).
  void Forget(pid_t pid) { processes_.erase(pid); }
  size_t size() const { return processes_.size(); }
  size_t open_files() const { return files_.size(); }

 private:
  bool Capture(pid_t pid, ProcessInfo* info);
  std::shared_ptr<MappedFile> OpenFile(pid_t pid, const MapsEntry& entry);
  std::shared_ptr<MappedFile> VdsoFile();

  std::map<pid_t, ProcessInfo> processes_;
  std::map<std::pair<uint64_t, uint64_t>, std::weak_ptr<MappedFile>> files_;  // (dev, inode)
  std::shared_ptr<MappedFile> vdso_;
  bool vdso_tried_ = false;
};

}  // namespace profd

#endif  // PROFD_DAEMON_PROCESS_PROCESS_TABLE_H

#include "process/process_table.h"

#include <fcntl.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "process/proc_files.h"
#include "process/process_labels.h"

namespace profd {
namespace {

// The kernel marks paths of deleted files with this suffix; returns whether it was there.
bool StripDeletedSuffix(std::string* path) {
  static const std::string kDeleted = " (deleted)";
  if (path->size() <= kDeleted.size() ||
      path->compare(path->size() - kDeleted.size(), kDeleted.size(), kDeleted) != 0)
    return false;
  path->resize(path->size() - kDeleted.size());
  return true;
}

}  // namespace

std::vector<MapsEntry> ParseProcMaps(const std::string& text) {
  std::vector<MapsEntry> entries;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    MapsEntry e;
    char perms[8] = {};
    unsigned long long start, end, offset, inode;
    unsigned major, minor;
    int path_at = 0;
    if (std::sscanf(line.c_str(), "%llx-%llx %7s %llx %x:%x %llu %n", &start, &end, perms, &offset,
                    &major, &minor, &inode, &path_at) < 7)
      continue;
    e.start = start;
    e.end = end;
    e.perms = perms;
    e.offset = offset;
    e.dev_major = major;
    e.dev_minor = minor;
    e.inode = inode;
    if (path_at > 0 && static_cast<size_t>(path_at) <= line.size()) e.path = line.substr(path_at);
    e.deleted = StripDeletedSuffix(&e.path);
    entries.push_back(std::move(e));
  }
  return entries;
}

const Mapping* ProcessInfo::FindMapping(uint64_t address) const {
  auto it = std::upper_bound(mappings.begin(), mappings.end(), address,
                             [](uint64_t a, const Mapping& m) { return a < m.start; });
  if (it == mappings.begin()) return nullptr;
  --it;
  return address < it->end ? &*it : nullptr;
}

const Mapping* ProcessInfo::MainMapping() const {
  for (const Mapping& m : mappings)
    if (!exe.empty() && m.path == exe) return &m;
  for (const Mapping& m : mappings)
    if (m.file) return &m;
  return nullptr;
}

std::string ReadProcessComm(pid_t pid) {
  std::string comm = ReadProcFile(ProcPath(pid, "comm"));
  while (!comm.empty() && comm.back() == '\n') comm.pop_back();
  return comm;
}

bool ReadProcessCredentials(pid_t pid, ProcessCredentials* out) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  int found = 0;
  auto four = [&](uint32_t ids[4]) {
    std::istringstream fields(line.substr(4));
    for (int i = 0; i < 4; i++) {
      unsigned long value;
      if (!(fields >> value)) return false;
      ids[i] = static_cast<uint32_t>(value);
    }
    return true;
  };
  while (found < 3 && std::getline(in, line)) {
    if (line.rfind("Uid:", 0) == 0) {
      if (!four(out->uids)) return false;
      found++;
    } else if (line.rfind("Gid:", 0) == 0) {
      if (!four(out->gids)) return false;
      found++;
    } else if (line.rfind("CapPrm:", 0) == 0) {
      out->permitted_capabilities = std::strtoull(line.c_str() + 7, nullptr, 16);
      found++;
    }
  }
  return found == 3;
}

bool ReadProcessUids(pid_t pid, uid_t uids[4]) {
  ProcessCredentials credentials;
  if (!ReadProcessCredentials(pid, &credentials)) return false;
  std::copy(credentials.uids, credentials.uids + 4, uids);
  return true;
}

bool ProcessCredentials::WhollyUsers(uint32_t uid) const {
  auto all = [](const uint32_t ids[4], uint32_t id) {
    return ids[0] == id && ids[1] == id && ids[2] == id && ids[3] == id;
  };
  return all(uids, uid) && all(gids, gids[0]) && permitted_capabilities == 0;
}

bool ProcessExists(pid_t pid) {
  // A zombie (Z) or dead (X) process has exited; only its parent has not reaped it yet.
  const char state = ThreadState(pid, pid);
  return state != 0 && state != 'Z' && state != 'X';
}

bool IsKernelThread(pid_t pid) {
  std::string stat = ReadProcFile(ProcPath(pid, "stat"));
  // Fields after the parenthesised comm, which may itself hold spaces and parentheses.
  size_t close = stat.rfind(')');
  if (close == std::string::npos) return false;
  std::istringstream rest(stat.substr(close + 2));
  std::string field;
  unsigned long flags = 0;
  for (int i = 3; i <= 9 && rest >> field; i++)
    if (i == 9) flags = std::stoul(field);
  constexpr unsigned long kPfKthread = 0x00200000;
  return flags & kPfKthread;
}

std::shared_ptr<MappedFile> ProcessTable::OpenFile(pid_t pid, const MapsEntry& entry) {
  const uint64_t dev = makedev(entry.dev_major, entry.dev_minor);
  auto key = std::make_pair(dev, entry.inode);
  if (auto it = files_.find(key); it != files_.end()) {
    if (auto file = it->second.lock()) return file;
  }
  // map_files reaches the very file that is mapped, even when deleted or replaced on disk, and
  // inside another mount namespace; the root path is the fallback where map_files is not readable.
  char name[64];
  std::snprintf(name, sizeof(name), "/map_files/%" PRIx64 "-%" PRIx64, entry.start, entry.end);
  // Non-blocking and checked: by the path the target may have put a FIFO, or a symlink to any
  // file of the host, there since; from it only the mapped file itself (device and inode) is taken.
  constexpr int kFlags = O_RDONLY | O_NONBLOCK | O_CLOEXEC;
  int fd = ::open(("/proc/" + std::to_string(pid) + name).c_str(), kFlags);
  bool by_path = false;
  if (fd < 0) {
    fd = ::open((ProcPath(pid, "root") + entry.path).c_str(), kFlags);
    by_path = true;
  }
  if (fd < 0) return nullptr;
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
      (by_path && (st.st_ino != entry.inode || st.st_dev != dev))) {
    ::close(fd);
    return nullptr;
  }
  auto file = std::make_shared<MappedFile>();
  file->fd = UniqueFd(fd);
  file->path = entry.path;
  file->dev = dev;
  file->inode = entry.inode;
  files_[key] = file;
  return file;
}

// The vDSO is not a file; every process of this kernel maps the same image, so a copy of profd's
// own stands in for all of them (for symbols and unwind tables alike).
std::shared_ptr<MappedFile> ProcessTable::VdsoFile() {
  if (vdso_tried_) return vdso_;
  vdso_tried_ = true;
  const uint64_t base = getauxval(AT_SYSINFO_EHDR);
  if (!base) return nullptr;
  uint64_t end = 0;
  for (const MapsEntry& e : ParseProcMaps(ReadProcFile("/proc/self/maps")))
    if (e.path == "[vdso]" && e.start == base) end = e.end;
  if (end <= base) return nullptr;
  int fd = memfd_create("profd-vdso", MFD_CLOEXEC);
  if (fd < 0) return nullptr;
  auto file = std::make_shared<MappedFile>();
  file->fd = UniqueFd(fd);
  file->path = "[vdso]";
  const size_t size = end - base;
  if (::write(fd, reinterpret_cast<const void*>(base), size) != static_cast<ssize_t>(size))
    return nullptr;
  vdso_ = std::move(file);
  return vdso_;
}

bool ProcessTable::Capture(pid_t pid, ProcessInfo* info) {
  std::string maps = ReadProcFile(ProcPath(pid, "maps"));
  std::string comm = ReadProcessComm(pid);
  if (comm.empty()) return false;
  info->pid = pid;
  info->comm = comm;
  info->start_ticks = ProcessStartTicks(pid);
  info->root = ProcPath(pid, "root");
  if (UniqueFd dir(::open(info->root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC)); dir.valid()) {
    info->root = "/proc/self/fd/" + std::to_string(dir.get());
    info->root_dir = std::make_shared<UniqueFd>(std::move(dir));
  }
  char exe[4096];
  const ssize_t n = ::readlink(ProcPath(pid, "exe").c_str(), exe, sizeof(exe) - 1);
  info->exe = n > 0 ? std::string(exe, static_cast<size_t>(n)) : "";
  StripDeletedSuffix(&info->exe);
  const std::string cgroup = CgroupOf(pid);
  info->service_name = ServiceNameOf(cgroup, comm, info->exe);
  info->container_id = ContainerIdOf(cgroup);
  info->kernel_thread = maps.empty() && IsKernelThread(pid);
  std::vector<Mapping> mappings;
  for (const MapsEntry& e : ParseProcMaps(maps)) {
    if (!e.executable()) continue;
    Mapping m;
    m.start = e.start;
    m.end = e.end;
    m.offset = e.offset;
    m.path = e.path;
    m.is_vdso = e.path == "[vdso]";
    if (m.is_vdso)
      m.file = VdsoFile();
    else if (!e.path.empty() && e.path[0] == '/')
      m.file = OpenFile(pid, e);
    mappings.push_back(std::move(m));
  }
  std::sort(mappings.begin(), mappings.end(),
            [](const Mapping& a, const Mapping& b) { return a.start < b.start; });
  if (!mappings.empty() || info->mappings.empty()) info->mappings = std::move(mappings);
  return true;
}

bool ProcessTable::Observe(pid_t pid) {
  if (processes_.count(pid)) return true;
  ProcessInfo info;
  if (!Capture(pid, &info)) return false;
  processes_.emplace(pid, std::move(info));
  return true;
}

bool ProcessTable::Refresh(pid_t pid) {
  auto it = processes_.find(pid);
  if (it == processes_.end()) return Observe(pid);
  ProcessInfo fresh = it->second;
  if (!Capture(pid, &fresh)) return false;
  auto same = [](const Mapping& a, const Mapping& b) {
    return a.start == b.start && a.end == b.end && a.offset == b.offset && a.path == b.path;
  };
  const bool changed = !std::equal(fresh.mappings.begin(), fresh.mappings.end(),
                                   it->second.mappings.begin(), it->second.mappings.end(), same);
  it->second = std::move(fresh);
  return changed;
}

const ProcessInfo* ProcessTable::Find(pid_t pid) const {
  auto it = processes_.find(pid);
  return it == processes_.end() ? nullptr : &it->second;
}

}  // namespace profd

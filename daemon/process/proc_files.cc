#include "process/proc_files.h"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iterator>
#include <sstream>

namespace profd {
namespace {

// The fields after "(comm)" of a stat line: the name may hold spaces and parentheses.
std::string FieldsAfterComm(const std::string& stat) {
  const size_t close = stat.rfind(')');
  return close == std::string::npos || close + 2 > stat.size() ? "" : stat.substr(close + 2);
}

std::string FirstLine(const std::string& text) { return text.substr(0, text.find('\n')); }

// Field `n` of /proc/PID/stat, numbered as proc(5) does (3 and up: those after the comm); "" when
// the process is gone.
std::string StatField(pid_t pid, int n) {
  std::istringstream fields(FieldsAfterComm(ReadProcFile(ProcPath(pid, "stat"))));
  std::string field;
  for (int i = 3; i <= n && fields >> field; i++)
    if (i == n) return field;
  return "";
}

}  // namespace

std::string ProcPath(pid_t pid, const std::string& what) {
  return "/proc/" + std::to_string(pid) + "/" + what;
}

std::string TaskPath(pid_t pid, pid_t tid, const std::string& what) {
  return "/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/" + what;
}

std::string ReadProcFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::vector<pid_t> ThreadsOf(pid_t pid) {
  std::vector<pid_t> tids;
  DIR* dir = opendir(ProcPath(pid, "task").c_str());
  if (!dir) return tids;
  while (dirent* entry = readdir(dir)) {
    const int tid = std::atoi(entry->d_name);
    if (tid > 0) tids.push_back(tid);
  }
  closedir(dir);
  std::sort(tids.begin(), tids.end());
  return tids;
}

bool ForEachNewThread(const std::vector<pid_t>& pids, std::set<pid_t>* seen,
                      const std::function<bool(pid_t)>& visit) {
  for (bool found_new = true; found_new;) {
    found_new = false;
    for (pid_t pid : pids) {
      for (pid_t tid : ThreadsOf(pid)) {
        if (!seen->insert(tid).second) continue;
        found_new = true;
        if (!visit(tid)) return false;
      }
    }
  }
  return true;
}

std::optional<std::string> ReadCmdline(pid_t pid) {
  std::ifstream in(ProcPath(pid, "cmdline"), std::ios::binary);
  if (!in) return std::nullopt;
  std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return std::nullopt;
  if (!cmdline.empty() && cmdline.back() == '\0') cmdline.pop_back();
  return cmdline;
}

std::string ThreadComm(pid_t pid, pid_t tid) {
  return FirstLine(ReadProcFile(TaskPath(pid, tid, "comm")));
}

char ThreadState(pid_t pid, pid_t tid) {
  const std::string fields = FieldsAfterComm(ReadProcFile(TaskPath(pid, tid, "stat")));
  return fields.empty() ? 0 : fields[0];
}

uint64_t ThreadRunNanos(pid_t pid, pid_t tid) {
  return std::strtoull(ReadProcFile(TaskPath(pid, tid, "schedstat")).c_str(), nullptr, 10);
}

double ProcessRunSeconds(pid_t pid) {
  double total = 0;
  for (pid_t tid : ThreadsOf(pid)) total += ThreadRunNanos(pid, tid) / 1e9;
  return total;
}

double ProcessUserSeconds(pid_t pid) {
  // utime is field 14
  return std::strtod(StatField(pid, 14).c_str(), nullptr) / sysconf(_SC_CLK_TCK);
}

uint64_t ProcessStartTicks(pid_t pid) {
  return std::strtoull(StatField(pid, 22).c_str(), nullptr, 10);  // starttime is field 22
}

std::string CgroupOf(pid_t pid) {
  std::istringstream lines(ReadProcFile(ProcPath(pid, "cgroup")));
  std::string line;
  while (std::getline(lines, line))
    if (line.rfind("0::", 0) == 0) return line.substr(3);
  return "";
}

std::string ExecutableOf(pid_t pid) {
  char buffer[4096];
  const ssize_t n = readlink(ProcPath(pid, "exe").c_str(), buffer, sizeof(buffer) - 1);
  return n > 0 ? std::string(buffer, static_cast<size_t>(n)) : "";
}

}  // namespace profd

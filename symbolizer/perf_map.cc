#include "perf_map.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>

#include "jit_ranges.h"

namespace profd {

namespace {

// The process's pid in its own pid namespace: the last NSpid field of /proc/PID/status.
pid_t NamespacePid(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("NSpid:", 0) != 0) continue;
    std::istringstream fields(line.substr(6));
    pid_t last = 0;
    for (pid_t value; fields >> value;) last = value;
    return last;
  }
  return pid;  // kernels without NSpid have one pid namespace
}

bool ParseHex(std::string_view text, uint64_t* value) {
  if (text.starts_with("0x") || text.starts_with("0X")) text.remove_prefix(2);
  if (text.empty()) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *value, 16);
  return ec == std::errc() && end == text.data() + text.size();
}

}  // namespace

bool PerfMap::Load(pid_t pid, uid_t owner, std::string* error) {
  const std::string proc = "/proc/" + std::to_string(pid);
  const std::string path =
      proc + "/root/tmp/perf-" + std::to_string(NamespacePid(pid)) + ".map";
  // O_NONBLOCK: a FIFO of that name must not hang profd; O_NOFOLLOW: nor may a link lead elsewhere.
  const int fd = open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    *error = path + ": " + std::strerror(errno);
    return false;
  }
  struct stat st;
  std::string text;
  bool usable = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  if (!usable) {
    *error = path + " is not a regular file";
  } else if (st.st_uid != owner && st.st_uid != 0) {
    *error = path + " belongs to uid " + std::to_string(st.st_uid) + ", not to the process's uid " +
             std::to_string(owner) + ": ignored";
    usable = false;
  } else {
    // The map grows while the JIT runs: read what is there now, up to the bound.
    const uint64_t size = std::min<uint64_t>(static_cast<uint64_t>(st.st_size), kMaxBytes);
    text.resize(size);
    size_t done = 0;
    while (done < size) {
      const ssize_t n = read(fd, text.data() + done, size - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    text.resize(done);
    // A line cut by the bound or by a writer mid-line is not a whole entry.
    if (const size_t last = text.rfind('\n'); last != std::string::npos) text.resize(last + 1);
  }
  close(fd);
  if (!usable) return false;
  Parse(text);
  return true;
}

void PerfMap::Parse(std::string_view text) {
  std::vector<Entry> parsed;
  while (!text.empty() && parsed.size() < kMaxEntries) {
    const size_t newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    // START SIZE NAME, the name running to the end of the line (it may hold spaces).
    const size_t first = line.find(' ');
    const size_t second = first == std::string_view::npos ? first : line.find(' ', first + 1);
    uint64_t start = 0;
    uint64_t size = 0;
    if (second == std::string_view::npos || !ParseHex(line.substr(0, first), &start) ||
        !ParseHex(line.substr(first + 1, second - first - 1), &size) || size == 0 ||
        start + size < start || second + 1 >= line.size()) {
      skipped_lines_++;
      continue;
    }
    parsed.push_back({start, start + size, std::string(line.substr(second + 1))});
  }
  // Where a JIT reused an address, the line written last describes it now.
  entries_ = symbolizer_internal::LatestByStart(std::move(parsed));
}

std::string_view PerfMap::Find(uint64_t address) const {
  const Entry* entry = symbolizer_internal::FindRange(entries_, address);
  return entry ? std::string_view(entry->name) : std::string_view();
}

}  // namespace profd

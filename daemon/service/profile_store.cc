#include "service/profile_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <iterator>
#include <memory>
#include <utility>

#include "base/atomic_file.h"
#include "base/log.h"
#include "base/unique_fd.h"

namespace profd {
namespace {

constexpr char kSuffix[] = ".pb.gz";
constexpr size_t kSuffixLength = sizeof(kSuffix) - 1;
constexpr size_t kTimeLength = 16;  // YYYYmmddTHHMMSSZ
// AtomicFile's temporaries: the destination + ".tmp." + mkstemp's six characters.
constexpr char kTempInfix[] = ".tmp.";
constexpr size_t kTempInfixLength = sizeof(kTempInfix) - 1;
constexpr size_t kTempRandomLength = 6;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsTypeChar(char c) { return (c >= 'a' && c <= 'z') || IsDigit(c) || c == '_'; }
bool IsCommChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || IsDigit(c) || c == '.' || c == '_' ||
         c == '-';
}
bool IsAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || IsDigit(c); }

bool ValidType(const std::string& type) {
  return !type.empty() && std::all_of(type.begin(), type.end(), IsTypeChar);
}

std::string FormatTime(std::chrono::system_clock::time_point time, bool compact) {
  const std::time_t t =
      std::chrono::system_clock::to_time_t(std::chrono::floor<std::chrono::seconds>(time));
  std::tm tm{};
  if (::gmtime_r(&t, &tm) == nullptr) return "";
  char buf[64];
  std::snprintf(buf, sizeof(buf),
                compact ? "%04d%02d%02dT%02d%02d%02dZ" : "%04d-%02d-%02d %02d:%02d:%02dZ",
                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

bool ParseCompactTime(const std::string& text, std::chrono::system_clock::time_point* time) {
  if (text.size() != kTimeLength || text[8] != 'T' || text[15] != 'Z') return false;
  for (size_t i = 0; i < 15; ++i) {
    if (i != 8 && !IsDigit(text[i])) return false;
  }
  auto number = [&](size_t pos, size_t len) { return std::stoi(text.substr(pos, len)); };
  std::tm tm{};
  tm.tm_year = number(0, 4) - 1900;
  tm.tm_mon = number(4, 2) - 1;
  tm.tm_mday = number(6, 2);
  tm.tm_hour = number(9, 2);
  tm.tm_min = number(11, 2);
  tm.tm_sec = number(13, 2);
  const std::time_t t = ::timegm(&tm);
  *time = std::chrono::system_clock::from_time_t(t);
  // timegm normalizes 20240230 into March: only a time that formats back the same is one.
  return FormatTime(*time, true) == text;
}

bool ParsePid(const std::string& text, pid_t* pid) {
  if (text.empty() || text.size() > 10 || (text.size() > 1 && text[0] == '0')) return false;
  if (!std::all_of(text.begin(), text.end(), IsDigit)) return false;
  const long long value = std::stoll(text);
  if (value > INT_MAX) return false;
  *pid = static_cast<pid_t>(value);
  return true;
}

bool IsTemporaryName(const std::string& name) {
  const size_t length = kTempInfixLength + kTempRandomLength;
  if (name.size() <= length) return false;
  const std::string base = name.substr(0, name.size() - length);
  if (name.compare(base.size(), kTempInfixLength, kTempInfix) != 0) return false;
  if (!std::all_of(name.end() - kTempRandomLength, name.end(), IsAlnum)) return false;
  StoredProfileInfo info;
  return ParseStoredProfileName(base, &info);
}

// Creates `path` and its missing parents; the last one gets `mode`.
bool MakeDirectories(const std::string& path, mode_t mode, std::string* error) {
  for (size_t pos = path.find('/', 1); pos != std::string::npos; pos = path.find('/', pos + 1)) {
    const std::string parent = path.substr(0, pos);
    if (::mkdir(parent.c_str(), 0755) == 0 || errno == EEXIST) continue;
    const int mkdir_errno = errno;
    // A parent that exists where mkdir is refused anyway (read-only file system) is fine.
    struct stat st;
    if (::stat(parent.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      *error = "cannot create " + parent + ": " + std::strerror(mkdir_errno);
      return false;
    }
  }
  if (::mkdir(path.c_str(), mode) == 0) {
    ::chmod(path.c_str(), mode);  // exactly 0750, whatever the umask
    return true;
  }
  if (errno == EEXIST) return true;
  *error = "cannot create " + path + ": " + std::strerror(errno);
  return false;
}

// rename() is durable only once the directory entry is on disk too.
bool SyncDirectory(const std::string& directory, std::string* error) {
  UniqueFd fd(::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid() || ::fsync(fd.get()) != 0) {
    *error = "cannot sync directory " + directory + ": " + std::strerror(errno);
    return false;
  }
  return true;
}

struct DirCloser {
  void operator()(DIR* dir) const { ::closedir(dir); }
};
using DirPtr = std::unique_ptr<DIR, DirCloser>;

std::string HumanBytes(uint64_t bytes) {
  if (bytes < 1024) return std::to_string(bytes) + " B";
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes) / 1024;
  size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(kUnits)) {
    value /= 1024;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f %s", value, kUnits[unit]);
  return buf;
}

}  // namespace

std::string SanitizeComm(const std::string& comm) {
  if (comm.empty()) return "unknown";
  std::string out = comm;
  for (char& c : out) {
    if (!IsCommChar(c)) c = '_';
  }
  return out;
}

std::string StoredProfileName(const StoredProfileInfo& info) {
  return FormatTime(info.time, true) + "-" + info.type + "-" + std::to_string(info.pid) + "-" +
         SanitizeComm(info.comm) + kSuffix;
}

bool ParseStoredProfileName(const std::string& name, StoredProfileInfo* info) {
  if (name.size() < kTimeLength + kSuffixLength + 6) return false;
  if (name.compare(name.size() - kSuffixLength, kSuffixLength, kSuffix) != 0) return false;
  const std::string stem = name.substr(0, name.size() - kSuffixLength);
  if (stem[kTimeLength] != '-') return false;
  StoredProfileInfo parsed;
  if (!ParseCompactTime(stem.substr(0, kTimeLength), &parsed.time)) return false;
  const size_t type_start = kTimeLength + 1;
  const size_t type_end = stem.find('-', type_start);
  if (type_end == std::string::npos) return false;
  parsed.type = stem.substr(type_start, type_end - type_start);
  if (!ValidType(parsed.type)) return false;
  const size_t pid_end = stem.find('-', type_end + 1);
  if (pid_end == std::string::npos) return false;
  if (!ParsePid(stem.substr(type_end + 1, pid_end - type_end - 1), &parsed.pid)) return false;
  // The command is the rest: it may hold '-' itself.
  parsed.comm = stem.substr(pid_end + 1);
  if (parsed.comm.empty() || !std::all_of(parsed.comm.begin(), parsed.comm.end(), IsCommChar)) {
    return false;
  }
  *info = std::move(parsed);
  return true;
}

ProfileStore::ProfileStore(std::string directory, std::chrono::seconds max_age, uint64_t max_bytes)
    : directory_(std::move(directory)), max_age_(max_age), max_bytes_(max_bytes) {
  while (directory_.size() > 1 && directory_.back() == '/') directory_.pop_back();
}

bool ProfileStore::Init(std::string* error) {
  std::string why;
  if (directory_.empty()) {
    *error = "profile store: no directory given";
    return false;
  }
  if (!MakeDirectories(directory_, 0750, &why)) {
    *error = "profile store: " + why;
    return false;
  }
  struct stat st;
  if (::stat(directory_.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    *error = "profile store: " + directory_ + " is not a directory";
    return false;
  }
  if (::faccessat(AT_FDCWD, directory_.c_str(), W_OK | X_OK, AT_EACCESS) != 0) {
    *error = "profile store: cannot write to " + directory_ + ": " + std::strerror(errno);
    return false;
  }
  DirPtr dir(::opendir(directory_.c_str()));
  if (dir == nullptr) {
    *error = "profile store: cannot read " + directory_ + ": " + std::strerror(errno);
    return false;
  }
  int removed = 0;
  while (const dirent* entry = ::readdir(dir.get())) {
    const std::string name = entry->d_name;
    if (!IsTemporaryName(name)) continue;
    struct stat file;
    if (::fstatat(::dirfd(dir.get()), name.c_str(), &file, AT_SYMLINK_NOFOLLOW) != 0 ||
        !S_ISREG(file.st_mode)) {
      continue;
    }
    if (::unlinkat(::dirfd(dir.get()), name.c_str(), 0) == 0) {
      ++removed;
    } else {
      LogWarning("profile store: cannot remove the leftover temporary " + directory_ + "/" + name +
                 ": " + std::strerror(errno));
    }
  }
  if (removed > 0) {
    LogInfo("profile store: removed " + std::to_string(removed) +
            " partial file(s) left by an interrupted write in " + directory_);
  }
  return true;
}

bool ProfileStore::Write(const StoredProfileInfo& info, const std::string& gzipped,
                         std::string* path, std::string* error) {
  if (!ValidType(info.type)) {
    *error = "profile store: invalid profile type name \"" + info.type + "\"";
    return false;
  }
  if (info.pid < 0) {
    *error = "profile store: invalid pid " + std::to_string(info.pid);
    return false;
  }
  const std::string destination = directory_ + "/" + StoredProfileName(info);
  struct stat st;
  if (::lstat(destination.c_str(), &st) == 0) {
    *error = "profile store: " + destination + " already exists";
    return false;
  }
  std::string why;
  AtomicFile file;
  if (!file.Open(destination, &why) || !file.Commit(gzipped, &why)) {
    *error = "profile store: " + why;
    return false;
  }
  // The profile is complete either way; only its survival of a power cut is in doubt.
  if (!SyncDirectory(directory_, &why)) LogWarning("profile store: " + why);
  if (path != nullptr) *path = destination;
  return true;
}

std::vector<StoredProfile> ProfileStore::List(std::string* error) const {
  std::vector<StoredProfile> profiles;
  DirPtr dir(::opendir(directory_.c_str()));
  if (dir == nullptr) {
    if (error != nullptr) {
      *error = "profile store: cannot read " + directory_ + ": " + std::strerror(errno);
    }
    return profiles;
  }
  while (const dirent* entry = ::readdir(dir.get())) {
    StoredProfile profile;
    if (!ParseStoredProfileName(entry->d_name, &profile.info)) continue;
    struct stat st;
    // A file removed meanwhile (retention in the daemon) is simply not listed.
    if (::fstatat(::dirfd(dir.get()), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
        !S_ISREG(st.st_mode)) {
      continue;
    }
    profile.path = directory_ + "/" + entry->d_name;
    profile.size = static_cast<uint64_t>(st.st_size);
    profiles.push_back(std::move(profile));
  }
  std::sort(profiles.begin(), profiles.end(), [](const StoredProfile& a, const StoredProfile& b) {
    if (a.info.time != b.info.time) return a.info.time < b.info.time;
    return a.path < b.path;
  });
  return profiles;
}

RetentionResult ProfileStore::EnforceRetention(std::chrono::system_clock::time_point now) const {
  RetentionResult result;
  std::vector<StoredProfile> profiles = List();
  uint64_t total = 0;
  for (const StoredProfile& p : profiles) total += p.size;
  auto remove = [&](const StoredProfile& p) {
    if (::unlink(p.path.c_str()) != 0 && errno != ENOENT) {
      result.errors.push_back("cannot remove " + p.path + ": " + std::strerror(errno));
      return false;
    }
    total -= p.size;
    result.bytes_removed += p.size;
    return true;
  };
  size_t next = 0;  // profiles are oldest first: removal only ever takes a prefix
  if (max_age_.count() > 0) {
    for (; next < profiles.size() && profiles[next].info.time < now - max_age_; ++next) {
      if (remove(profiles[next])) ++result.removed_for_age;
    }
  }
  if (max_bytes_ > 0) {
    for (; next < profiles.size() && total > max_bytes_; ++next) {
      if (remove(profiles[next])) ++result.removed_for_size;
    }
  }
  result.kept =
      static_cast<int>(profiles.size()) - result.removed_for_age - result.removed_for_size;
  result.bytes_kept = total;
  return result;
}

std::string FormatStoreList(const std::vector<StoredProfile>& profiles) {
  if (profiles.empty()) return "no stored profiles\n";
  struct Row {
    std::string time, type, pid, comm, size, path;
  };
  std::vector<Row> rows = {{"TIME (UTC)", "TYPE", "PID", "COMMAND", "SIZE", "PATH"}};
  uint64_t total = 0;
  for (const StoredProfile& p : profiles) {
    rows.push_back({FormatTime(p.info.time, false), p.info.type, std::to_string(p.info.pid),
                    p.info.comm, HumanBytes(p.size), p.path});
    total += p.size;
  }
  size_t width[5] = {};
  for (const Row& r : rows) {
    const std::string* cells[5] = {&r.time, &r.type, &r.pid, &r.comm, &r.size};
    for (int i = 0; i < 5; ++i) width[i] = std::max(width[i], cells[i]->size());
  }
  auto pad = [](const std::string& s, size_t w, bool right) {
    const std::string fill(w - s.size(), ' ');
    return right ? fill + s : s + fill;
  };
  std::string out;
  for (const Row& r : rows) {
    out += pad(r.time, width[0], false) + "  " + pad(r.type, width[1], false) + "  " +
           pad(r.pid, width[2], true) + "  " + pad(r.comm, width[3], false) + "  " +
           pad(r.size, width[4], true) + "  " + r.path + "\n";
  }
  out += std::to_string(profiles.size()) + (profiles.size() == 1 ? " profile, " : " profiles, ") +
         HumanBytes(total) + "\n";
  return out;
}

}  // namespace profd

#include "base/atomic_file.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

namespace profd {
namespace {

std::string DirectoryOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// A name beside `path` that nothing has: the destination + ".tmp." + six characters, the form
// mkstemp gives (the store's clean-up of crashed writers' temporaries knows it).
std::string TempName(const std::string& path) {
  static constexpr char kChars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  thread_local std::mt19937 random{std::random_device{}()};
  std::string name = path + ".tmp.";
  for (int i = 0; i < 6; i++) name += kChars[random() % (sizeof(kChars) - 1)];
  return name;
}

}  // namespace

bool AtomicFile::Open(const std::string& path, std::string* error) {
  path_ = path;
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    *error = "cannot write the profile to " + path + ": it is a directory";
    return false;
  }
  // Unnamed until written: nothing to clean up if this process dies first.
  int fd = ::open(DirectoryOf(path).c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
  if (fd >= 0) {
    unnamed_ = true;
  } else {
    std::string temp = path + ".tmp.XXXXXX";
    fd = mkostemp(temp.data(), O_CLOEXEC);
    if (fd < 0) {
      *error = "cannot write the profile to " + path + ": " + std::strerror(errno);
      return false;
    }
    temp_path_ = temp;
  }
  fchmod(fd, 0644);
  fd_ = UniqueFd(fd);
  return true;
}

bool AtomicFile::Publish(std::string* error) {
  if (!unnamed_) {
    if (::rename(temp_path_.c_str(), path_.c_str()) != 0) {
      *error = "cannot write " + path_ + ": " + std::strerror(errno);
      return false;
    }
    temp_path_.clear();
    return true;
  }
  const std::string self = "/proc/self/fd/" + std::to_string(fd_.get());
  // A new destination gets the file's first name at once; an existing one is replaced by a
  // rename, as linkat cannot replace.
  if (::linkat(AT_FDCWD, self.c_str(), AT_FDCWD, path_.c_str(), AT_SYMLINK_FOLLOW) == 0)
    return true;
  if (errno != EEXIST) {
    *error = "cannot write " + path_ + ": " + std::strerror(errno);
    return false;
  }
  for (int attempt = 0;; attempt++) {
    std::string temp = TempName(path_);
    if (::linkat(AT_FDCWD, self.c_str(), AT_FDCWD, temp.c_str(), AT_SYMLINK_FOLLOW) == 0) {
      temp_path_ = temp;
      break;
    }
    if (errno != EEXIST || attempt == 100) {
      *error = "cannot write " + path_ + ": " + std::strerror(errno);
      return false;
    }
  }
  if (::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    *error = "cannot write " + path_ + ": " + std::strerror(errno);
    return false;
  }
  temp_path_.clear();
  return true;
}

bool AtomicFile::Commit(const std::string& data, std::string* error) {
  const char* p = data.data();
  size_t left = data.size();
  while (left > 0) {
    ssize_t n = ::write(fd_.get(), p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      *error = "cannot write " + path_ + ": " + std::strerror(errno);
      return false;
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  if (::fsync(fd_.get()) != 0) {
    *error = "cannot write " + path_ + ": " + std::strerror(errno);
    return false;
  }
  if (!Publish(error)) return false;
  fd_.Reset();
  return true;
}

AtomicFile::~AtomicFile() {
  if (!temp_path_.empty()) ::unlink(temp_path_.c_str());
}

}  // namespace profd

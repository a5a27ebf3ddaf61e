#include "atomic_file.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace profd {

bool AtomicFile::Open(const std::string& path, std::string* error) {
  path_ = path;
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    *error = "cannot write the profile to " + path + ": it is a directory";
    return false;
  }
  std::string temp = path + ".tmp.XXXXXX";
  int fd = mkstemp(temp.data());
  if (fd < 0) {
    *error = "cannot write the profile to " + path + ": " + std::strerror(errno);
    return false;
  }
  fchmod(fd, 0644);
  fd_ = UniqueFd(fd);
  temp_path_ = temp;
  return true;
}

bool AtomicFile::Commit(const std::string& data, std::string* error) {
  const char* p = data.data();
  size_t left = data.size();
  while (left > 0) {
    ssize_t n = ::write(fd_.get(), p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      *error = "cannot write " + temp_path_ + ": " + std::strerror(errno);
      return false;
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  if (::fsync(fd_.get()) != 0 || ::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    *error = "cannot write " + path_ + ": " + std::strerror(errno);
    return false;
  }
  temp_path_.clear();
  fd_.Reset();
  return true;
}

AtomicFile::~AtomicFile() {
  if (!temp_path_.empty()) ::unlink(temp_path_.c_str());
}

}  // namespace profd

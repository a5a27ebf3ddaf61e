// Helpers shared by the fuzz targets.
#ifndef PROFD_TESTS_FUZZ_FUZZ_UTIL_H
#define PROFD_TESTS_FUZZ_FUZZ_UTIL_H

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

namespace profd::fuzz {

// The input as a file profd opens by path, the way it opens a target's mappings
// (/proc/self/fd/N); a memfd, so nothing touches the disk.
class MemFile {
 public:
  MemFile(const uint8_t* data, size_t size) {
    fd_ = memfd_create("fuzz-input", MFD_CLOEXEC);
    if (fd_ < 0) abort();
    size_t done = 0;
    while (done < size) {
      const ssize_t n = write(fd_, data + done, size - done);
      if (n <= 0) abort();
      done += static_cast<size_t>(n);
    }
  }
  ~MemFile() { close(fd_); }
  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;

  std::string path() const { return "/proc/self/fd/" + std::to_string(fd_); }
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
};

}  // namespace profd::fuzz

#endif  // PROFD_TESTS_FUZZ_FUZZ_UTIL_H

// A file that appears whole or not at all: written to a temporary beside the destination, then
// renamed. Opened before profiling starts, so an unwritable path fails at once rather than after
// the window.
#ifndef PROFD_DAEMON_ATOMIC_FILE_H
#define PROFD_DAEMON_ATOMIC_FILE_H

#include <string>

#include "unique_fd.h"

namespace profd {

class AtomicFile {
 public:
  // False with `error` set when the directory cannot be written.
  bool Open(const std::string& path, std::string* error);
  // Writes `data`, syncs, and renames onto the destination. False with `error` on failure (the
  // temporary is removed; nothing partial is left at the destination).
  bool Commit(const std::string& data, std::string* error);
  ~AtomicFile();

 private:
  std::string path_;
  std::string temp_path_;
  UniqueFd fd_;
};

}  // namespace profd

#endif  // PROFD_DAEMON_ATOMIC_FILE_H

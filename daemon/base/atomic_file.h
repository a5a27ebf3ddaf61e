// A file that appears whole or not at all. Where the filesystem supports it the data goes into an
// unnamed file (O_TMPFILE) that is linked into place only once written, so a writer killed midway
// (kill -9) leaves nothing behind; elsewhere into a named temporary beside the destination, then
// renamed. Opened before profiling starts, so an unwritable path fails at once rather than after
// the window.
#ifndef PROFD_DAEMON_BASE_ATOMIC_FILE_H
#define PROFD_DAEMON_BASE_ATOMIC_FILE_H

#include <string>

#include "base/unique_fd.h"

namespace profd {

class AtomicFile {
 public:
  // False with `error` set when the directory cannot be written.
  bool Open(const std::string& path, std::string* error);
  // Writes `data`, syncs, and links or renames it onto the destination (replacing what was there
  // in one step). False with `error` on failure (the temporary is removed; nothing partial is left
  // at the destination).
  bool Commit(const std::string& data, std::string* error);
  ~AtomicFile();

  // True when the data is in an unnamed file until Commit (exposed for tests).
  bool unnamed() const { return unnamed_; }

 private:
  bool Publish(std::string* error);

  std::string path_;
  std::string temp_path_;  // the named temporary, while one exists
  UniqueFd fd_;
  bool unnamed_ = false;
};

}  // namespace profd

#endif  // PROFD_DAEMON_BASE_ATOMIC_FILE_H

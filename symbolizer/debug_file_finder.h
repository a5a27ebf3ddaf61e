// Finds the separate debug file of a binary the way gdb does: build-id, then .gnu_debuglink.
#ifndef PROFD_SYMBOLIZER_DEBUG_FILE_FINDER_H
#define PROFD_SYMBOLIZER_DEBUG_FILE_FINDER_H

#include <string>
#include <vector>

#include "elf_file.h"

namespace profd::symbolizer_internal {

class DebugFileFinder {
 public:
  // Every candidate is looked up inside `root` (e.g. /proc/PID/root; "" or "/" for the host's),
  // as the target sees its files, and nowhere else.
  DebugFileFinder(std::string debug_dir, std::string root);

  // Opens the first candidate that has DWARF and is the binary's: under .build-id, the same build
  // id; by .gnu_debuglink (a bare file name, in the binary's directory, its .debug/ or the debug
  // directory), the CRC the link names, and the same build id when both have one. Candidates are
  // opened as OpenTargetFile does: no FIFO, device or huge file is read. `binary_path` is the
  // path the binary was opened by.
  bool Find(const std::string& binary_path, const OpenElf& binary, const std::string& build_id,
            OpenElf* debug_file, std::string* error) const;

  // The candidate paths inside the root, in search order (exposed for tests); none for a build id
  // that is not hex or a link name that is not a bare file name.
  std::vector<std::string> BuildIdCandidates(const std::string& build_id) const;
  std::vector<std::string> DebugLinkCandidates(const std::string& binary_path,
                                               const std::string& link_name) const;

 private:
  std::string debug_dir_;
  std::string root_;
};

// The directory of the file behind `path`: /proc/PID/map_files/... and /proc/self/fd/N are read as
// links (with a " (deleted)" suffix removed); other paths are taken as they are.
std::string BinaryDirectory(const std::string& path);

}  // namespace profd::symbolizer_internal

#endif  // PROFD_SYMBOLIZER_DEBUG_FILE_FINDER_H

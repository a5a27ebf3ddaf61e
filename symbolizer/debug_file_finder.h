// Finds the separate debug file of a binary the way gdb does: build-id, then .gnu_debuglink.
#ifndef PROFD_SYMBOLIZER_DEBUG_FILE_FINDER_H
#define PROFD_SYMBOLIZER_DEBUG_FILE_FINDER_H

#include <string>
#include <vector>

#include "elf_file.h"

namespace profd::symbolizer_internal {

class DebugFileFinder {
 public:
  // `root` (e.g. /proc/PID/root) is tried before the host's "/" for every candidate.
  DebugFileFinder(std::string debug_dir, std::string root, bool verify_crc);

  // Opens the first candidate that has DWARF and matches the binary's build id (when both have
  // one) or debuglink CRC (when verify_crc). `binary_path` is the path the binary was opened by.
  bool Find(const std::string& binary_path, const OpenElf& binary, const std::string& build_id,
            OpenElf* debug_file, std::string* error) const;

  // The candidate paths in search order (exposed for tests).
  std::vector<std::string> BuildIdCandidates(const std::string& build_id) const;
  std::vector<std::string> DebugLinkCandidates(const std::string& binary_path,
                                               const std::string& link_name) const;

 private:
  std::vector<std::string> Prefixes() const;

  std::string debug_dir_;
  std::string root_;
  bool verify_crc_;
};

// The directory of the file behind `path`: /proc/PID/map_files/... and /proc/self/fd/N are read as
// links (with a " (deleted)" suffix removed); other paths are taken as they are.
std::string BinaryDirectory(const std::string& path);

}  // namespace profd::symbolizer_internal

#endif  // PROFD_SYMBOLIZER_DEBUG_FILE_FINDER_H

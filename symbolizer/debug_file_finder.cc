#include "debug_file_finder.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>

namespace profd::symbolizer_internal {

namespace {

std::string StripTrailingSlash(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}

bool SameFile(int fd_a, int fd_b) {
  struct stat a;
  struct stat b;
  return fstat(fd_a, &a) == 0 && fstat(fd_b, &b) == 0 && a.st_dev == b.st_dev &&
         a.st_ino == b.st_ino;
}

bool IsLowerHex(const std::string& text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

}  // namespace

std::string BinaryDirectory(const std::string& path) {
  std::string resolved = path;
  if (path.starts_with("/proc/")) {
    std::array<char, 4096> buffer;
    ssize_t n = readlink(path.c_str(), buffer.data(), buffer.size() - 1);
    if (n > 0) {
      resolved.assign(buffer.data(), static_cast<size_t>(n));
      constexpr std::string_view kDeleted = " (deleted)";
      if (resolved.ends_with(kDeleted)) resolved.resize(resolved.size() - kDeleted.size());
    }
  }
  size_t slash = resolved.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return resolved.substr(0, slash);
}

DebugFileFinder::DebugFileFinder(std::string debug_dir, std::string root)
    : debug_dir_(StripTrailingSlash(std::move(debug_dir))),
      root_(root == "/" ? "" : StripTrailingSlash(std::move(root))) {}

std::vector<std::string> DebugFileFinder::BuildIdCandidates(const std::string& build_id) const {
  std::vector<std::string> candidates;
  // A build id is hex from the binary's note; anything else is no build id.
  if (build_id.size() < 3 || !IsLowerHex(build_id)) return candidates;
  candidates.push_back(debug_dir_ + "/.build-id/" + build_id.substr(0, 2) + "/" +
                       build_id.substr(2) + ".debug");
  return candidates;
}

std::vector<std::string> DebugFileFinder::DebugLinkCandidates(const std::string& binary_path,
                                                              const std::string& link_name) const {
  std::vector<std::string> candidates;
  if (!IsBareFileName(link_name)) return candidates;
  std::string dir = BinaryDirectory(binary_path);
  if (dir.empty() || dir[0] != '/') return candidates;  // a relative directory is nobody's
  std::string dir_slash = dir == "/" ? "/" : dir + "/";
  candidates.push_back(dir_slash + link_name);
  candidates.push_back(dir_slash + ".debug/" + link_name);
  candidates.push_back(debug_dir_ + dir_slash + link_name);
  return candidates;
}

bool DebugFileFinder::Find(const std::string& binary_path, const OpenElf& binary,
                           const std::string& build_id, OpenElf* debug_file,
                           std::string* error) const {
  std::string link_name;
  uint32_t link_crc = 0;
  bool has_link = ReadDebugLink(binary.elf.get(), &link_name, &link_crc);

  // Every candidate is opened inside the target's root, and used only when it is the binary's
  // own debug file: the same build id, or (for a debug link) the CRC the link names.
  auto try_candidate = [&](const std::string& candidate, bool by_link) {
    OpenElf opened;
    std::string open_error;
    // A debug link's last component is the target's choice: a symlink there is not followed.
    if (!OpenElfFileIn(root_, candidate, /*no_follow=*/by_link, &opened, &open_error)) return false;
    if (SameFile(opened.fd.get(), binary.fd.get())) return false;
    if (!HasDwarfSections(opened.elf.get())) return false;
    std::string candidate_id = ReadBuildId(opened.elf.get());
    if (!by_link && (build_id.empty() || candidate_id != build_id)) return false;
    if (by_link) {
      if (!build_id.empty() && !candidate_id.empty() && candidate_id != build_id) return false;
      uint32_t crc = 0;
      if (!FileCrc32(opened.fd.get(), &crc) || crc != link_crc) return false;
    }
    *debug_file = std::move(opened);
    return true;
  };
  for (const std::string& candidate : BuildIdCandidates(build_id)) {
    if (try_candidate(candidate, false)) return true;
  }
  if (has_link) {
    for (const std::string& candidate : DebugLinkCandidates(binary_path, link_name)) {
      if (try_candidate(candidate, true)) return true;
    }
  }
  *error = "no separate debug file found";
  if (!build_id.empty()) *error += " for build id " + build_id;
  if (has_link) *error += " or debuglink " + link_name;
  return false;
}

}  // namespace profd::symbolizer_internal

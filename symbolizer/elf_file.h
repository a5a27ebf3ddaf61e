// RAII handles for file descriptors, libelf and libdw, and the ELF facts the symbolizer reads.
#ifndef PROFD_SYMBOLIZER_ELF_FILE_H
#define PROFD_SYMBOLIZER_ELF_FILE_H

#include <elfutils/libdw.h>
#include <gelf.h>
#include <libelf.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "symbolizer.h"

namespace profd::symbolizer_internal {

// A move-only file descriptor closed on destruction.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd();
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

struct ElfDeleter {
  void operator()(Elf* elf) const { elf_end(elf); }
};
using UniqueElf = std::unique_ptr<Elf, ElfDeleter>;

struct DwarfDeleter {
  void operator()(Dwarf* dwarf) const { dwarf_end(dwarf); }
};
using UniqueDwarf = std::unique_ptr<Dwarf, DwarfDeleter>;

// An opened ELF file: the descriptor and the libelf handle over it (the handle reads through the
// fd).
struct OpenElf {
  UniqueFd fd;
  UniqueElf elf;
};

// The largest file profd reads on a target's behalf.
constexpr uint64_t kMaxTargetFileBytes = uint64_t{4} << 30;

// Opens a file a target may have planted, so that it cannot hang or mislead the reader:
// non-blocking (a FIFO would wait for a writer forever), close-on-exec, with O_NOFOLLOW when
// `no_follow` (the target names the last component), and only a regular file of at most
// kMaxTargetFileBytes. With `root` (e.g. /proc/PID/root) `path` is resolved inside it, as the
// target sees it: absolute symlinks and ".." stay under `root` (openat2 RESOLVE_IN_ROOT).
bool OpenTargetFile(const std::string& root, const std::string& path, bool no_follow, UniqueFd* out,
                    std::string* error);

// Opens `path` exactly as given (no re-resolution, so /proc/PID/map_files and deleted files work),
// as OpenTargetFile does.
bool OpenElfFile(const std::string& path, OpenElf* out, std::string* error);

// The same for `path` inside `root` (see OpenTargetFile).
bool OpenElfFileIn(const std::string& root, const std::string& path, bool no_follow, OpenElf* out,
                   std::string* error);

// Lowercase hex of NT_GNU_BUILD_ID, "" when there is none.
std::string ReadBuildId(Elf* elf);

std::vector<LoadSegment> ReadLoadSegments(Elf* elf);

// The section named `name`, nullptr when absent.
Elf_Scn* FindSection(Elf* elf, const char* name);

// True when the file carries DWARF (.debug_info or .zdebug_info with contents).
bool HasDwarfSections(Elf* elf);

// True when the file has a non-empty .symtab or .dynsym.
bool HasSymbolSections(Elf* elf);

// Whether a name read from a target's file can be used as a file name in a directory profd
// chooses: 1 to 255 bytes, no '/', no "..", no NUL. Anything else could reach other files.
bool IsBareFileName(std::string_view name);

// The .gnu_debuglink name and CRC; false when absent, or when the name is not a bare file name.
bool ReadDebugLink(Elf* elf, std::string* name, uint32_t* crc);

// CRC-32 (the one .gnu_debuglink uses) of the whole file behind `fd`.
bool FileCrc32(int fd, uint32_t* crc);

}  // namespace profd::symbolizer_internal

#endif  // PROFD_SYMBOLIZER_ELF_FILE_H

#include "elf_file.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

namespace profd::symbolizer_internal {

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) close(fd_);
}

bool OpenTargetFile(const std::string& root, const std::string& path, bool no_follow, UniqueFd* out,
                    std::string* error) {
  const int flags = O_RDONLY | O_NONBLOCK | O_CLOEXEC | (no_follow ? O_NOFOLLOW : 0);
  const std::string shown = root.empty() ? path : root + path;
  UniqueFd fd;
  if (root.empty()) {
    fd = UniqueFd(open(path.c_str(), flags));
  } else {
    UniqueFd root_fd(open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root_fd.valid()) {
      *error = "cannot open " + root + ": " + std::strerror(errno);
      return false;
    }
    open_how how{};
    how.flags = static_cast<uint64_t>(flags);
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    const size_t start = path.find_first_not_of('/');  // relative to the root's descriptor
    const std::string relative = start == std::string::npos ? "." : path.substr(start);
    fd = UniqueFd(
        static_cast<int>(syscall(SYS_openat2, root_fd.get(), relative.c_str(), &how, sizeof(how))));
    // Before Linux 5.6 there is no openat2 (ENOSYS), and a seccomp filter may refuse it (EPERM):
    // the path under the root, as the kernel resolves it.
    if (!fd.valid() && (errno == ENOSYS || errno == EPERM))
      fd = UniqueFd(open(shown.c_str(), flags));
  }
  if (!fd.valid()) {
    *error = "cannot open " + shown + ": " + std::strerror(errno);
    return false;
  }
  struct stat st;
  if (fstat(fd.get(), &st) != 0) {
    *error = "cannot stat " + shown + ": " + std::strerror(errno);
    return false;
  }
  if (!S_ISREG(st.st_mode)) {
    *error = shown + " is not a regular file";
    return false;
  }
  if (static_cast<uint64_t>(st.st_size) > kMaxTargetFileBytes) {
    *error = shown + " is larger than 4 GiB";
    return false;
  }
  *out = std::move(fd);
  return true;
}

bool OpenElfFileIn(const std::string& root, const std::string& path, bool no_follow, OpenElf* out,
                   std::string* error) {
  elf_version(EV_CURRENT);
  UniqueFd fd;
  if (!OpenTargetFile(root, path, no_follow, &fd, error)) return false;
  UniqueElf elf(elf_begin(fd.get(), ELF_C_READ_MMAP, nullptr));
  if (elf == nullptr || elf_kind(elf.get()) != ELF_K_ELF) {
    *error = root + path + " is not an ELF file" + (elf ? "" : std::string(": ") + elf_errmsg(-1));
    return false;
  }
  out->fd = std::move(fd);
  out->elf = std::move(elf);
  return true;
}

bool OpenElfFile(const std::string& path, OpenElf* out, std::string* error) {
  return OpenElfFileIn("", path, /*no_follow=*/false, out, error);
}

std::string ReadBuildId(Elf* elf) {
  static constexpr char kHex[] = "0123456789abcdef";
  auto from_note_data = [](Elf_Data* data) -> std::string {
    size_t offset = 0;
    GElf_Nhdr header;
    size_t name_offset = 0;
    size_t desc_offset = 0;
    while ((offset = gelf_getnote(data, offset, &header, &name_offset, &desc_offset)) > 0) {
      if (header.n_type == NT_GNU_BUILD_ID && header.n_namesz == 4 &&
          std::memcmp(static_cast<const char*>(data->d_buf) + name_offset, "GNU", 4) == 0) {
        const auto* bytes = static_cast<const unsigned char*>(data->d_buf) + desc_offset;
        std::string hex;
        for (size_t i = 0; i < header.n_descsz; ++i) {
          hex += kHex[bytes[i] >> 4];
          hex += kHex[bytes[i] & 0xf];
        }
        return hex;
      }
    }
    return "";
  };
  // Sections first (present in debug files too), then PT_NOTE for section-stripped files.
  Elf_Scn* scn = nullptr;
  while ((scn = elf_nextscn(elf, scn)) != nullptr) {
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr) == nullptr || shdr.sh_type != SHT_NOTE) continue;
    Elf_Data* data = elf_getdata(scn, nullptr);
    if (data == nullptr || data->d_buf == nullptr) continue;
    std::string id = from_note_data(data);
    if (!id.empty()) return id;
  }
  size_t phnum = 0;
  if (elf_getphdrnum(elf, &phnum) != 0) return "";
  for (size_t i = 0; i < phnum; ++i) {
    GElf_Phdr phdr;
    if (gelf_getphdr(elf, static_cast<int>(i), &phdr) == nullptr || phdr.p_type != PT_NOTE)
      continue;
    Elf_Data* data = elf_getdata_rawchunk(elf, phdr.p_offset, phdr.p_filesz, ELF_T_NHDR);
    if (data == nullptr) continue;
    std::string id = from_note_data(data);
    if (!id.empty()) return id;
  }
  return "";
}

std::vector<LoadSegment> ReadLoadSegments(Elf* elf) {
  std::vector<LoadSegment> loads;
  size_t phnum = 0;
  if (elf_getphdrnum(elf, &phnum) != 0) return loads;
  for (size_t i = 0; i < phnum; ++i) {
    GElf_Phdr phdr;
    if (gelf_getphdr(elf, static_cast<int>(i), &phdr) == nullptr || phdr.p_type != PT_LOAD)
      continue;
    loads.push_back({.vaddr = phdr.p_vaddr,
                     .file_offset = phdr.p_offset,
                     .file_size = phdr.p_filesz,
                     .executable = (phdr.p_flags & PF_X) != 0});
  }
  return loads;
}

Elf_Scn* FindSection(Elf* elf, const char* name) {
  size_t shstrndx = 0;
  if (elf_getshdrstrndx(elf, &shstrndx) != 0) return nullptr;
  Elf_Scn* scn = nullptr;
  while ((scn = elf_nextscn(elf, scn)) != nullptr) {
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr) == nullptr) continue;
    const char* section_name = elf_strptr(elf, shstrndx, shdr.sh_name);
    if (section_name != nullptr && std::strcmp(section_name, name) == 0) return scn;
  }
  return nullptr;
}

namespace {
bool SectionHasBytes(Elf_Scn* scn) {
  GElf_Shdr shdr;
  return scn != nullptr && gelf_getshdr(scn, &shdr) != nullptr && shdr.sh_type != SHT_NOBITS &&
         shdr.sh_size > 0;
}
}  // namespace

bool HasDwarfSections(Elf* elf) {
  return SectionHasBytes(FindSection(elf, ".debug_info")) ||
         SectionHasBytes(FindSection(elf, ".zdebug_info"));
}

bool HasSymbolSections(Elf* elf) {
  Elf_Scn* scn = nullptr;
  while ((scn = elf_nextscn(elf, scn)) != nullptr) {
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr) == nullptr) continue;
    if ((shdr.sh_type == SHT_SYMTAB || shdr.sh_type == SHT_DYNSYM) && shdr.sh_entsize > 0 &&
        shdr.sh_size / shdr.sh_entsize > 1) {
      return true;
    }
  }
  return false;
}

bool IsBareFileName(std::string_view name) {
  return !name.empty() && name.size() <= 255 && name.find('/') == std::string_view::npos &&
         name.find('\0') == std::string_view::npos && name.find("..") == std::string_view::npos;
}

bool ReadDebugLink(Elf* elf, std::string* name, uint32_t* crc) {
  Elf_Scn* scn = FindSection(elf, ".gnu_debuglink");
  if (scn == nullptr) return false;
  Elf_Data* data = elf_getdata(scn, nullptr);
  // Found by name, the section may be SHT_NOBITS: a size but no bytes (d_buf is null).
  if (data == nullptr || data->d_buf == nullptr || data->d_size < 5) return false;
  const char* bytes = static_cast<const char*>(data->d_buf);
  size_t name_length = strnlen(bytes, data->d_size);
  if (name_length == 0 || name_length == data->d_size) return false;
  *name = std::string(bytes, name_length);
  // The name is the target's: joined to a directory, "../../root/x" would escape it.
  if (!IsBareFileName(*name)) return false;
  size_t crc_offset = (name_length + 4) & ~size_t{3};  // NUL, then padding to 4
  if (crc_offset + 4 > data->d_size) return false;
  std::memcpy(crc, bytes + crc_offset, 4);
  return true;
}

bool FileCrc32(int fd, uint32_t* crc) {
  static const std::array<uint32_t, 256> kTable = [] {
    std::array<uint32_t, 256> table{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
      table[i] = c;
    }
    return table;
  }();
  uint32_t value = 0xffffffffu;
  std::array<unsigned char, 1 << 16> buffer;
  off_t offset = 0;
  for (;;) {
    ssize_t n = pread(fd, buffer.data(), buffer.size(), offset);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (n == 0) break;
    for (ssize_t i = 0; i < n; ++i) value = kTable[(value ^ buffer[i]) & 0xff] ^ (value >> 8);
    offset += n;
  }
  *crc = value ^ 0xffffffffu;
  return true;
}

}  // namespace profd::symbolizer_internal

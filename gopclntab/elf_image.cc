// Table::Open: the pclntab and the loaded segments of an ELF file, read with libelf.
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "gopclntab.h"

namespace profd::gopclntab {
namespace {

struct Closer {
  int fd = -1;
  Elf* elf = nullptr;
  ~Closer() {
    if (elf) elf_end(elf);
    if (fd >= 0) close(fd);
  }
};

bool ReadAt(int fd, uint64_t offset, uint64_t size, std::vector<uint8_t>* out) {
  out->resize(size);
  uint64_t done = 0;
  while (done < size) {
    const ssize_t n = pread(fd, out->data() + done, size - done, static_cast<off_t>(offset + done));
    if (n <= 0) return false;
    done += static_cast<uint64_t>(n);
  }
  return true;
}

// A plausible header at `at`: magic, zero pads, quantum, 8-byte pointers.
bool LooksLikeHeader(const std::vector<uint8_t>& b, uint64_t at) {
  if (at + 16 > b.size()) return false;
  uint32_t magic;
  std::memcpy(&magic, b.data() + at, 4);
  if (magic != 0xfffffffa && magic != 0xfffffff0 && magic != 0xfffffff1) return false;
  const uint8_t quantum = b[at + 6];
  return b[at + 4] == 0 && b[at + 5] == 0 && (quantum == 1 || quantum == 2 || quantum == 4) &&
         b[at + 7] == 8;
}

}  // namespace

bool Table::Open(const std::string& path, bool keep_text, std::string* error) {
  static const bool initialized = elf_version(EV_CURRENT) != EV_NONE;
  if (!initialized) {
    *error = "libelf: version mismatch";
    return false;
  }
  Closer c;
  c.fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (c.fd < 0 || fstat(c.fd, &st) != 0) {
    *error = "open " + path + ": " + std::strerror(errno);
    return false;
  }
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);
  c.elf = elf_begin(c.fd, ELF_C_READ, nullptr);
  GElf_Ehdr ehdr;
  if (c.elf == nullptr || elf_kind(c.elf) != ELF_K_ELF || !gelf_getehdr(c.elf, &ehdr)) {
    *error = path + ": not an ELF file";
    return false;
  }
  if (ehdr.e_ident[EI_CLASS] != ELFCLASS64 || ehdr.e_ident[EI_DATA] != ELFDATA2LSB) {
    *error = path + ": not a 64-bit little-endian ELF file";
    return false;
  }

  Image image;
  size_t phnum = 0;
  if (elf_getphdrnum(c.elf, &phnum) != 0) phnum = 0;
  // Segments may overlap; a hostile file must not make us read it many times over.
  uint64_t total = 0;
  for (size_t i = 0; i < phnum; i++) {
    GElf_Phdr phdr;
    if (!gelf_getphdr(c.elf, static_cast<int>(i), &phdr) || phdr.p_type != PT_LOAD) continue;
    if (phdr.p_offset > file_size || phdr.p_filesz > file_size - phdr.p_offset) {
      *error = path + ": a segment is past the end of the file";
      return false;
    }
    Region region;
    region.vaddr = phdr.p_vaddr;
    region.executable = (phdr.p_flags & PF_X) != 0;
    region.writable = (phdr.p_flags & PF_W) != 0;
    if (region.executable && !keep_text) continue;
    total += phdr.p_filesz;
    if (total > 2 * file_size + 4096 || image.regions.size() >= 64) {
      *error = path + ": too many or too large segments";
      return false;
    }
    if (!ReadAt(c.fd, phdr.p_offset, phdr.p_filesz, &region.bytes)) {
      *error = path + ": cannot read a segment";
      return false;
    }
    image.regions.push_back(std::move(region));
  }

  bool found = false;
  size_t shstrndx = 0;
  if (elf_getshdrstrndx(c.elf, &shstrndx) == 0) {
    for (Elf_Scn* scn = elf_nextscn(c.elf, nullptr); scn; scn = elf_nextscn(c.elf, scn)) {
      GElf_Shdr shdr;
      if (!gelf_getshdr(scn, &shdr)) continue;
      const char* name = elf_strptr(c.elf, shstrndx, shdr.sh_name);
      if (name == nullptr) continue;
      if (std::strcmp(name, ".text") == 0) image.text_section_vaddr = shdr.sh_addr;
      // PIE binaries keep it in RELRO data, under this name.
      if ((std::strcmp(name, ".gopclntab") != 0 &&
           std::strcmp(name, ".data.rel.ro.gopclntab") != 0) ||
          shdr.sh_type == SHT_NOBITS)
        continue;
      if (shdr.sh_offset > file_size || shdr.sh_size > file_size - shdr.sh_offset ||
          !ReadAt(c.fd, shdr.sh_offset, shdr.sh_size, &image.pclntab)) {
        *error = path + ": cannot read .gopclntab";
        return false;
      }
      image.pclntab_vaddr = shdr.sh_addr;
      found = true;
    }
  }
  // Section headers stripped: the linker aligns the table, so look at aligned offsets of the
  // data segments for its header (read-only, or RELRO in PIE binaries).
  for (const Region& region : image.regions) {
    if (found || region.executable) continue;
    for (uint64_t at = 0; at + 16 <= region.bytes.size(); at += 8) {
      if (!LooksLikeHeader(region.bytes, at)) continue;
      image.pclntab.assign(region.bytes.begin() + at, region.bytes.end());
      image.pclntab_vaddr = region.vaddr + at;
      found = true;
      break;
    }
  }
  if (!found) {
    *error = path + ": no .gopclntab";
    return false;
  }
  if (!Parse(std::move(image), error)) return false;
  // Keep only what lookups read: the segment of go:func.* (all read-only ones before Go 1.18,
  // whose funcdata are pointers) and, if asked, the code.
  std::erase_if(image_.regions, [&](const Region& r) {
    if (r.executable) return false;
    if (version_ == Version::kGo116) return r.writable;
    return !(gofunc_ >= r.vaddr && gofunc_ - r.vaddr < r.bytes.size());
  });
  // go:func.* runs from its symbol to the end of read-only data, which the pclntab follows (and
  // that is kept already): the rest of the segment is not needed.
  for (Region& r : image_.regions) {
    if (r.executable || version_ == Version::kGo116) continue;
    uint64_t end = r.vaddr + r.bytes.size();
    if (image_.pclntab_vaddr > gofunc_ && image_.pclntab_vaddr < end) end = image_.pclntab_vaddr;
    r.bytes = std::vector<uint8_t>(r.bytes.begin() + (gofunc_ - r.vaddr),
                                   r.bytes.begin() + (end - r.vaddr));
    r.vaddr = gofunc_;
  }
  return true;
}

}  // namespace profd::gopclntab

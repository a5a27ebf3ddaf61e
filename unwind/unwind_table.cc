#include "unwind_table.h"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <utility>

#include "cfi_interpreter.h"
#include "compact_rows.h"

namespace profd {
namespace {

class ScopedFd {
 public:
  explicit ScopedFd(int fd) : fd_(fd) {}
  ~ScopedFd() {
    if (fd_ >= 0) close(fd_);
  }
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

struct ElfDeleter {
  void operator()(Elf* elf) const { elf_end(elf); }
};
using ElfPtr = std::unique_ptr<Elf, ElfDeleter>;

// An ELF file opened for reading; the fd outlives the Elf* that maps it.
struct OpenElf {
  std::unique_ptr<ScopedFd> fd;
  ElfPtr elf;
};

bool Open(const std::string& path, OpenElf* out, std::string* error) {
  static const bool initialized = elf_version(EV_CURRENT) != EV_NONE;
  if (!initialized) {
    *error = "libelf: version mismatch";
    return false;
  }
  out->fd = std::make_unique<ScopedFd>(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (out->fd->get() < 0) {
    *error = "open " + path + ": " + std::strerror(errno);
    return false;
  }
  out->elf.reset(elf_begin(out->fd->get(), ELF_C_READ_MMAP, nullptr));
  if (out->elf == nullptr || elf_kind(out->elf.get()) != ELF_K_ELF) {
    *error = path + ": not an ELF file";
    return false;
  }
  return true;
}

struct Section {
  Elf_Scn* scn = nullptr;
  GElf_Shdr shdr{};
};

// The executable PT_LOAD ranges; FDEs outside them describe discarded code (a .debug_frame FDE of
// a function removed by --gc-sections or COMDAT folding is relocated to address 0).
std::vector<std::pair<uint64_t, uint64_t>> ExecutableRanges(Elf* elf) {
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  size_t count = 0;
  if (elf_getphdrnum(elf, &count) != 0) return ranges;
  for (size_t i = 0; i < count; ++i) {
    GElf_Phdr phdr;
    if (gelf_getphdr(elf, static_cast<int>(i), &phdr) == nullptr) continue;
    if (phdr.p_type == PT_LOAD && (phdr.p_flags & PF_X)) {
      ranges.emplace_back(phdr.p_vaddr, phdr.p_vaddr + phdr.p_memsz);
    }
  }
  return ranges;
}

bool Inside(const std::vector<std::pair<uint64_t, uint64_t>>& ranges, const FdeRows& fde) {
  if (ranges.empty()) return true;  // no program headers (a relocatable file): cannot tell
  for (const auto& [start, end] : ranges) {
    if (fde.start >= start && fde.end <= end) return true;
  }
  return false;
}

// Interprets one CFI section, decompressing it first if needed.
bool ReadSection(const std::string& path, const std::string& name, Section section, bool eh_frame,
                 std::vector<FdeRows>* fdes, CfiStats* cfi, std::string* error) {
  if (section.shdr.sh_flags & SHF_COMPRESSED) {
    if (elf_compress(section.scn, 0, 0) < 0) {
      *error = path + ": decompressing " + name + ": " + elf_errmsg(-1);
      return false;
    }
  } else if (name.starts_with(".zdebug")) {
    if (elf_compress_gnu(section.scn, 0, 0) < 0) {
      *error = path + ": decompressing " + name + ": " + elf_errmsg(-1);
      return false;
    }
  }
  Elf_Data* data = elf_getdata(section.scn, nullptr);
  if (data == nullptr || data->d_buf == nullptr) {
    *error = path + ": reading " + name + ": " + elf_errmsg(-1);
    return false;
  }
  CfiSection sec;
  sec.data = static_cast<const uint8_t*>(data->d_buf);
  sec.size = data->d_size;
  sec.vaddr = section.shdr.sh_addr;
  sec.eh_frame = eh_frame;
  if (!InterpretCfi(sec, fdes, cfi, error)) {
    *error = path + ": " + name + ": " + *error;
    return false;
  }
  return true;
}

}  // namespace

bool BuildUnwindTable(const std::string& path, std::vector<profd_unwind_row>* rows,
                      UnwindTableStats* stats, std::string* error) {
  rows->clear();
  *stats = {};
  OpenElf file;
  if (!Open(path, &file, error)) return false;
  Elf* elf = file.elf.get();
  GElf_Ehdr ehdr;
  if (gelf_getehdr(elf, &ehdr) == nullptr) {
    *error = path + ": " + elf_errmsg(-1);
    return false;
  }
  if (ehdr.e_ident[EI_CLASS] != ELFCLASS64 || ehdr.e_ident[EI_DATA] != ELFDATA2LSB ||
      ehdr.e_machine != EM_X86_64) {
    *error = path + ": not an x86-64 ELF file";
    return false;
  }
  size_t shstrndx = 0;
  if (elf_getshdrstrndx(elf, &shstrndx) != 0) {
    *error = path + ": no section header string table: " + elf_errmsg(-1);
    return false;
  }
  Section eh_frame;
  Section debug_frame;
  std::string debug_frame_name;
  for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn != nullptr; scn = elf_nextscn(elf, scn)) {
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr) == nullptr || shdr.sh_type == SHT_NOBITS) continue;
    const char* name = elf_strptr(elf, shstrndx, shdr.sh_name);
    if (name == nullptr) continue;
    if (std::strcmp(name, ".eh_frame") == 0) {
      eh_frame = {scn, shdr};
    } else if (std::strcmp(name, ".debug_frame") == 0 || std::strcmp(name, ".zdebug_frame") == 0) {
      debug_frame = {scn, shdr};
      debug_frame_name = name;
    }
  }
  if (eh_frame.scn == nullptr && debug_frame.scn == nullptr) {
    *error = path + ": no .eh_frame or .debug_frame";
    return false;
  }

  // .eh_frame first: where both describe a pc, the one the runtime's own unwinder uses wins.
  // .debug_frame is read as well, because a file built without unwind tables still gets a few
  // .eh_frame FDEs from crt1.o and friends while the rest of its CFI is only in .debug_frame.
  std::vector<FdeRows> fdes;
  CfiStats cfi;
  if (eh_frame.scn != nullptr &&
      !ReadSection(path, ".eh_frame", eh_frame, true, &fdes, &cfi, error)) {
    return false;
  }
  size_t eh_fdes = fdes.size();
  if (eh_fdes > 0) stats->source = ".eh_frame";
  if (debug_frame.scn != nullptr) {
    std::string debug_error;
    if (ReadSection(path, debug_frame_name, debug_frame, false, &fdes, &cfi, &debug_error)) {
      if (fdes.size() > eh_fdes)
        stats->source += stats->source.empty() ? ".debug_frame" : "+.debug_frame";
    } else if (eh_fdes == 0) {
      *error = debug_error;
      return false;
    }
  }

  auto ranges = ExecutableRanges(elf);
  std::erase_if(fdes, [&](const FdeRows& fde) {
    if (Inside(ranges, fde)) return false;
    ++stats->fdes_outside_code;
    return true;
  });
  if (fdes.empty()) {
    *error = path + ": no FDEs describe its code";
    return false;
  }
  CompactStats compact;
  *rows = CompactRows(fdes, &compact);
  stats->fdes = cfi.fdes;
  stats->rows = rows->size();
  stats->unsupported_rows = cfi.unsupported_rows;
  stats->cfa_other_register_rows = cfi.cfa_other_register_rows;
  stats->cfa_expression_rows = cfi.cfa_expression_rows;
  stats->ra_rule_rows = cfi.ra_rule_rows;
  stats->plt_threshold_rows = cfi.plt_threshold_rows;
  stats->rbp_rule_unexpressible = cfi.rbp_rule_unexpressible;
  stats->bad_entries = cfi.bad_entries;
  stats->fdes_overlapping = compact.fdes_dropped + compact.fdes_clipped;
  return true;
}

bool IsGoBinary(const std::string& path) {
  OpenElf file;
  std::string error;
  if (!Open(path, &file, &error)) return false;
  Elf* elf = file.elf.get();
  size_t shstrndx = 0;
  if (elf_getshdrstrndx(elf, &shstrndx) == 0) {
    for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn != nullptr; scn = elf_nextscn(elf, scn)) {
      GElf_Shdr shdr;
      if (gelf_getshdr(scn, &shdr) == nullptr) continue;
      const char* name = elf_strptr(elf, shstrndx, shdr.sh_name);
      if (name != nullptr &&
          (std::strcmp(name, ".go.buildinfo") == 0 || std::strcmp(name, ".note.go.buildid") == 0)) {
        return true;
      }
    }
  }
  // Without section headers: the Go build id note (owner "Go", type 4) in a PT_NOTE segment.
  size_t count = 0;
  if (elf_getphdrnum(elf, &count) != 0) return false;
  for (size_t i = 0; i < count; ++i) {
    GElf_Phdr phdr;
    if (gelf_getphdr(elf, static_cast<int>(i), &phdr) == nullptr || phdr.p_type != PT_NOTE) {
      continue;
    }
    Elf_Data* data = elf_getdata_rawchunk(elf, phdr.p_offset, phdr.p_filesz, ELF_T_NHDR);
    if (data == nullptr) continue;
    GElf_Nhdr nhdr;
    size_t name_offset = 0;
    size_t desc_offset = 0;
    for (size_t offset = 0;
         (offset = gelf_getnote(data, offset, &nhdr, &name_offset, &desc_offset)) > 0;) {
      const char* owner = static_cast<const char*>(data->d_buf) + name_offset;
      // Go's linker writes the owner as "Go\0\0" (n_namesz 4).
      if (nhdr.n_type == 4 && (nhdr.n_namesz == 3 || nhdr.n_namesz == 4) &&
          std::memcmp(owner, "Go", 3) == 0)
        return true;
    }
  }
  return false;
}

bool BuildTableFor(const std::string& path, std::vector<profd_unwind_row>* rows,
                   UnwindTableStats* stats, std::string* error) {
  if (IsGoBinary(path)) {
    if (BuildGoUnwindTable(path, rows, stats, error)) return true;
    // Go before 1.16 (another pclntab layout), or a damaged table: its CFI, if it kept any.
    std::string go_error = *error;
    if (BuildUnwindTable(path, rows, stats, error)) return true;
    *error = go_error + "; " + *error;
    return false;
  }
  return BuildUnwindTable(path, rows, stats, error);
}

}  // namespace profd

#include "dwarf_image.h"

#include <dlfcn.h>
#include <gelf.h>
#include <sys/mman.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace profd::symbolizer_internal {

namespace {

// What libdw reads to symbolize (location lists, frames and macros are left out).
constexpr std::string_view kNeededSections[] = {
    ".debug_info",     ".debug_abbrev",      ".debug_line",     ".debug_str",
    ".debug_line_str", ".debug_ranges",      ".debug_rnglists", ".debug_aranges",
    ".debug_addr",     ".debug_str_offsets", ".debug_types",    ".gnu_debugaltlink",
};

bool IsNeeded(std::string_view name) {
  return std::find(std::begin(kNeededSections), std::end(kNeededSections), name) !=
         std::end(kNeededSections);
}

struct SectionCopy {
  std::string name;
  const unsigned char* source = nullptr;  // the section's bytes as stored (after the Chdr if any)
  size_t source_size = 0;
  size_t size = 0;  // uncompressed
  bool compressed = false;
  size_t offset = 0;  // in the image
};

// The most DEFLATE can expand: a 258-byte match per 2 bits.
constexpr uint64_t kMaxInflateRatio = 1032;

size_t AlignUp(size_t value, size_t alignment) {
  return (value + alignment - 1) & ~(alignment - 1);
}

// libdeflate inflates about three times faster than zlib. It is used when its shared library is
// installed (Debian: libdeflate0); its headers are not needed, so it is loaded by name.
class LibDeflate {
 public:
  LibDeflate() {
    handle_ = dlopen("libdeflate.so.0", RTLD_NOW | RTLD_LOCAL);
    if (handle_ == nullptr) return;
    alloc_ = reinterpret_cast<AllocFn>(dlsym(handle_, "libdeflate_alloc_decompressor"));
    free_ = reinterpret_cast<FreeFn>(dlsym(handle_, "libdeflate_free_decompressor"));
    decompress_ = reinterpret_cast<DecompressFn>(dlsym(handle_, "libdeflate_zlib_decompress"));
  }
  ~LibDeflate() {
    if (handle_ != nullptr) dlclose(handle_);
  }
  LibDeflate(const LibDeflate&) = delete;
  LibDeflate& operator=(const LibDeflate&) = delete;

  bool available() const { return alloc_ != nullptr && free_ != nullptr && decompress_ != nullptr; }

  // Inflates a zlib stream into exactly `size` bytes; false on any error.
  bool Inflate(const unsigned char* source, size_t source_size, char* destination,
               size_t size) const {
    void* decompressor = alloc_();
    if (decompressor == nullptr) return false;
    size_t produced = 0;
    int status = decompress_(decompressor, source, source_size, destination, size, &produced);
    free_(decompressor);
    return status == 0 && produced == size;
  }

 private:
  using AllocFn = void* (*)();
  using FreeFn = void (*)(void*);
  using DecompressFn = int (*)(void*, const void*, size_t, void*, size_t, size_t*);
  void* handle_ = nullptr;
  AllocFn alloc_ = nullptr;
  FreeFn free_ = nullptr;
  DecompressFn decompress_ = nullptr;
};

bool ZlibInflate(const unsigned char* source, size_t source_size, char* destination, size_t size) {
  uLongf produced = size;
  return uncompress(reinterpret_cast<Bytef*>(destination), &produced, source, source_size) ==
             Z_OK &&
         produced == size;
}

}  // namespace

void DwarfImage::Unmap::operator()(char* bytes) const { munmap(bytes, size); }

bool DwarfImage::Build(Elf* elf) {
  GElf_Ehdr ehdr;
  if (gelf_getehdr(elf, &ehdr) == nullptr || ehdr.e_ident[EI_CLASS] != ELFCLASS64) return false;
  if (ehdr.e_type != ET_EXEC && ehdr.e_type != ET_DYN) return false;
  constexpr unsigned char kHostData =
      std::endian::native == std::endian::little ? ELFDATA2LSB : ELFDATA2MSB;
  if (ehdr.e_ident[EI_DATA] != kHostData) return false;
  size_t shstrndx = 0;
  if (elf_getshdrstrndx(elf, &shstrndx) != 0) return false;

  std::vector<SectionCopy> sections;
  bool any_compressed = false;
  Elf_Scn* scn = nullptr;
  while ((scn = elf_nextscn(elf, scn)) != nullptr) {
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr) == nullptr || shdr.sh_type == SHT_NOBITS) continue;
    const char* name = elf_strptr(elf, shstrndx, shdr.sh_name);
    if (name == nullptr || !IsNeeded(name)) continue;
    Elf_Data* raw = elf_rawdata(scn, nullptr);
    if (raw == nullptr || raw->d_buf == nullptr) continue;
    SectionCopy copy;
    copy.name = name;
    copy.source = static_cast<const unsigned char*>(raw->d_buf);
    copy.source_size = raw->d_size;
    copy.size = raw->d_size;
    if ((shdr.sh_flags & SHF_COMPRESSED) != 0) {
      Elf64_Chdr chdr;
      if (raw->d_size < sizeof(chdr)) return false;
      std::memcpy(&chdr, raw->d_buf, sizeof(chdr));
      if (chdr.ch_type != ELFCOMPRESS_ZLIB) return false;
      copy.compressed = true;
      copy.source += sizeof(chdr);
      copy.source_size -= sizeof(chdr);
      // Deflate expands at most 1032:1. A larger ch_size is a lie that would only size the image
      // below (pre-faulted: a 2.6 KB file claiming 4 GiB took 4 GiB of RAM) or wrap its offsets.
      if (chdr.ch_size > copy.source_size * kMaxInflateRatio + 1024) return false;
      copy.size = chdr.ch_size;
      any_compressed = true;
    }
    sections.push_back(std::move(copy));
  }
  if (!any_compressed) return false;

  // Layout: ELF header, section contents, section name table, section headers.
  std::string names(1, '\0');
  size_t offset = sizeof(Elf64_Ehdr);
  for (SectionCopy& section : sections) {
    offset = AlignUp(offset, 16);
    section.offset = offset;
    offset += section.size;
  }
  size_t names_offset = offset;
  std::vector<size_t> name_offsets;
  for (const SectionCopy& section : sections) {
    name_offsets.push_back(names.size());
    names += section.name;
    names += '\0';
  }
  name_offsets.push_back(names.size());
  names += ".shstrtab";
  names += '\0';
  offset += names.size();
  size_t headers_offset = AlignUp(offset, 8);
  size_t section_count = sections.size() + 2;  // null section and .shstrtab
  size_ = headers_offset + section_count * sizeof(Elf64_Shdr);
  // Pre-faulted in one call: first touches of fresh pages are what inflating mostly costs here.
  void* mapping = mmap(nullptr, size_, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (mapping == MAP_FAILED) return false;
  bytes_ = std::unique_ptr<char[], Unmap>(static_cast<char*>(mapping), Unmap{size_});
  char* image = bytes_.get();

  // Inflate the biggest sections first, one per core.
  std::vector<size_t> order(sections.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return sections[a].size > sections[b].size; });
  LibDeflate libdeflate;
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  auto worker = [&] {
    for (size_t i; (i = next.fetch_add(1)) < order.size();) {
      const SectionCopy& section = sections[order[i]];
      char* destination = image + section.offset;
      if (!section.compressed) {
        std::memcpy(destination, section.source, section.size);
        continue;
      }
      bool inflated =
          libdeflate.available()
              ? libdeflate.Inflate(section.source, section.source_size, destination, section.size)
              : ZlibInflate(section.source, section.source_size, destination, section.size);
      if (!inflated) failed = true;
    }
  };
  unsigned threads = std::clamp(std::thread::hardware_concurrency(), 1u, 4u);
  std::vector<std::jthread> helpers;
  for (unsigned t = 1; t < threads && t < order.size(); ++t) helpers.emplace_back(worker);
  worker();
  helpers.clear();  // joins
  if (failed) return false;

  Elf64_Ehdr header{};
  std::memcpy(header.e_ident, ehdr.e_ident, EI_NIDENT);
  header.e_type = static_cast<Elf64_Half>(ehdr.e_type);
  header.e_machine = static_cast<Elf64_Half>(ehdr.e_machine);
  header.e_version = EV_CURRENT;
  header.e_ehsize = sizeof(Elf64_Ehdr);
  header.e_shentsize = sizeof(Elf64_Shdr);
  header.e_shoff = headers_offset;
  header.e_shnum = static_cast<Elf64_Half>(section_count);
  header.e_shstrndx = static_cast<Elf64_Half>(section_count - 1);
  std::memcpy(image, &header, sizeof(header));
  std::memcpy(image + names_offset, names.data(), names.size());
  std::memset(image + names_offset + names.size(), 0, headers_offset - names_offset - names.size());

  std::vector<Elf64_Shdr> headers(section_count);
  std::memset(headers.data(), 0, headers.size() * sizeof(Elf64_Shdr));
  for (size_t i = 0; i < sections.size(); ++i) {
    Elf64_Shdr& shdr = headers[i + 1];
    shdr.sh_name = static_cast<Elf64_Word>(name_offsets[i]);
    shdr.sh_type = SHT_PROGBITS;
    shdr.sh_offset = sections[i].offset;
    shdr.sh_size = sections[i].size;
    shdr.sh_addralign = 1;
  }
  Elf64_Shdr& names_header = headers.back();
  names_header.sh_name = static_cast<Elf64_Word>(name_offsets.back());
  names_header.sh_type = SHT_STRTAB;
  names_header.sh_offset = names_offset;
  names_header.sh_size = names.size();
  names_header.sh_addralign = 1;
  std::memcpy(image + headers_offset, headers.data(), headers.size() * sizeof(Elf64_Shdr));

  elf_.reset(elf_memory(image, size_));
  return elf_ != nullptr;
}

}  // namespace profd::symbolizer_internal

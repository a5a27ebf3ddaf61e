#include "symbolizer.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <list>
#include <mutex>
#include <numeric>
#include <unordered_map>

#include "debug_file_finder.h"
#include "dwarf_image.h"
#include "dwarf_index.h"
#include "elf_file.h"
#include "elf_symbol_table.h"
#include "gopclntab.h"

namespace profd {

using symbolizer_internal::DebugFileFinder;
using symbolizer_internal::DwarfImage;
using symbolizer_internal::DwarfIndex;
using symbolizer_internal::ElfSymbolTable;
using symbolizer_internal::OpenElf;
using symbolizer_internal::UniqueDwarf;

bool ElfFileInfo::FileOffsetToVaddr(uint64_t file_offset, uint64_t* vaddr) const {
  for (const LoadSegment& load : loads) {
    if (file_offset >= load.file_offset && file_offset - load.file_offset < load.file_size) {
      *vaddr = load.vaddr + (file_offset - load.file_offset);
      return true;
    }
  }
  return false;
}

namespace {

// What identifies a file's contents without reading them; pids never enter it.
struct FileIdentity {
  uint64_t device = 0;
  uint64_t inode = 0;
  int64_t size = 0;
  int64_t mtime_seconds = 0;
  int64_t mtime_nanoseconds = 0;
  bool operator==(const FileIdentity&) const = default;
};

struct FileIdentityHash {
  size_t operator()(const FileIdentity& id) const {
    uint64_t h = id.device * 0x9e3779b97f4a7c15ull;
    for (uint64_t v :
         {id.inode, static_cast<uint64_t>(id.size), static_cast<uint64_t>(id.mtime_seconds),
          static_cast<uint64_t>(id.mtime_nanoseconds)}) {
      h = (h ^ v) * 0x100000001b3ull;
    }
    return static_cast<size_t>(h ^ (h >> 29));
  }
};

FileIdentity IdentityOf(const struct stat& st) {
  return {static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino),
          static_cast<int64_t>(st.st_size), static_cast<int64_t>(st.st_mtim.tv_sec),
          static_cast<int64_t>(st.st_mtim.tv_nsec)};
}

std::string HexAddress(uint64_t address) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "0x%" PRIx64, address);
  return buffer;
}

// One ELF file with whatever of its symbols and DWARF has been loaded so far.
struct LoadedFile {
  std::mutex mutex;  // held while symbolizing: the DWARF index fills in lazily
  // Set once EnsureDebugInfo has run: `info` changes no more, and Describe reads it without the
  // mutex (concurrent requests' Describe calls waited behind each other's symbolizing).
  std::atomic<bool> described{false};
  std::string path;  // as first opened; debuglink lookups use its directory
  OpenElf binary;
  ElfFileInfo info;
  ElfSymbolTable symbols;  // the binary's own .symtab or .dynsym, as llvm-symbolizer uses

  bool debug_searched = false;
  OpenElf debug_file;      // a separate debug file, when the binary has no DWARF
  DwarfImage dwarf_image;  // its compressed DWARF inflated, when it has some
  UniqueDwarf dwarf;
  std::unique_ptr<DwarfIndex> index;
  ElfSymbolTable debug_symbols;  // .symtab of the separate debug file
  std::string debug_error;       // why there is no DWARF
  // A Go binary without DWARF (-ldflags=-s -w): the runtime's own table has names, lines and
  // inlined calls.
  std::unique_ptr<gopclntab::Table> go_table;

  // About what it holds in memory now (with `mutex`).
  size_t Bytes() const {
    return symbols.bytes() + debug_symbols.bytes() + dwarf_image.bytes() +
           (index ? index->bytes() : 0);
  }
  FileIdentity identity;     // its key in the cache
  size_t bytes_counted = 0;  // what the cache counts for it (with the cache's mutex)
};

}  // namespace

class Symbolizer::Impl {
 public:
  explicit Impl(Options options) : options_(std::move(options)) {}

  std::shared_ptr<LoadedFile> GetFile(const std::string& path, std::string* error);
  // Counts `file`'s `bytes` now, and evicts the least recently used others while over the budget.
  void Account(const std::shared_ptr<LoadedFile>& file, size_t bytes);
  void EvictLeastRecentlyUsed();  // with cache_mutex_
  void EnsureDebugInfo(LoadedFile* file, const std::string& root);
  Symbolization SymbolizeOne(LoadedFile* file, uint64_t address);

  Options options_;
  mutable std::mutex cache_mutex_;
  struct CacheEntry {
    std::shared_ptr<LoadedFile> file;
    std::list<FileIdentity>::iterator lru_position;
  };
  std::list<FileIdentity> lru_;  // most recently used first
  std::unordered_map<FileIdentity, CacheEntry, FileIdentityHash> cache_;
  size_t bytes_cached_ = 0;  // bytes_counted of the files in cache_
  Stats stats_;
};

std::shared_ptr<LoadedFile> Symbolizer::Impl::GetFile(const std::string& path, std::string* error) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    *error = "cannot stat " + path + ": " + std::strerror(errno);
    return nullptr;
  }
  FileIdentity identity = IdentityOf(st);
  std::lock_guard lock(cache_mutex_);
  if (auto it = cache_.find(identity); it != cache_.end()) {
    ++stats_.cache_hits;
    lru_.splice(lru_.begin(), lru_, it->second.lru_position);
    return it->second.file;
  }
  ++stats_.cache_misses;
  auto file = std::make_shared<LoadedFile>();
  file->path = path;
  if (!symbolizer_internal::OpenElfFile(path, &file->binary, error)) return nullptr;
  // Key by what was opened, in case the path now names another file than the one stat saw.
  if (fstat(file->binary.fd.get(), &st) == 0) identity = IdentityOf(st);
  file->identity = identity;
  Elf* elf = file->binary.elf.get();
  file->info.build_id = symbolizer_internal::ReadBuildId(elf);
  file->info.loads = symbolizer_internal::ReadLoadSegments(elf);
  file->info.has_symbols = symbolizer_internal::HasSymbolSections(elf);
  file->symbols.Load(elf);

  lru_.push_front(identity);
  cache_[identity] = {file, lru_.begin()};
  while (cache_.size() > std::max<size_t>(options_.max_cached_files, 1)) EvictLeastRecentlyUsed();
  return file;
}

void Symbolizer::Impl::EvictLeastRecentlyUsed() {
  auto it = cache_.find(lru_.back());
  bytes_cached_ -= it->second.file->bytes_counted;
  cache_.erase(it);  // a caller still symbolizing with it keeps it until done
  lru_.pop_back();
  ++stats_.files_evicted;
}

void Symbolizer::Impl::Account(const std::shared_ptr<LoadedFile>& file, size_t bytes) {
  std::lock_guard lock(cache_mutex_);
  auto it = cache_.find(file->identity);
  if (it == cache_.end() || it->second.file != file) return;  // evicted meanwhile
  bytes_cached_ = bytes_cached_ - file->bytes_counted + bytes;
  file->bytes_counted = bytes;
  if (options_.max_cached_bytes == 0) return;
  // The most recently used file stays, however large.
  while (bytes_cached_ > options_.max_cached_bytes && lru_.size() > 1) EvictLeastRecentlyUsed();
}

void Symbolizer::Impl::EnsureDebugInfo(LoadedFile* file, const std::string& root) {
  if (file->debug_searched) return;
  file->debug_searched = true;
  Elf* dwarf_elf = nullptr;
  if (symbolizer_internal::HasDwarfSections(file->binary.elf.get())) {
    dwarf_elf = file->binary.elf.get();
  } else {
    DebugFileFinder finder(options_.debug_dir, root);
    if (finder.Find(file->path, file->binary, file->info.build_id, &file->debug_file,
                    &file->debug_error)) {
      dwarf_elf = file->debug_file.elf.get();
      file->debug_symbols.Load(dwarf_elf);
    }
  }
  if (dwarf_elf == nullptr) {
    auto go_table = std::make_unique<gopclntab::Table>();
    std::string go_error;
    // Through the open descriptor: the same file the cache identified.
    const std::string fd_path = "/proc/self/fd/" + std::to_string(file->binary.fd.get());
    if (go_table->Open(fd_path, /*keep_text=*/false, &go_error)) {
      file->go_table = std::move(go_table);
      file->info.has_debug_info = true;
    }
    return;
  }
  if (file->dwarf_image.Build(dwarf_elf)) dwarf_elf = file->dwarf_image.elf();
  file->dwarf.reset(dwarf_begin_elf(dwarf_elf, DWARF_C_READ, nullptr));
  if (file->dwarf == nullptr) {
    file->debug_error = std::string("libdw cannot read the DWARF: ") + dwarf_errmsg(-1);
    return;
  }
  file->index =
      std::make_unique<DwarfIndex>(file->dwarf.get(), options_.demangle, options_.demangle_style);
  file->info.has_debug_info = true;
}

Symbolization Symbolizer::Impl::SymbolizeOne(LoadedFile* file, uint64_t address) {
  Symbolization result;
  if (file->index) {
    file->index->Lookup(address, &result.frames);
  } else if (file->go_table) {
    std::vector<gopclntab::Frame> frames;
    file->go_table->Symbolize(address, &frames);
    for (const gopclntab::Frame& f : frames) {
      result.frames.push_back({std::string(f.function), std::string(f.file), f.line, 0, ""});
    }
  }
  // llvm-symbolizer names the physical frame after the ELF symbol holding the address.
  std::string_view symbol_file;
  std::string_view symbol = file->symbols.Find(address, &symbol_file);
  // Code without a DWARF function (libgcc's soft-float __addtf3 in libc, assembly, __restore_rt)
  // is often named by the separate debug file's .symtab though the stripped binary's is empty.
  const bool unnamed = result.frames.empty() || result.frames.back().function.empty();
  if (symbol.empty() && unnamed) {
    symbol = file->debug_symbols.Find(address, &symbol_file);
  }
  if (!symbol.empty()) {
    if (result.frames.empty()) result.frames.emplace_back();
    SourceFrame& physical = result.frames.back();
    physical.linkage_name = symbol;
    physical.function = options_.demangle ? Demangle(physical.linkage_name, options_.demangle_style)
                                          : physical.linkage_name;
    if (physical.file.empty()) physical.file = symbol_file;
  }
  if (result.frames.empty()) {
    result.error = "no symbol or line information covers " + HexAddress(address);
    if (!file->index && !file->go_table) {
      result.error +=
          file->debug_error.empty() ? " (no DWARF)" : " (no DWARF: " + file->debug_error + ")";
    }
  }
  return result;
}

Symbolizer::Symbolizer() : Symbolizer(Options{}) {}
Symbolizer::Symbolizer(Options options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Symbolizer::~Symbolizer() = default;

std::vector<Symbolization> Symbolizer::Symbolize(const std::string& path,
                                                 std::span<const uint64_t> addresses,
                                                 const std::string& root) {
  std::vector<Symbolization> results(addresses.size());
  std::string error;
  std::shared_ptr<LoadedFile> file = impl_->GetFile(path, &error);
  if (file == nullptr) {
    for (Symbolization& result : results) result.error = error;
    std::lock_guard lock(impl_->cache_mutex_);
    impl_->stats_.addresses += addresses.size();
    impl_->stats_.addresses_unknown += addresses.size();
    return results;
  }
  // Sorted order visits each compilation unit's tables in one stretch; repeats are computed once.
  std::vector<uint32_t> order(addresses.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](uint32_t a, uint32_t b) { return addresses[a] < addresses[b]; });
  uint64_t unknown = 0;
  size_t bytes = 0;
  {
    std::lock_guard file_lock(file->mutex);
    impl_->EnsureDebugInfo(file.get(), root);
    file->described.store(true, std::memory_order_release);
    for (size_t i = 0; i < order.size(); ++i) {
      uint32_t index = order[i];
      if (i > 0 && addresses[order[i - 1]] == addresses[index]) {
        results[index] = results[order[i - 1]];
      } else {
        results[index] = impl_->SymbolizeOne(file.get(), addresses[index]);
      }
      if (results[index].frames.empty()) ++unknown;
    }
    bytes = file->Bytes();
  }
  impl_->Account(file, bytes);
  std::lock_guard lock(impl_->cache_mutex_);
  impl_->stats_.addresses += addresses.size();
  impl_->stats_.addresses_unknown += unknown;
  return results;
}

bool Symbolizer::Describe(const std::string& path, ElfFileInfo* info, std::string* error,
                          const std::string& root) {
  std::shared_ptr<LoadedFile> file = impl_->GetFile(path, error);
  if (file == nullptr) return false;
  if (!file->described.load(std::memory_order_acquire)) {
    size_t bytes = 0;
    {
      std::lock_guard file_lock(file->mutex);
      impl_->EnsureDebugInfo(file.get(), root);
      file->described.store(true, std::memory_order_release);
      bytes = file->Bytes();
    }
    impl_->Account(file, bytes);
  }
  *info = file->info;
  return true;
}

Symbolizer::Stats Symbolizer::stats() const {
  std::lock_guard lock(impl_->cache_mutex_);
  Stats stats = impl_->stats_;
  stats.files_open = impl_->cache_.size();
  stats.bytes_cached = impl_->bytes_cached_;
  return stats;
}

}  // namespace profd

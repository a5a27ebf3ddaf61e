// Address → source symbolization for ELF files (DWARF via libdw, with inline chains) and the
// kernel.
#ifndef PROFD_SYMBOLIZER_SYMBOLIZER_H
#define PROFD_SYMBOLIZER_SYMBOLIZER_H

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace profd {

// One level of an inline chain.
enum class DemangleStyle {
  kFull,               // as llvm-symbolizer prints it: "ns::f(int) const"
  kWithoutParameters,  // a C++ function without its parameters and return type: "ns::f<int>"
};

struct SourceFrame {
  std::string function;      // demangled; "" when unknown
  std::string file;          // as DWARF names it (full path when it has one); "" when unknown
  uint32_t line = 0;         // 0 when unknown
  uint32_t column = 0;       // 0 when unknown
  std::string linkage_name;  // as the binary spells it (mangled); "" when it names none
};

// What one address resolved to: the inline chain innermost first, the physical function last.
struct Symbolization {
  std::vector<SourceFrame> frames;  // empty when the address is unknown
  std::string error;                // why it is unknown ("" when frames is not empty)
};

// A PT_LOAD segment: how the file's bytes map to its virtual addresses.
struct LoadSegment {
  uint64_t vaddr = 0;
  uint64_t file_offset = 0;
  uint64_t file_size = 0;
  bool executable = false;
};

// What the daemon needs to know of an ELF file to turn runtime addresses into ELF addresses.
struct ElfFileInfo {
  std::string build_id;         // lowercase hex of .note.gnu.build-id, "" when absent
  bool has_debug_info = false;  // DWARF found (in the file or a separate debug file)
  bool has_symbols = false;     // .symtab or .dynsym
  std::vector<LoadSegment> loads;

  // Sets `vaddr` to the ELF virtual address of the byte at `file_offset`; false when no PT_LOAD
  // maps that byte.
  bool FileOffsetToVaddr(uint64_t file_offset, uint64_t* vaddr) const;
};

class Symbolizer {
 public:
  struct Options {
    std::string debug_dir = "/usr/lib/debug";  // where build-id and debuglink files are searched
    size_t max_cached_files = 128;             // open ELF files kept; least recently used evicted
    // About how much the files kept may hold (symbols, inflated DWARF, the DWARF index): beyond
    // it the least recently used go, so a profile of many processes holds about this much and the
    // largest file at once, not every file's. 0: no limit.
    size_t max_cached_bytes = 0;
    bool demangle = true;
    DemangleStyle demangle_style = DemangleStyle::kFull;
  };

  Symbolizer();
  explicit Symbolizer(Options options);
  ~Symbolizer();
  Symbolizer(const Symbolizer&) = delete;
  Symbolizer& operator=(const Symbolizer&) = delete;

  // Symbolizes ELF virtual addresses of the file at `path`, returning one result per address in the
  // caller's order. `path` may be a /proc/PID/map_files or /proc/self/fd path. `root` (e.g.
  // /proc/PID/root) prefixes every debug-file lookup so containers find their own debug files
  // first. Files are cached by identity (dev, inode, size, mtime), never by pid.
  std::vector<Symbolization> Symbolize(const std::string& path, std::span<const uint64_t> addresses,
                                       const std::string& root = "");

  // Build id and load segments of the file at `path`; false with `error` set when it is no readable
  // ELF. `root` as for Symbolize (it only decides has_debug_info).
  bool Describe(const std::string& path, ElfFileInfo* info, std::string* error,
                const std::string& root = "");

  struct Stats {
    uint64_t cache_hits = 0;
    uint64_t cache_misses = 0;
    uint64_t files_open = 0;         // files in the cache now
    uint64_t files_evicted = 0;      // dropped as least recently used
    uint64_t bytes_cached = 0;       // about, see Options::max_cached_bytes
    uint64_t addresses = 0;          // addresses symbolized
    uint64_t addresses_unknown = 0;  // of which nothing was found
  };
  Stats stats() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// Kernel addresses from /proc/kallsyms (module names appended as "[module]" in the file field).
// After Load, Symbolize may be called from several threads at once; AddressOf may not.
class KernelSymbolizer {
 public:
  // Loads `kallsyms_path`; false with `error` set when it cannot be read or holds only zero
  // addresses.
  bool Load(const std::string& kallsyms_path, std::string* error);
  Symbolization Symbolize(uint64_t address) const;
  bool loaded() const { return !symbols_.empty(); }
  // The address of the first symbol called `name` (e.g. to read /proc/PID/stack, which shows names
  // and offsets but hides addresses); false when there is none.
  bool AddressOf(const std::string& name, uint64_t* address) const;

 private:
  // 16 bytes a symbol, names in one buffer: a host has 100,000-200,000 of them, and one string
  // allocation each made Load most of a one-second profile's start-up.
  struct Symbol {
    uint64_t address;
    uint32_t name_offset;  // into names_
    uint16_t name_size;
    uint16_t module;  // index into modules_, 0 for the kernel itself
  };
  std::string_view NameOf(const Symbol& s) const {
    return {names_.data() + s.name_offset, s.name_size};
  }
  std::vector<Symbol> symbols_;  // sorted by address
  std::string names_;
  std::vector<std::string> modules_;                           // "[ext4]"; modules_[0] is ""
  mutable std::unordered_map<std::string, uint64_t> by_name_;  // built on first AddressOf
};

// Demangles C++ (Itanium) and Rust (v0, and legacy with the hash dropped) names; returns others
// unchanged. Rust names are always whole: "<core::hash::sip::Hasher<S> as
// core::hash::Hasher>::write".
std::string Demangle(const std::string& name, DemangleStyle style = DemangleStyle::kFull);

// Formats results the way `llvm-symbolizer --inlining --obj=FILE` prints them: per address one
// function line and one file:line:column line per inline frame, innermost first, then a blank line.
std::string FormatLlvmStyle(const Symbolization& result);

}  // namespace profd

#endif  // PROFD_SYMBOLIZER_SYMBOLIZER_H

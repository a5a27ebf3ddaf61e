// A reader of Go's .gopclntab (the runtime's own function table, kept even in stripped binaries):
// functions and their entry pcs, the pc-value tables (pcsp, pcfile, pcln, pcdata) and the inline
// tree. Every byte is untrusted: each read is bounds-checked, varints are capped, every loop is
// bounded by the bytes it consumes, and malformed data is an error, never a crash.
#ifndef PROFD_GOPCLNTAB_GOPCLNTAB_H
#define PROFD_GOPCLNTAB_GOPCLNTAB_H

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace profd::gopclntab {

// The table layouts, by header magic.
enum class Version {
  kGo116,  // 0xfffffffa: Go 1.16, 1.17
  kGo118,  // 0xfffffff0: Go 1.18, 1.19
  kGo120,  // 0xfffffff1: Go 1.20 and later
};

// _func.flag bits (cmd/internal/objabi/funcid.go).
inline constexpr uint8_t kFlagTopFrame = 1;  // the outermost frame of a stack (goexit, mstart, …)
inline constexpr uint8_t kFlagSpWrite = 2;   // writes SP in a way pcsp cannot describe

// Bytes of the file at ELF virtual addresses.
struct Region {
  uint64_t vaddr = 0;
  std::vector<uint8_t> bytes;
  bool executable = false;
  bool writable = false;
};

// What Parse reads: the .gopclntab bytes and the loaded segments (for the inline trees, which
// live in go:func.* or, before Go 1.18, anywhere in read-only data).
struct Image {
  uint64_t pclntab_vaddr = 0;
  std::vector<uint8_t> pclntab;
  std::vector<Region> regions;
  uint64_t text_section_vaddr = 0;  // .text's address, used when the header's is 0 (PIE)
};

struct Func {
  uint64_t entry = 0;
  uint64_t end = 0;  // the next function's entry
  std::string_view name;
  uint32_t pcsp = 0;
  uint32_t pcfile = 0;
  uint32_t pcln = 0;
  uint32_t cu_offset = 0;
  uint8_t func_id = 0;
  uint8_t flag = 0;
  uint32_t npcdata = 0;
  uint32_t nfuncdata = 0;
  uint32_t record = 0;  // offset of the _func record in the function table
};

// One run of a pc-value table: `value` for pcs [start, end).
struct PcRun {
  uint64_t start = 0;
  uint64_t end = 0;
  int32_t value = 0;
};

// One level of a pc's inline chain.
struct Frame {
  std::string_view function;
  std::string_view file;
  uint32_t line = 0;
};

class Table {
 public:
  // Reads the table of the ELF file at `path`: .gopclntab by section name, else (section headers
  // stripped) the header magic found in a read-only segment. Keeps the executable bytes only when
  // `keep_text` (the unwinder looks at prologues).
  bool Open(const std::string& path, bool keep_text, std::string* error);
  // Parses an image already in memory (tests feed corrupted bytes here).
  bool Parse(Image image, std::string* error);

  Version version() const { return version_; }
  uint32_t func_count() const { return nfunc_; }
  uint64_t text_start() const { return text_start_; }
  bool has_inline_data() const { return version_ == Version::kGo116 || gofunc_ != 0; }

  // The i-th function (0 <= i < func_count()), by entry pc.
  bool FuncAt(uint32_t i, Func* func, std::string* error) const;
  // The function holding `pc`; false when none does.
  bool FindFunc(uint64_t pc, Func* func) const;

  // Decodes the pc-value table at `offset` of the function, calling `run` for each run in pc order.
  // Runs never pass func.end. False with `error` on malformed data.
  bool DecodePcTable(const Func& func, uint32_t offset,
                     const std::function<void(const PcRun&)>& run, std::string* error) const;
  // The table's value at `pc`, as the runtime's pcvalue gives it; false when the table does not
  // cover it or is malformed.
  bool PcValue(const Func& func, uint32_t offset, uint64_t pc, int32_t* value) const;
  // The pcdata table `index` (e.g. kPcdataInlTreeIndex) at `pc`; false when absent.
  bool PcData(const Func& func, uint32_t index, uint64_t pc, int32_t* value) const;

  std::string_view FileName(const Func& func, int32_t file_index) const;
  // The frames of `pc`, innermost inlined call first, the physical function last. False when no
  // function holds `pc`.
  bool Symbolize(uint64_t pc, std::vector<Frame>* frames) const;

  // `length` executable bytes at `vaddr` (Open with keep_text); empty when not available.
  std::span<const uint8_t> Text(uint64_t vaddr, size_t length) const;

 private:
  std::span<const uint8_t> Sub(uint64_t offset, uint64_t end) const;
  std::string_view CString(std::span<const uint8_t> table, uint64_t offset) const;
  uint64_t FieldPc(uint32_t i) const;
  // Bytes of a _func record before its pcdata offsets.
  uint64_t FixedSize() const { return version_ == Version::kGo118 ? 40 : 44; }
  bool FuncdataAddress(const Func& func, uint32_t index, uint64_t* address) const;
  std::span<const uint8_t> Memory(uint64_t vaddr, size_t length) const;
  bool FindGofunc();

  Image image_;
  Version version_ = Version::kGo118;
  uint32_t quantum_ = 1;
  uint32_t nfunc_ = 0;
  uint64_t text_start_ = 0;
  uint64_t gofunc_ = 0;  // go:func.* (Go 1.18+): base of funcdata offsets; 0 when not found
  std::span<const uint8_t> funcnametab_, cutab_, filetab_, pctab_, functab_;
};

inline constexpr uint32_t kPcdataInlTreeIndex = 2;
inline constexpr uint32_t kFuncdataInlTree = 3;

}  // namespace profd::gopclntab

#endif  // PROFD_GOPCLNTAB_GOPCLNTAB_H

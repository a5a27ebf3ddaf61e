#include "gopclntab.h"

#include <algorithm>
#include <cstring>

namespace profd::gopclntab {
namespace {

constexpr uint32_t kMagic116 = 0xfffffffa;
constexpr uint32_t kMagic118 = 0xfffffff0;
constexpr uint32_t kMagic120 = 0xfffffff1;

// A function's inline chain is at most this deep; deeper (or cyclic) data stops the expansion.
constexpr int kMaxInlineDepth = 64;
// The runtime's own bound on inline tree indices.
constexpr int32_t kMaxInlineIndex = 1 << 20;

bool ReadU32(std::span<const uint8_t> b, uint64_t offset, uint32_t* value) {
  if (offset > b.size() || b.size() - offset < 4) return false;
  std::memcpy(value, b.data() + offset, 4);  // amd64 and arm64 Go binaries are little-endian
  return true;
}

bool ReadU64(std::span<const uint8_t> b, uint64_t offset, uint64_t* value) {
  if (offset > b.size() || b.size() - offset < 8) return false;
  std::memcpy(value, b.data() + offset, 8);
  return true;
}

// A uint32 varint of at most 5 bytes; false when it runs off the table or is longer.
bool ReadVarint(std::span<const uint8_t> b, uint64_t* pos, uint32_t* value) {
  uint32_t v = 0;
  for (int shift = 0; shift < 35; shift += 7) {
    if (*pos >= b.size()) return false;
    const uint8_t byte = b[(*pos)++];
    v |= static_cast<uint32_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      *value = v;
      return true;
    }
  }
  return false;
}

}  // namespace

std::span<const uint8_t> Table::Sub(uint64_t offset, uint64_t end) const {
  const std::span<const uint8_t> all(image_.pclntab);
  if (offset > end || end > all.size()) return {};
  return all.subspan(offset, end - offset);
}

std::string_view Table::CString(std::span<const uint8_t> table, uint64_t offset) const {
  if (offset >= table.size()) return {};
  const uint8_t* start = table.data() + offset;
  const void* nul = std::memchr(start, 0, table.size() - offset);
  if (nul == nullptr) return {};
  return std::string_view(reinterpret_cast<const char*>(start),
                          static_cast<const uint8_t*>(nul) - start);
}

bool Table::Parse(Image image, std::string* error) {
  image_ = std::move(image);
  const std::span<const uint8_t> data(image_.pclntab);
  uint32_t magic = 0;
  if (!ReadU32(data, 0, &magic) || data.size() < 8) {
    *error = "gopclntab: shorter than its header";
    return false;
  }
  switch (magic) {
    case kMagic116:
      version_ = Version::kGo116;
      break;
    case kMagic118:
      version_ = Version::kGo118;
      break;
    case kMagic120:
      version_ = Version::kGo120;
      break;
    default:
      *error = "gopclntab: unsupported header magic (Go before 1.16, or not a pclntab)";
      return false;
  }
  quantum_ = data[6];
  if (data[4] != 0 || data[5] != 0 || (quantum_ != 1 && quantum_ != 2 && quantum_ != 4) ||
      data[7] != 8) {
    *error = "gopclntab: bad header (only 64-bit tables are read)";
    return false;
  }
  // Header words after the first 8 bytes; Go 1.18 added textStart as the third.
  const bool has_text_start = version_ != Version::kGo116;
  const int words = has_text_start ? 8 : 7;
  uint64_t w[8] = {};
  for (int i = 0; i < words; i++) {
    if (!ReadU64(data, 8 + 8 * i, &w[i])) {
      *error = "gopclntab: truncated header";
      return false;
    }
  }
  const uint64_t nfunc = w[0];
  const uint64_t* offsets = has_text_start ? &w[3] : &w[2];  // funcname, cu, file, pc, func tables
  text_start_ = has_text_start ? w[2] : 0;
  if (has_text_start && text_start_ == 0) text_start_ = image_.text_section_vaddr;  // PIE
  // Each table ends where the next one starts (the linker writes them in this order).
  auto end_of = [&](uint64_t offset) {
    uint64_t end = data.size();
    for (int i = 0; i < 5; i++)
      if (offsets[i] > offset && offsets[i] < end) end = offsets[i];
    return end;
  };
  for (int i = 0; i < 5; i++) {
    if (offsets[i] > data.size()) {
      *error = "gopclntab: a table offset is past the end";
      return false;
    }
  }
  funcnametab_ = Sub(offsets[0], end_of(offsets[0]));
  cutab_ = Sub(offsets[1], end_of(offsets[1]));
  filetab_ = Sub(offsets[2], end_of(offsets[2]));
  pctab_ = Sub(offsets[3], end_of(offsets[3]));
  functab_ = Sub(offsets[4], data.size());  // functab, then the _func records
  const uint64_t field = version_ == Version::kGo116 ? 8 : 4;
  if (nfunc == 0 || nfunc >= UINT32_MAX / 2 || functab_.size() / (2 * field) < nfunc + 1) {
    *error = "gopclntab: function count does not fit the table";
    return false;
  }
  nfunc_ = static_cast<uint32_t>(nfunc);
  // Lookups binary-search the entries: they must be sorted.
  for (uint32_t i = 0; i < nfunc_; i++) {
    if (FieldPc(i) > FieldPc(i + 1)) {
      *error = "gopclntab: function entries are not sorted";
      return false;
    }
  }
  if (version_ != Version::kGo116) FindGofunc();
  return true;
}

uint64_t Table::FieldPc(uint32_t i) const {
  // Parse checked that nfunc+1 entries fit.
  if (version_ == Version::kGo116) {
    uint64_t pc = 0;
    ReadU64(functab_, uint64_t{i} * 16, &pc);
    return pc;
  }
  uint32_t off = 0;
  ReadU32(functab_, uint64_t{i} * 8, &off);
  return text_start_ + off;
}

bool Table::FuncAt(uint32_t i, Func* f, std::string* error) const {
  if (i >= nfunc_) {
    *error = "gopclntab: no such function";
    return false;
  }
  uint64_t record = 0;
  if (version_ == Version::kGo116) {
    ReadU64(functab_, uint64_t{i} * 16 + 8, &record);
  } else {
    uint32_t r = 0;
    ReadU32(functab_, uint64_t{i} * 8 + 4, &r);
    record = r;
  }
  // Field offsets of _func (runtime/runtime2.go of each version).
  const uint64_t base = version_ == Version::kGo116 ? 8 : 4;  // after the entry
  const uint64_t id_at = version_ == Version::kGo120 ? 40 : base + 32;
  const uint64_t fixed = FixedSize();
  if (record > functab_.size() || functab_.size() - record < fixed) {
    *error = "gopclntab: function record out of bounds";
    return false;
  }
  const std::span<const uint8_t> r = functab_.subspan(record);
  uint64_t entry = 0;
  if (version_ == Version::kGo116) {
    ReadU64(r, 0, &entry);
  } else {
    uint32_t off = 0;
    ReadU32(r, 0, &off);
    entry = text_start_ + off;
  }
  if (entry != FieldPc(i)) {
    *error = "gopclntab: function record disagrees with the function table";
    return false;
  }
  uint32_t nameoff = 0;
  ReadU32(r, base, &nameoff);
  ReadU32(r, base + 12, &f->pcsp);
  ReadU32(r, base + 16, &f->pcfile);
  ReadU32(r, base + 20, &f->pcln);
  ReadU32(r, base + 24, &f->npcdata);
  ReadU32(r, base + 28, &f->cu_offset);
  f->func_id = r[id_at];
  f->flag = r[id_at + 1];
  f->nfuncdata = r[id_at + 3];
  // The pcdata offsets and funcdata slots follow the fixed part.
  const uint64_t slot = version_ == Version::kGo116 ? 8 : 4;
  const uint64_t align = version_ == Version::kGo116 ? 4 : 0;
  const uint64_t tail = uint64_t{f->npcdata} * 4 + align + uint64_t{f->nfuncdata} * slot;
  if (f->npcdata > 1024 || r.size() - fixed < tail) {
    *error = "gopclntab: function's pcdata out of bounds";
    return false;
  }
  f->entry = entry;
  f->end = FieldPc(i + 1);
  f->record = static_cast<uint32_t>(record);
  f->name = CString(funcnametab_, nameoff);
  return true;
}

bool Table::FindFunc(uint64_t pc, Func* func) const {
  if (nfunc_ == 0 || pc < FieldPc(0) || pc >= FieldPc(nfunc_)) return false;
  uint32_t lo = 0, hi = nfunc_;  // the last entry <= pc
  while (hi - lo > 1) {
    const uint32_t mid = lo + (hi - lo) / 2;
    if (FieldPc(mid) <= pc)
      lo = mid;
    else
      hi = mid;
  }
  std::string error;
  return FuncAt(lo, func, &error) && pc < func->end;
}

bool Table::DecodePcTable(const Func& func, uint32_t offset,
                          const std::function<void(const PcRun&)>& run, std::string* error) const {
  uint64_t pos = offset;
  uint64_t pc = func.entry;
  int32_t value = -1;
  bool first = true;
  // Each step consumes at least two bytes, so the loop ends with the table.
  while (true) {
    uint32_t uvdelta = 0, pcdelta = 0;
    if (!ReadVarint(pctab_, &pos, &uvdelta)) {
      *error = "gopclntab: pc-value table runs off its end";
      return false;
    }
    if (uvdelta == 0 && !first) return true;
    first = false;
    const int32_t vdelta =
        (uvdelta & 1) ? static_cast<int32_t>(~(uvdelta >> 1)) : static_cast<int32_t>(uvdelta >> 1);
    if (!ReadVarint(pctab_, &pos, &pcdelta)) {
      *error = "gopclntab: pc-value table runs off its end";
      return false;
    }
    const uint64_t next = pc + uint64_t{pcdelta} * quantum_;
    if (next > func.end) {
      *error = "gopclntab: pc-value table passes the function's end";
      return false;
    }
    value = static_cast<int32_t>(static_cast<uint32_t>(value) + static_cast<uint32_t>(vdelta));
    if (next > pc) run(PcRun{pc, next, value});
    pc = next;
  }
}

bool Table::PcValue(const Func& func, uint32_t offset, uint64_t pc, int32_t* value) const {
  if (offset == 0) return false;  // no table
  bool found = false;
  std::string error;
  // Tables are short (one function); the runtime scans them the same way.
  const bool ok = DecodePcTable(
      func, offset,
      [&](const PcRun& r) {
        if (!found && pc >= r.start && pc < r.end) {
          *value = r.value;
          found = true;
        }
      },
      &error);
  return ok && found;
}

bool Table::PcData(const Func& func, uint32_t index, uint64_t pc, int32_t* value) const {
  if (index >= func.npcdata) return false;
  uint32_t offset = 0;
  if (!ReadU32(functab_, uint64_t{func.record} + FixedSize() + 4 * index, &offset)) return false;
  return PcValue(func, offset, pc, value);
}

std::string_view Table::FileName(const Func& func, int32_t file_index) const {
  if (file_index < 0) return {};
  uint32_t offset = 0;
  if (!ReadU32(cutab_, (uint64_t{func.cu_offset} + static_cast<uint32_t>(file_index)) * 4, &offset))
    return {};
  if (offset == UINT32_MAX) return {};
  return CString(filetab_, offset);
}

std::span<const uint8_t> Table::Memory(uint64_t vaddr, size_t length) const {
  for (const Region& region : image_.regions) {
    if (vaddr >= region.vaddr && vaddr - region.vaddr <= region.bytes.size() &&
        region.bytes.size() - (vaddr - region.vaddr) >= length) {
      return std::span<const uint8_t>(region.bytes).subspan(vaddr - region.vaddr, length);
    }
  }
  return {};
}

std::span<const uint8_t> Table::Text(uint64_t vaddr, size_t length) const {
  return Memory(vaddr, length);
}

bool Table::FuncdataAddress(const Func& func, uint32_t index, uint64_t* address) const {
  if (index >= func.nfuncdata) return false;
  uint64_t at = uint64_t{func.record} + FixedSize() + uint64_t{func.npcdata} * 4;
  if (version_ == Version::kGo116) {
    // Pointers, aligned to 8 in memory (the table itself is 8-aligned).
    const uint64_t absolute = image_.pclntab_vaddr + (functab_.data() - image_.pclntab.data()) + at;
    if (absolute & 4) at += 4;
    return ReadU64(functab_, at + 8 * uint64_t{index}, address) && *address != 0;
  }
  uint32_t offset = 0;
  if (gofunc_ == 0 || !ReadU32(functab_, at + 4 * uint64_t{index}, &offset) || offset == UINT32_MAX)
    return false;
  *address = gofunc_ + offset;
  return true;
}

// go:func.* is not named in stripped binaries; runtime.firstmoduledata records it. That struct
// starts with a pointer to the pclntab header followed by the funcnametab slice, which is how it is
// found among the writable data.
bool Table::FindGofunc() {
  uint64_t funcname_offset = 0;
  ReadU64(image_.pclntab, 8 + 8 * 3, &funcname_offset);
  // Offsets in moduledata of text, rodata and gofunc (runtime/symtab.go of each version: Go 1.20
  // added covctrs/ecovctrs before them).
  const uint64_t text_at = 176;
  const uint64_t rodata_at = version_ == Version::kGo120 ? 312 : 296;
  const uint64_t gofunc_at = rodata_at + 8;
  for (const Region& region : image_.regions) {
    if (!region.writable) continue;
    const std::span<const uint8_t> b(region.bytes);
    for (uint64_t at = 0; at + gofunc_at + 8 <= b.size(); at += 8) {
      uint64_t v = 0;
      ReadU64(b, at, &v);
      if (v != image_.pclntab_vaddr) continue;
      uint64_t names = 0, text = 0, rodata = 0, gofunc = 0;
      ReadU64(b, at + 8, &names);
      ReadU64(b, at + text_at, &text);
      ReadU64(b, at + rodata_at, &rodata);
      ReadU64(b, at + gofunc_at, &gofunc);
      if (names != image_.pclntab_vaddr + funcname_offset) continue;
      if (text != text_start_ || gofunc < rodata || Memory(gofunc, 1).empty()) continue;
      gofunc_ = gofunc;
      return true;
    }
  }
  return false;
}

bool Table::Symbolize(uint64_t pc, std::vector<Frame>* frames) const {
  Func func;
  if (!FindFunc(pc, &func)) return false;
  uint64_t inline_tree = 0;
  const bool has_tree = FuncdataAddress(func, kFuncdataInlTree, &inline_tree);
  // Go 1.20 dropped parent/file/line from the entries: {funcID, pad[3], nameOff, parentPc, line}.
  const bool v120 = version_ == Version::kGo120;
  const uint64_t entry_size = v120 ? 16 : 20;
  const uint64_t name_at = v120 ? 4 : 12;
  const uint64_t parent_pc_at = v120 ? 8 : 16;
  uint64_t at = pc;
  for (int depth = 0; depth < kMaxInlineDepth; depth++) {
    Frame frame;
    int32_t file = -1, line = 0;
    if (PcValue(func, func.pcfile, at, &file)) frame.file = FileName(func, file);
    if (PcValue(func, func.pcln, at, &line) && line > 0) frame.line = static_cast<uint32_t>(line);
    int32_t index = -1;
    std::span<const uint8_t> call;
    if (has_tree && PcData(func, kPcdataInlTreeIndex, at, &index) && index >= 0 &&
        index < kMaxInlineIndex) {
      call = Memory(inline_tree + uint64_t(index) * entry_size, entry_size);
    }
    if (call.empty()) {  // not inlined here: the physical function
      frame.function = func.name;
      frames->push_back(frame);
      return true;
    }
    uint32_t nameoff = 0, parent_pc = 0;
    ReadU32(call, name_at, &nameoff);
    ReadU32(call, parent_pc_at, &parent_pc);
    frame.function = CString(funcnametab_, nameoff);
    frames->push_back(frame);
    // The caller continues at an instruction whose position is the call site.
    if (parent_pc >= func.end - func.entry) break;
    at = func.entry + parent_pc;
  }
  // Too deep or a bad parent: end with the physical function, without a line.
  frames->push_back(Frame{func.name, {}, 0});
  return true;
}

}  // namespace profd::gopclntab

#include "dwarf_index.h"

#include <dwarf.h>

#include <algorithm>
#include <limits>

namespace profd::symbolizer_internal {

namespace {
constexpr uint32_t kNone = std::numeric_limits<uint32_t>::max();

bool IsAbsolute(const char* path) { return path[0] == '/'; }

std::string JoinPath(const std::string& dir, const std::string& name) {
  if (dir.empty()) return name;
  if (dir.back() == '/') return dir + name;
  return dir + "/" + name;
}
}  // namespace

struct DwarfIndex::Unit {
  Dwarf_Off die_offset = 0;
  int version = 0;
  bool parsed = false;

  std::string comp_dir;
  Dwarf_Lines* lines = nullptr;  // sorted by address by libdw
  size_t line_count = 0;
  Dwarf_Files* files = nullptr;
  size_t file_count = 0;
  std::vector<std::string> file_paths;  // llvm-style paths, filled on first use
  std::vector<bool> file_path_ready;

  // A subprogram or inlined_subroutine DIE with code.
  struct Scope {
    uint32_t name = kNone;
    uint32_t parent = kNone;
    uint32_t call_file = 0;
    uint32_t call_line = 0;
    uint32_t call_column = 0;
    uint32_t first_range = 0;
    uint32_t range_count = 0;
    bool subprogram = false;
  };
  struct Range {
    uint64_t low;
    uint64_t high;
    uint32_t scope;
    uint32_t depth;
  };
  std::vector<Scope> scopes;
  std::vector<Range> scope_ranges;   // grouped by scope (Scope::first_range)
  std::vector<Range> sorted_ranges;  // by (low, depth): the deepest of equal starts last

  bool ScopeContains(uint32_t scope, uint64_t address) const {
    const Scope& s = scopes[scope];
    for (uint32_t i = s.first_range; i < s.first_range + s.range_count; ++i) {
      if (scope_ranges[i].low <= address && address < scope_ranges[i].high) return true;
    }
    return false;
  }

  // The deepest scope whose ranges hold `address`, kNone when none does.
  uint32_t InnermostScope(uint64_t address) const {
    auto it = std::upper_bound(sorted_ranges.begin(), sorted_ranges.end(), address,
                               [](uint64_t a, const Range& r) { return a < r.low; });
    if (it == sorted_ranges.begin()) return kNone;
    --it;
    if (address < it->high) return it->scope;
    // The last range starting at or before `address` ended before it: the answer is one of its
    // enclosing scopes, since scopes nest.
    for (uint32_t p = scopes[it->scope].parent; p != kNone; p = scopes[p].parent) {
      if (ScopeContains(p, address)) return p;
    }
    // A sibling of an earlier top-level function may still hold it (overlapping ranges).
    for (int steps = 0; steps < 8 && it != sorted_ranges.begin(); ++steps) {
      --it;
      if (it->low <= address && address < it->high) return it->scope;
    }
    return kNone;
  }
};

DwarfIndex::DwarfIndex(Dwarf* dwarf, bool demangle, DemangleStyle style)
    : dwarf_(dwarf), demangle_(demangle), style_(style) {
  BuildUnitRanges();
  bytes_ = units_.capacity() * (sizeof(void*) + sizeof(Unit)) +
           unit_ranges_.capacity() * sizeof(UnitRange);
}

DwarfIndex::~DwarfIndex() = default;

void DwarfIndex::BuildUnitRanges() {
  // Every compilation unit, in order, so aranges' CU offsets map to an index.
  Dwarf_Off offset = 0;
  Dwarf_Off next = 0;
  size_t header_size = 0;
  Dwarf_Half version = 0;
  Dwarf_Off abbrev_offset = 0;
  uint8_t address_size = 0;
  uint8_t offset_size = 0;
  while (dwarf_next_unit(dwarf_, offset, &next, &header_size, &version, &abbrev_offset,
                         &address_size, &offset_size, nullptr, nullptr) == 0) {
    auto unit = std::make_unique<Unit>();
    unit->die_offset = offset + header_size;
    unit->version = version;
    units_.push_back(std::move(unit));
    offset = next;
  }
  auto unit_index = [this](Dwarf_Off die_offset) -> uint32_t {
    auto it = std::lower_bound(units_.begin(), units_.end(), die_offset,
                               [](const auto& u, Dwarf_Off off) { return u->die_offset < off; });
    if (it == units_.end() || (*it)->die_offset != die_offset) return kNone;
    return static_cast<uint32_t>(it - units_.begin());
  };

  std::vector<bool> covered(units_.size(), false);
  Dwarf_Aranges* aranges = nullptr;
  size_t arange_count = 0;
  if (dwarf_getaranges(dwarf_, &aranges, &arange_count) == 0) {
    for (size_t i = 0; i < arange_count; ++i) {
      Dwarf_Addr start = 0;
      Dwarf_Word length = 0;
      Dwarf_Off die_offset = 0;
      if (dwarf_getarangeinfo(dwarf_onearange(aranges, i), &start, &length, &die_offset) != 0 ||
          length == 0) {
        continue;
      }
      uint32_t index = unit_index(die_offset);
      if (index == kNone) continue;
      covered[index] = true;
      unit_ranges_.push_back({start, start + length, index});
    }
  }
  // Units missing from .debug_aranges: their DW_AT_ranges / low_pc..high_pc.
  for (uint32_t i = 0; i < units_.size(); ++i) {
    if (covered[i]) continue;
    Dwarf_Die cu_die;
    if (dwarf_offdie(dwarf_, units_[i]->die_offset, &cu_die) == nullptr) continue;
    Dwarf_Addr base = 0;
    Dwarf_Addr start = 0;
    Dwarf_Addr end = 0;
    ptrdiff_t range_offset = 0;
    while ((range_offset = dwarf_ranges(&cu_die, range_offset, &base, &start, &end)) > 0) {
      if (end > start) unit_ranges_.push_back({start, end, i});
    }
  }
  std::sort(unit_ranges_.begin(), unit_ranges_.end(),
            [](const UnitRange& a, const UnitRange& b) { return a.low < b.low; });
}

DwarfIndex::Unit* DwarfIndex::UnitFor(uint64_t address) {
  auto it = std::upper_bound(unit_ranges_.begin(), unit_ranges_.end(), address,
                             [](uint64_t a, const UnitRange& r) { return a < r.low; });
  // Ranges rarely overlap; look back a little in case a longer earlier one holds the address.
  for (int steps = 0; steps < 4 && it != unit_ranges_.begin(); ++steps) {
    --it;
    if (address < it->high) {
      Unit* unit = units_[it->unit].get();
      if (!unit->parsed) ParseUnit(unit);
      return unit;
    }
  }
  return nullptr;
}

void DwarfIndex::ParseUnit(Unit* unit) {
  unit->parsed = true;
  ++units_parsed_;
  Dwarf_Die cu_die;
  if (dwarf_offdie(dwarf_, unit->die_offset, &cu_die) == nullptr) return;
  Dwarf_Attribute attr;
  if (const char* comp_dir = dwarf_formstring(dwarf_attr(&cu_die, DW_AT_comp_dir, &attr))) {
    unit->comp_dir = comp_dir;
  }
  if (dwarf_getsrclines(&cu_die, &unit->lines, &unit->line_count) != 0) {
    unit->lines = nullptr;
    unit->line_count = 0;
  }
  if (dwarf_getsrcfiles(&cu_die, &unit->files, &unit->file_count) != 0) {
    unit->files = nullptr;
    unit->file_count = 0;
  }
  unit->file_paths.resize(unit->file_count);
  unit->file_path_ready.resize(unit->file_count, false);

  Dwarf_Die child;
  if (dwarf_child(&cu_die, &child) == 0) WalkScopes(unit, &child, kNone, 0);
  unit->sorted_ranges = unit->scope_ranges;
  std::sort(unit->sorted_ranges.begin(), unit->sorted_ranges.end(),
            [](const Unit::Range& a, const Unit::Range& b) {
              return a.low != b.low ? a.low < b.low : a.depth < b.depth;
            });
  // libdw's line and file tables (a Dwarf_Line is 40-odd bytes) and ours.
  constexpr size_t kLibdwLineBytes = 48, kLibdwFileBytes = 32;
  bytes_ += unit->line_count * kLibdwLineBytes + unit->file_count * kLibdwFileBytes +
            unit->file_paths.capacity() * sizeof(std::string) +
            unit->scopes.capacity() * sizeof(Unit::Scope) +
            (unit->scope_ranges.capacity() + unit->sorted_ranges.capacity()) * sizeof(Unit::Range);
}

void DwarfIndex::WalkScopes(Unit* unit, Dwarf_Die* first_child, uint32_t parent, uint32_t depth) {
  Dwarf_Die die = *first_child;
  do {
    Dwarf_Die child;
    switch (dwarf_tag(&die)) {
      case DW_TAG_subprogram:
      case DW_TAG_inlined_subroutine: {
        bool subprogram = dwarf_tag(&die) == DW_TAG_subprogram;
        uint32_t scope = AddScope(unit, &die, parent, depth, subprogram);
        // A function without code (declaration, abstract instance) has no inlined calls either.
        if (scope != kNone && dwarf_haschildren(&die) && dwarf_child(&die, &child) == 0) {
          WalkScopes(unit, &child, scope, depth + 1);
        }
        break;
      }
      case DW_TAG_lexical_block:
      case DW_TAG_try_block:
      case DW_TAG_catch_block:
      case DW_TAG_namespace:
      case DW_TAG_module:
        if (dwarf_haschildren(&die) && dwarf_child(&die, &child) == 0) {
          WalkScopes(unit, &child, parent, depth);
        }
        break;
      default:
        break;
    }
  } while (dwarf_siblingof(&die, &die) == 0);
}

uint32_t DwarfIndex::AddScope(Unit* unit, Dwarf_Die* die, uint32_t parent, uint32_t depth,
                              bool subprogram) {
  uint32_t scope_index = static_cast<uint32_t>(unit->scopes.size());
  uint32_t first_range = static_cast<uint32_t>(unit->scope_ranges.size());
  Dwarf_Addr base = 0;
  Dwarf_Addr start = 0;
  Dwarf_Addr end = 0;
  ptrdiff_t range_offset = 0;
  while ((range_offset = dwarf_ranges(die, range_offset, &base, &start, &end)) > 0) {
    if (end > start) unit->scope_ranges.push_back({start, end, scope_index, depth});
  }
  uint32_t range_count = static_cast<uint32_t>(unit->scope_ranges.size()) - first_range;
  if (range_count == 0) return kNone;

  Unit::Scope scope;
  scope.name = NameId(die);
  scope.parent = parent;
  scope.first_range = first_range;
  scope.range_count = range_count;
  scope.subprogram = subprogram;
  if (!subprogram) {
    Dwarf_Attribute attr;
    Dwarf_Word value = 0;
    if (dwarf_formudata(dwarf_attr(die, DW_AT_call_file, &attr), &value) == 0) {
      scope.call_file = static_cast<uint32_t>(value);
    }
    if (dwarf_formudata(dwarf_attr(die, DW_AT_call_line, &attr), &value) == 0) {
      scope.call_line = static_cast<uint32_t>(value);
    }
    if (dwarf_formudata(dwarf_attr(die, DW_AT_call_column, &attr), &value) == 0) {
      scope.call_column = static_cast<uint32_t>(value);
    }
  }
  unit->scopes.push_back(scope);
  return scope_index;
}

uint32_t DwarfIndex::NameId(Dwarf_Die* die) {
  // Concrete instances name nothing themselves: key the cache by the DIE they take the name from.
  Dwarf_Off key = dwarf_dieoffset(die);
  Dwarf_Attribute attr;
  Dwarf_Die origin;
  if ((dwarf_attr(die, DW_AT_abstract_origin, &attr) != nullptr ||
       dwarf_attr(die, DW_AT_specification, &attr) != nullptr) &&
      dwarf_formref_die(&attr, &origin) != nullptr) {
    key = dwarf_dieoffset(&origin);
  }
  auto [it, inserted] = name_ids_.try_emplace(key, kNone);
  if (!inserted) return it->second;

  // Like llvm-symbolizer: the linkage name (demangled) when there is one, else DW_AT_name,
  // both looked up through abstract_origin and specification.
  const char* name = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_linkage_name, &attr));
  if (name == nullptr) {
    name = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &attr));
  }
  std::string text;
  std::string linkage;
  if (name != nullptr) {
    linkage = name;
    text = demangle_ ? Demangle(linkage, style_) : linkage;
  } else if ((name = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_name, &attr)))) {
    text = name;
  } else {
    return kNone;
  }
  it->second = static_cast<uint32_t>(names_.size());
  bytes_ += 2 * sizeof(std::string) + 32 + text.capacity() + linkage.capacity();  // with the map's
  names_.push_back(std::move(text));
  linkage_names_.push_back(std::move(linkage));
  return it->second;
}

// The path llvm-symbolizer prints: relative names are joined to their include directory and, except
// for DWARF 5 directory 0 (which is the compilation directory), to DW_AT_comp_dir.
const std::string& DwarfIndex::FilePath(Unit* unit, uint64_t file_index) {
  static const std::string kEmpty;
  if (file_index >= unit->file_count) return kEmpty;
  if (unit->file_path_ready[file_index]) return unit->file_paths[file_index];
  unit->file_path_ready[file_index] = true;
  const char* joined = dwarf_filesrc(unit->files, file_index, nullptr, nullptr);
  std::string& path = unit->file_paths[file_index];
  if (joined == nullptr) return path;
  // libdw already joined the name to its include directory (and, for DWARF < 5 directory 0, to
  // the compilation directory).
  if (IsAbsolute(joined) || unit->comp_dir.empty()) {
    path = joined;
  } else if (unit->version >= 5) {
    path = file_index == 0 ? std::string(joined) : JoinPath(unit->comp_dir, joined);
  } else {
    std::string_view view(joined);
    bool from_comp_dir = view.starts_with(unit->comp_dir) && view.size() > unit->comp_dir.size() &&
                         view[unit->comp_dir.size()] == '/';
    path = from_comp_dir ? std::string(joined) : JoinPath(unit->comp_dir, joined);
  }
  return path;
}

bool DwarfIndex::LineFor(Unit* unit, uint64_t address, SourceFrame* frame) {
  if (unit->lines == nullptr || unit->line_count == 0) return false;
  auto row_address = [unit](size_t i) {
    Dwarf_Addr a = 0;
    dwarf_lineaddr(dwarf_onesrcline(unit->lines, i), &a);
    return a;
  };
  // The last row at or before `address`; libdw orders end_sequence rows first at equal addresses.
  size_t low = 0;
  size_t high = unit->line_count;
  while (low < high) {
    size_t mid = low + (high - low) / 2;
    if (row_address(mid) <= address) {
      low = mid + 1;
    } else {
      high = mid;
    }
  }
  if (low == 0) return false;
  Dwarf_Line* line = dwarf_onesrcline(unit->lines, low - 1);
  bool end_sequence = false;
  dwarf_lineendsequence(line, &end_sequence);
  if (end_sequence) return false;
  int line_number = 0;
  int column = 0;
  dwarf_lineno(line, &line_number);
  dwarf_linecol(line, &column);
  Dwarf_Files* files = nullptr;
  size_t file_index = 0;
  if (dwarf_line_file(line, &files, &file_index) == 0) frame->file = FilePath(unit, file_index);
  frame->line = static_cast<uint32_t>(std::max(line_number, 0));
  frame->column = static_cast<uint32_t>(std::max(column, 0));
  return true;
}

void DwarfIndex::Lookup(uint64_t address, std::vector<SourceFrame>* frames) {
  Unit* unit = UnitFor(address);
  if (unit == nullptr) return;
  uint32_t scope = unit->InnermostScope(address);
  if (scope == kNone) {
    // No function DIE (assembly, or a unit built with line tables only): the line table alone.
    SourceFrame frame;
    if (LineFor(unit, address, &frame)) frames->push_back(std::move(frame));
    return;
  }
  const Unit::Scope* callee = nullptr;
  for (uint32_t s = scope; s != kNone; s = unit->scopes[s].parent) {
    const Unit::Scope& current = unit->scopes[s];
    SourceFrame frame;
    if (current.name != kNone) {
      frame.function = names_[current.name];
      frame.linkage_name = linkage_names_[current.name];
    }
    if (callee == nullptr) {
      LineFor(unit, address, &frame);
    } else {
      frame.file = FilePath(unit, callee->call_file);
      frame.line = callee->call_line;
      frame.column = callee->call_column;
    }
    frames->push_back(std::move(frame));
    if (current.subprogram) break;
    callee = &current;
  }
}

}  // namespace profd::symbolizer_internal

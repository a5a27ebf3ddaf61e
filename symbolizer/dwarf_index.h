// Lazily built per-compilation-unit lookup tables over one file's DWARF: scope (function and
// inlined call) ranges and the line table, so each unit is parsed once and then answers every
// address in it.
#ifndef PROFD_SYMBOLIZER_DWARF_INDEX_H
#define PROFD_SYMBOLIZER_DWARF_INDEX_H

#include <elfutils/libdw.h>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "symbolizer.h"

namespace profd::symbolizer_internal {

class DwarfIndex {
 public:
  // `dwarf` must outlive the index.
  DwarfIndex(Dwarf* dwarf, bool demangle, DemangleStyle style);
  ~DwarfIndex();
  DwarfIndex(const DwarfIndex&) = delete;
  DwarfIndex& operator=(const DwarfIndex&) = delete;

  // Appends the frames of `address`, innermost first, to `frames` (nothing when no unit or line
  // covers it). Follows llvm-symbolizer: the innermost frame's file:line comes from the line table,
  // each caller's from DW_AT_call_file/line/column of the frame it inlined.
  void Lookup(uint64_t address, std::vector<SourceFrame>* frames);

  size_t units_parsed() const { return units_parsed_; }
  // About what the index and libdw's tables for its parsed units hold, in bytes.
  size_t bytes() const { return bytes_; }

 private:
  struct Unit;
  struct UnitRange {
    uint64_t low;
    uint64_t high;
    uint32_t unit;
  };

  void BuildUnitRanges();
  Unit* UnitFor(uint64_t address);
  void ParseUnit(Unit* unit);
  void WalkScopes(Unit* unit, Dwarf_Die* first_child, uint32_t parent, uint32_t depth);
  uint32_t AddScope(Unit* unit, Dwarf_Die* die, uint32_t parent, uint32_t depth, bool subprogram);
  uint32_t NameId(Dwarf_Die* die);
  const std::string& FilePath(Unit* unit, uint64_t file_index);
  bool LineFor(Unit* unit, uint64_t address, SourceFrame* frame);

  Dwarf* dwarf_;
  bool demangle_;
  DemangleStyle style_;
  std::vector<std::unique_ptr<Unit>> units_;          // in .debug_info order
  std::vector<UnitRange> unit_ranges_;                // sorted by low
  std::unordered_map<Dwarf_Off, uint32_t> name_ids_;  // by the DIE offset names are read from
  std::vector<std::string> names_;
  std::vector<std::string> linkage_names_;  // parallel to names_; "" where DWARF gave only a name
  size_t units_parsed_ = 0;
  size_t bytes_ = 0;
};

}  // namespace profd::symbolizer_internal

#endif  // PROFD_SYMBOLIZER_DWARF_INDEX_H

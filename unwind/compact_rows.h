// The pure last step of building an unwind table: per-FDE rows in, one sorted, merged table out.
// Kept free of ELF and DWARF so its overlap and gap rules can be tested on hand-made input.
#ifndef PROFD_UNWIND_COMPACT_ROWS_H
#define PROFD_UNWIND_COMPACT_ROWS_H

#include <cstdint>
#include <vector>

#include "profd_abi.h"

namespace profd {

// The rows of one FDE, which covers [start, end). rows are sorted by pc, rows[0].pc == start, and
// every pc is inside [start, end).
struct FdeRows {
  uint64_t start = 0;
  uint64_t end = 0;
  std::vector<profd_unwind_row> rows;
};

struct CompactStats {
  uint64_t fdes_used = 0;     // FDEs that contributed at least one pc
  uint64_t fdes_dropped = 0;  // empty, or wholly covered by earlier FDEs
  uint64_t fdes_clipped = 0;  // partly covered by earlier FDEs
};

// True when the two rows unwind the same way (pc is ignored; fields a type does not use are
// ignored).
bool SameRule(const profd_unwind_row& a, const profd_unwind_row& b);

// Zeroes the fields the row's types do not use, so that equal rules compare equal bytewise.
void NormalizeRow(profd_unwind_row* row);

// Builds the table. Where FDEs overlap, the one earlier in `fdes` owns the shared pcs (so callers
// order sources by trust: .eh_frame before .debug_frame). The result is sorted by pc with strictly
// increasing pcs, adjacent rows with the same rule are merged, and wherever coverage ends (the end
// of an FDE no other FDE continues) a PROFD_CFA_NONE row starts, so a pc in a gap never borrows the
// rule of the function before it.
std::vector<profd_unwind_row> CompactRows(const std::vector<FdeRows>& fdes,
                                          CompactStats* stats = nullptr);

}  // namespace profd

#endif  // PROFD_UNWIND_COMPACT_ROWS_H

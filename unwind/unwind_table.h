// Compact unwind tables: an ELF file's call frame information (.eh_frame, else .debug_frame) turned into
// the sorted rows the BPF unwinder searches (struct profd_unwind_row in bpf/profd_abi.h).
#ifndef PROFD_UNWIND_UNWIND_TABLE_H
#define PROFD_UNWIND_UNWIND_TABLE_H

#include <cstdint>
#include <string>
#include <vector>

#include "profd_abi.h"

namespace profd {

struct UnwindTableStats {
  uint64_t fdes = 0;              // frame description entries read
  uint64_t rows = 0;              // rows in the table (after merging)
  uint64_t unsupported_rows = 0;  // rows whose rule could not be expressed (emitted as PROFD_CFA_NONE)
  std::string source;             // ".eh_frame" or ".debug_frame"
};

// Builds the table of the ELF file at `path` (may be /proc/self/fd/N). Rows are sorted by pc, adjacent
// rows with the same rule are merged, and every gap between FDEs starts with a PROFD_CFA_NONE row.
// Returns false with `error` set when the file has no usable call frame information.
bool BuildUnwindTable(const std::string& path, std::vector<profd_unwind_row>* rows,
                      UnwindTableStats* stats, std::string* error);

// True when the file is a Go binary (Go keeps frame pointers; profd walks them rather than its CFI).
bool IsGoBinary(const std::string& path);

}  // namespace profd

#endif  // PROFD_UNWIND_UNWIND_TABLE_H

// Compact unwind tables: an ELF file's call frame information (.eh_frame, else .debug_frame) turned
// into the sorted rows the BPF unwinder searches (struct profd_unwind_row in bpf/profd_abi.h).
#ifndef PROFD_UNWIND_UNWIND_TABLE_H
#define PROFD_UNWIND_UNWIND_TABLE_H

#include <cstdint>
#include <string>
#include <vector>

#include "profd_abi.h"

namespace profd {

struct UnwindTableStats {
  uint64_t fdes = 0;  // frame description entries read
  uint64_t rows = 0;  // rows in the table (after merging)
  uint64_t unsupported_rows =
      0;               // rows whose rule could not be expressed (emitted as PROFD_CFA_NONE)
  std::string source;  // ".eh_frame", ".debug_frame" or ".eh_frame+.debug_frame"

  // Why rows were unsupported (interpreted rows, counted before merging; they sum to
  // unsupported_rows).
  uint64_t cfa_other_register_rows = 0;  // CFA = a register other than rsp/rbp + offset
  uint64_t cfa_expression_rows = 0;      // a CFA expression that is neither PLT nor signal frame
  uint64_t ra_rule_rows = 0;             // return address not at CFA-8 (e.g. held in a register)
  uint64_t plt_threshold_rows = 0;       // PLT expression with a threshold other than 11 (IBT PLT)
  // Not unsupported rows, but worth knowing.
  uint64_t rbp_rule_unexpressible = 0;  // rbp rule the ABI cannot express, emitted as UNDEFINED
  uint64_t bad_entries = 0;             // malformed CIEs/FDEs skipped
  uint64_t fdes_outside_code = 0;       // FDEs outside executable segments (discarded code)
  uint64_t fdes_overlapping = 0;        // FDEs partly or wholly shadowed by an earlier FDE

  // Go tables (BuildGoUnwindTable): fdes counts functions, bad_entries those whose records or
  // pcsp tables were malformed (left uncovered).
  uint64_t go_top_frames = 0;               // goexit, mstart, rt0_go…: PROFD_CFA_END
  uint64_t go_spwrite_functions = 0;        // switch stacks: PROFD_CFA_NONE
  uint64_t go_signal_frames = 0;            // the signal restorer: PROFD_CFA_SIGNAL
  uint64_t go_frame_pointer_functions = 0;  // save the caller's rbp at CFA-16
  uint64_t go_cfi_fdes = 0;                 // FDEs of C code in the binary (cgo), from its CFI
};

// Builds the table of the ELF file at `path` (may be /proc/self/fd/N). Rows are sorted by pc,
// adjacent rows with the same rule are merged, and every gap between FDEs starts with a
// PROFD_CFA_NONE row. .eh_frame is read, and .debug_frame (compressed or not) fills pcs .eh_frame
// does not cover. See compact_rows.h for how overlapping FDEs are resolved. Returns false with
// `error` set when the file has no usable call frame information.
bool BuildUnwindTable(const std::string& path, std::vector<profd_unwind_row>* rows,
                      UnwindTableStats* stats, std::string* error);

// Builds the table of a Go binary from its .gopclntab, which even stripped Go binaries keep: each
// function's pcsp table (SP delta since entry) gives CFA = rsp + delta + 8; the caller's rbp is at
// CFA-16 once the prologue has saved it. Frameless leaves and prologues, which frame pointers
// cannot walk, unwind exactly. False with `error` set when there is no usable .gopclntab.
bool BuildGoUnwindTable(const std::string& path, std::vector<profd_unwind_row>* rows,
                        UnwindTableStats* stats, std::string* error);

// True when the file is a Go binary (its CFI is only in .debug_frame, often stripped; profd reads
// .gopclntab instead).
bool IsGoBinary(const std::string& path);

// The table profd unwinds the file with: BuildGoUnwindTable for Go binaries (BuildUnwindTable when
// their .gopclntab cannot be read), else BuildUnwindTable.
bool BuildTableFor(const std::string& path, std::vector<profd_unwind_row>* rows,
                   UnwindTableStats* stats, std::string* error);

}  // namespace profd

#endif  // PROFD_UNWIND_UNWIND_TABLE_H

// A DWARF call frame information interpreter for x86-64: runs every FDE of an .eh_frame or
// .debug_frame section once, start to end, and turns its rows into profd_unwind_rows.
//
// Why not libdw's dwarf_cfi_addrframe: it answers one pc at a time (each call re-runs the FDE's
// program from its start and mallocs a frame), so walking every row is quadratic per FDE, and it
// does not enumerate FDEs; one linear pass over the section is simpler and several times faster.
#ifndef PROFD_UNWIND_CFI_INTERPRETER_H
#define PROFD_UNWIND_CFI_INTERPRETER_H

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "compact_rows.h"

namespace profd {

// One CFI section as loaded in memory.
struct CfiSection {
  const uint8_t* data = nullptr;
  size_t size = 0;
  uint64_t vaddr = 0;    // sh_addr: pc-relative pointers in .eh_frame are relative to it
  bool eh_frame = true;  // .eh_frame format (else .debug_frame)
};

// Why rows were emitted as PROFD_CFA_NONE, and other things worth counting.
struct CfiStats {
  uint64_t fdes = 0;
  uint64_t rows = 0;                     // rows interpreted (before overlap handling and merging)
  uint64_t unsupported_rows = 0;         // sum of the four reasons below
  uint64_t cfa_other_register_rows = 0;  // CFA = some register other than rsp/rbp + offset
  uint64_t cfa_expression_rows = 0;      // a CFA expression that is neither PLT nor signal frame
  uint64_t ra_rule_rows = 0;             // return address not at CFA-8 (e.g. kept in a register)
  uint64_t plt_threshold_rows = 0;       // a PLT expression with a threshold other than 11
  uint64_t rbp_rule_unexpressible = 0;   // rbp rule the ABI cannot express: emitted as UNDEFINED
  uint64_t bad_entries = 0;              // CIEs/FDEs that could not be parsed (skipped)
  uint64_t plt_rows = 0;
  uint64_t signal_rows = 0;
  uint64_t end_rows = 0;
};

// Appends one FdeRows per FDE of `section` to `fdes`. Returns false (with `error`) only when the
// section cannot be walked at all; a malformed entry is skipped and counted.
bool InterpretCfi(const CfiSection& section, std::vector<FdeRows>* fdes, CfiStats* stats,
                  std::string* error);

}  // namespace profd

#endif  // PROFD_UNWIND_CFI_INTERPRETER_H

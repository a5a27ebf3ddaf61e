// CPython 3.11's location table (co_linetable, Objects/locations.md): which source line an
// instruction offset of a code object belongs to, as PyCode_Addr2Line answers it.
#ifndef PROFD_SYMBOLIZER_PYTHON_LINE_TABLE_H
#define PROFD_SYMBOLIZER_PYTHON_LINE_TABLE_H

#include <cstdint>
#include <string_view>

namespace profd {

// The line of the instruction `code_unit` (an offset in 2-byte code units from the code's first
// instruction) of a code object whose co_firstlineno is `first_line`; 0 when the table gives the
// instruction no line or does not reach it.
int PythonLineOf(std::string_view line_table, int first_line, uint32_t code_unit);

}  // namespace profd

#endif  // PROFD_SYMBOLIZER_PYTHON_LINE_TABLE_H

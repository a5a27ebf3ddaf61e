// A whole ELF image through the unwind table builders profd runs on every mapped file: .eh_frame
// and .debug_frame (compressed too) by BuildUnwindTable, .gopclntab by BuildGoUnwindTable.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "fuzz_util.h"
#include "unwind_table.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  profd::fuzz::MemFile file(data, size);
  const std::string path = file.path();
  std::vector<profd_unwind_row> rows;
  profd::UnwindTableStats stats;
  std::string error;
  if (profd::BuildUnwindTable(path, &rows, &stats, &error)) {
    // Sorted, strictly increasing pcs: the BPF side binary-searches them.
    for (size_t i = 1; i < rows.size(); i++)
      if (rows[i].pc <= rows[i - 1].pc) abort();
  }
  rows.clear();
  stats = {};
  if (profd::BuildGoUnwindTable(path, &rows, &stats, &error)) {
    for (size_t i = 1; i < rows.size(); i++)
      if (rows[i].pc <= rows[i - 1].pc) abort();
  }
  (void)profd::IsGoBinary(path);
  return 0;
}

// The CFI interpreter on arbitrary .eh_frame / .debug_frame bytes, then the compaction step,
// checking the promises CompactRows relies on. Input: one byte of flags (bit 0: .debug_frame
// format), eight of the section's address, then the section.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "cfi_interpreter.h"
#include "compact_rows.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 9) return 0;
  profd::CfiSection section;
  section.eh_frame = !(data[0] & 1);
  std::memcpy(&section.vaddr, data + 1, sizeof(section.vaddr));
  // A copy of exactly the section's bytes, so ASan sees any read past its end.
  std::vector<uint8_t> bytes(data + 9, data + size);
  section.data = bytes.data();
  section.size = bytes.size();

  std::vector<profd::FdeRows> fdes;
  profd::CfiStats stats;
  std::string error;
  if (!profd::InterpretCfi(section, &fdes, &stats, &error)) return 0;
  for (const profd::FdeRows& fde : fdes) {
    if (fde.rows.empty()) continue;
    if (fde.rows[0].pc != fde.start) abort();
    for (size_t i = 0; i < fde.rows.size(); i++) {
      if (fde.rows[i].pc < fde.start || fde.rows[i].pc >= fde.end) abort();
      if (i > 0 && fde.rows[i].pc < fde.rows[i - 1].pc) abort();
    }
  }
  const std::vector<profd_unwind_row> table = profd::CompactRows(fdes);
  for (size_t i = 1; i < table.size(); i++)
    if (table[i].pc <= table[i - 1].pc) abort();
  return 0;
}

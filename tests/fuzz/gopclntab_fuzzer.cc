// The .gopclntab reader on arbitrary table bytes: header, function table, pc-value tables, file
// names and inline trees. Input: 8 bytes of the table's address, then the table; the same bytes are
// also the only loaded region, so inline-tree and funcdata reads land somewhere.
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "gopclntab.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 8) return 0;
  profd::gopclntab::Image image;
  std::memcpy(&image.pclntab_vaddr, data, 8);
  image.pclntab.assign(data + 8, data + size);
  profd::gopclntab::Region region;
  region.vaddr = image.pclntab_vaddr;
  region.bytes = image.pclntab;
  image.regions.push_back(std::move(region));
  image.text_section_vaddr = 0x401000;

  profd::gopclntab::Table table;
  std::string error;
  if (!table.Parse(std::move(image), &error)) return 0;
  const uint32_t count = table.func_count() < 256 ? table.func_count() : 256;
  std::vector<profd::gopclntab::Frame> frames;
  for (uint32_t i = 0; i < count; i++) {
    profd::gopclntab::Func func;
    if (!table.FuncAt(i, &func, &error)) continue;
    for (uint32_t offset : {func.pcsp, func.pcfile, func.pcln}) {
      (void)table.DecodePcTable(
          func, offset, [](const profd::gopclntab::PcRun&) {}, &error);
    }
    int32_t value;
    (void)table.PcValue(func, func.pcsp, func.entry, &value);
    (void)table.PcData(func, profd::gopclntab::kPcdataInlTreeIndex, func.entry, &value);
    (void)table.FileName(func, 0);
    (void)table.Symbolize(func.entry, &frames);
    (void)table.Symbolize(func.end - 1, &frames);
  }
  profd::gopclntab::Func func;
  (void)table.FindFunc(table.text_start(), &func);
  return 0;
}

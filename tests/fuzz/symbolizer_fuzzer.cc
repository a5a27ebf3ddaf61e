// The DWARF/ELF symbolizer on an arbitrary ELF image: Describe (build id, load segments) and
// Symbolize of addresses in and around its executable segments, with inline chains, line tables,
// symbol tables, compressed sections, and .gopclntab for Go binaries.
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_util.h"
#include "symbolizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  profd::fuzz::MemFile file(data, size);
  const std::string path = file.path();
  profd::Symbolizer::Options options;
  options.debug_dir = "/nonexistent";  // only the input itself is read
  profd::Symbolizer symbolizer(options);
  profd::ElfFileInfo info;
  std::string error;
  if (!symbolizer.Describe(path, &info, &error)) return 0;
  std::vector<uint64_t> addresses = {0, 1, ~uint64_t{0}};
  for (const profd::LoadSegment& load : info.loads) {
    if (!load.executable) continue;
    // A spread of pcs through the segment: function starts are not known here.
    for (uint64_t i = 0; i < 64 && addresses.size() < 512; i++)
      addresses.push_back(load.vaddr + (load.file_size / 64) * i + (i & 7));
  }
  for (const profd::Symbolization& result : symbolizer.Symbolize(path, addresses))
    (void)profd::FormatLlvmStyle(result);
  return 0;
}

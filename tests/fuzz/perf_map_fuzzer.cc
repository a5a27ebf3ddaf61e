// A JIT's /tmp/perf-PID.map text, written by the target itself: parse, then look up addresses at
// and around the start of every line's entry. The same bytes are then read as a jitdump file (the
// target writes that too), looked up at every 8-byte value they hold.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <cstdlib>
#include <string>
#include <string_view>

#include "jit_dump.h"
#include "perf_map.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  profd::PerfMap map;
  map.Parse(text);
  // The lines' own start addresses, so lookups hit entries as well as the gaps between them.
  size_t lookups = 0;
  for (size_t line = 0; line < text.size() && lookups < 256; lookups++) {
    const uint64_t start = std::strtoull(text.c_str() + line, nullptr, 16);
    (void)map.Find(start);
    (void)map.Find(start - 1);
    (void)map.Find(start + 1);
    const size_t next = text.find('\n', line);
    if (next == std::string::npos) break;
    line = next + 1;
  }
  (void)map.Find(0);
  (void)map.Find(~uint64_t{0});

  profd::JitDump dump;
  dump.Parse(
      [&](uint64_t offset, void* out, size_t want) -> size_t {
        if (offset >= size) return 0;
        want = std::min<size_t>(want, size - offset);
        std::memcpy(out, data + offset, want);
        return want;
      },
      size);
  for (size_t at = 0; at + 8 <= size && at < 4096; at += 8) {
    uint64_t address;
    std::memcpy(&address, data + at, 8);
    const profd::JitDump::Symbol symbol = dump.Find(address);
    if (symbol.function.size() > profd::JitDump::kMaxNameBytes) abort();
  }
  return 0;
}

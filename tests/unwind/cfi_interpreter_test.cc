// InterpretCfi on hand-made sections: malformed entries are skipped and counted, never UB.
#include "cfi_interpreter.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace profd {
namespace {

// A .debug_frame with one CIE (code_align 1, data_align -8, ra = r16, CFA = rsp+8) and one FDE
// for [0x1000, 0x1100) running `insns`.
std::vector<uint8_t> DebugFrame(const std::vector<uint8_t>& insns) {
  std::vector<uint8_t> cie = {0xff, 0xff, 0xff, 0xff, 1, 0, 1, 0x78, 16, 0x0c, 7, 8, 0x90, 1};
  std::vector<uint8_t> out;
  auto put32 = [&](uint32_t v) {
    for (int i = 0; i < 4; i++) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
  };
  auto put64 = [&](uint64_t v) {
    for (int i = 0; i < 8; i++) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
  };
  put32(static_cast<uint32_t>(cie.size()));
  out.insert(out.end(), cie.begin(), cie.end());
  put32(static_cast<uint32_t>(4 + 16 + insns.size()));
  put32(0);  // the CIE's offset
  put64(0x1000);
  put64(0x100);
  out.insert(out.end(), insns.begin(), insns.end());
  return out;
}

std::vector<FdeRows> Interpret(const std::vector<uint8_t>& bytes, CfiStats* stats) {
  CfiSection section;
  section.data = bytes.data();
  section.size = bytes.size();
  section.eh_frame = false;
  std::vector<FdeRows> fdes;
  std::string error;
  EXPECT_TRUE(InterpretCfi(section, &fdes, stats, &error)) << error;
  return fdes;
}

TEST(CfiInterpreterTest, WellFormedFdeGivesRows) {
  CfiStats stats;
  // advance 1; CFA = rsp+16; rbp at CFA-16
  const auto fdes = Interpret(DebugFrame({0x41, 0x0e, 16, 0x86, 2}), &stats);
  ASSERT_EQ(fdes.size(), 1u);
  EXPECT_EQ(stats.bad_entries, 0u);
  ASSERT_EQ(fdes[0].rows.size(), 2u);
  EXPECT_EQ(fdes[0].rows[1].pc, 0x1001u);
  EXPECT_EQ(fdes[0].rows[1].cfa_offset, 16);
}

// Found by tests/fuzz/cfi_fuzzer: an offset operand times data_align overflowed int64 (UB).
TEST(CfiInterpreterTest, OffsetThatOverflowsWhenScaledIsMalformed) {
  // sleb 2^62, times -8: out of int64's range.
  const std::vector<uint8_t> huge = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0xc0, 0x00};
  for (uint8_t op : {uint8_t{0x11} /* offset_extended_sf */, uint8_t{0x12} /* def_cfa_sf */,
                     uint8_t{0x13} /* def_cfa_offset_sf */}) {
    std::vector<uint8_t> insns = {0x41, op};
    if (op != 0x13) insns.push_back(6);  // the register
    insns.insert(insns.end(), huge.begin(), huge.end());
    CfiStats stats;
    const auto fdes = Interpret(DebugFrame(insns), &stats);
    EXPECT_EQ(stats.bad_entries, 1u) << int{op};
    // The row before the bad instruction is kept; nothing after it.
    ASSERT_EQ(fdes.size(), 1u) << int{op};
    EXPECT_EQ(fdes[0].rows.size(), 1u) << int{op};
    EXPECT_EQ(fdes[0].end, 0x1001u) << int{op};
  }
  // DW_CFA_offset (a uleb): 2^61 * -8 does not fit either; and the GNU negative form.
  const std::vector<uint8_t> uleb = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20};
  for (std::vector<uint8_t> insns : {std::vector<uint8_t>{0x41, 0x86}, {0x41, 0x2f, 6}}) {
    insns.insert(insns.end(), uleb.begin(), uleb.end());
    CfiStats stats;
    Interpret(DebugFrame(insns), &stats);
    EXPECT_EQ(stats.bad_entries, 1u);
  }
}

}  // namespace
}  // namespace profd

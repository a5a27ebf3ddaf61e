// CompactRows on hand-made FDEs: sorting, merging, gaps and overlaps.
#include "compact_rows.h"

#include <gtest/gtest.h>

#include <tuple>
#include <vector>

namespace profd {
namespace {

profd_unwind_row Rsp(uint64_t pc, int32_t offset) {
  profd_unwind_row row{};
  row.pc = pc;
  row.cfa_type = PROFD_CFA_RSP;
  row.cfa_offset = offset;
  return row;
}

profd_unwind_row Rbp(uint64_t pc, int32_t offset, int16_t saved_at) {
  profd_unwind_row row{};
  row.pc = pc;
  row.cfa_type = PROFD_CFA_RBP;
  row.cfa_offset = offset;
  row.rbp_type = PROFD_RBP_AT_CFA;
  row.rbp_offset = saved_at;
  return row;
}

profd_unwind_row None(uint64_t pc) {
  profd_unwind_row row{};
  row.pc = pc;
  return row;
}

// (pc, type, offset) triples are enough to read failures.
using Flat = std::vector<std::tuple<uint64_t, int, int>>;
Flat Flatten(const std::vector<profd_unwind_row>& rows) {
  Flat out;
  for (const auto& row : rows) out.emplace_back(row.pc, row.cfa_type, row.cfa_offset);
  return out;
}

TEST(CompactRows, EmptyInputGivesEmptyTable) { EXPECT_TRUE(CompactRows({}).empty()); }

TEST(CompactRows, SortsFdesAndEndsEveryGapWithNone) {
  std::vector<FdeRows> fdes = {
      {0x200, 0x210, {Rsp(0x200, 8), Rsp(0x204, 16)}},
      {0x100, 0x120, {Rsp(0x100, 8), Rsp(0x101, 16)}},
  };
  EXPECT_EQ(Flatten(CompactRows(fdes)), (Flat{{0x100, PROFD_CFA_RSP, 8},
                                              {0x101, PROFD_CFA_RSP, 16},
                                              {0x120, PROFD_CFA_NONE, 0},
                                              {0x200, PROFD_CFA_RSP, 8},
                                              {0x204, PROFD_CFA_RSP, 16},
                                              {0x210, PROFD_CFA_NONE, 0}}));
}

TEST(CompactRows, AdjacentFdesNeedNoNoneRowAndIdenticalRulesMerge) {
  std::vector<FdeRows> fdes = {
      {0x100, 0x110, {Rsp(0x100, 8), Rsp(0x108, 16), Rsp(0x10c, 8)}},
      {0x110, 0x120, {Rsp(0x110, 8), Rsp(0x111, 8)}},  // same rule twice, and as the FDE before
  };
  EXPECT_EQ(Flatten(CompactRows(fdes)), (Flat{{0x100, PROFD_CFA_RSP, 8},
                                              {0x108, PROFD_CFA_RSP, 16},
                                              {0x10c, PROFD_CFA_RSP, 8},
                                              {0x120, PROFD_CFA_NONE, 0}}));
}

TEST(CompactRows, RbpRuleIsPartOfTheRule) {
  std::vector<FdeRows> fdes = {{0x100, 0x110, {Rbp(0x100, 16, -16), Rbp(0x104, 16, -24)}}};
  auto rows = CompactRows(fdes);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].rbp_offset, -16);
  EXPECT_EQ(rows[1].rbp_offset, -24);
  EXPECT_EQ(rows[2].cfa_type, PROFD_CFA_NONE);
}

TEST(CompactRows, UnusedFieldsAreZeroedSoRulesMerge) {
  profd_unwind_row end_a{};
  end_a.pc = 0x100;
  end_a.cfa_type = PROFD_CFA_END;
  end_a.cfa_offset = 8;
  end_a.rbp_type = PROFD_RBP_AT_CFA;
  profd_unwind_row end_b = end_a;
  end_b.pc = 0x104;
  end_b.cfa_offset = 16;
  auto rows = CompactRows({{0x100, 0x108, {end_a, end_b}}});
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].cfa_type, PROFD_CFA_END);
  EXPECT_EQ(rows[0].cfa_offset, 0);
  EXPECT_EQ(rows[0].rbp_type, PROFD_RBP_UNCHANGED);
}

TEST(CompactRows, EarlierFdeWinsOverlapsAndLaterOneKeepsTheRest) {
  CompactStats stats;
  std::vector<FdeRows> fdes = {
      {0x100, 0x120, {Rsp(0x100, 8), Rsp(0x110, 16)}},
      // Starts inside the first; its rule at 0x120 (rsp+32 from 0x118) must start at 0x120.
      {0x108, 0x130, {Rsp(0x108, 8), Rsp(0x118, 32), Rsp(0x128, 8)}},
      {0x100, 0x120, {Rsp(0x100, 64)}},  // a duplicate of the first: dropped
      {0x140, 0x140, {Rsp(0x140, 8)}},   // empty: dropped
  };
  EXPECT_EQ(Flatten(CompactRows(fdes, &stats)), (Flat{{0x100, PROFD_CFA_RSP, 8},
                                                      {0x110, PROFD_CFA_RSP, 16},
                                                      {0x120, PROFD_CFA_RSP, 32},
                                                      {0x128, PROFD_CFA_RSP, 8},
                                                      {0x130, PROFD_CFA_NONE, 0}}));
  EXPECT_EQ(stats.fdes_used, 2u);
  EXPECT_EQ(stats.fdes_clipped, 1u);
  EXPECT_EQ(stats.fdes_dropped, 2u);
}

TEST(CompactRows, LaterFdeFillsHolesAroundAnEarlierOne) {
  std::vector<FdeRows> fdes = {
      {0x110, 0x118, {Rsp(0x110, 16)}},
      {0x100, 0x120, {Rsp(0x100, 8), Rsp(0x114, 24), Rsp(0x11c, 40)}},
  };
  EXPECT_EQ(Flatten(CompactRows(fdes)), (Flat{{0x100, PROFD_CFA_RSP, 8},
                                              {0x110, PROFD_CFA_RSP, 16},
                                              {0x118, PROFD_CFA_RSP, 24},
                                              {0x11c, PROFD_CFA_RSP, 40},
                                              {0x120, PROFD_CFA_NONE, 0}}));
}

TEST(CompactRows, OrderOfInputDecidesOverlapsDeterministically) {
  FdeRows a{0x100, 0x110, {Rsp(0x100, 8)}};
  FdeRows b{0x100, 0x110, {Rsp(0x100, 16)}};
  EXPECT_EQ(CompactRows({a, b})[0].cfa_offset, 8);
  EXPECT_EQ(CompactRows({b, a})[0].cfa_offset, 16);
}

TEST(CompactRows, NoneRowsInsideAnFdeMergeWithTheGapAfterIt) {
  std::vector<FdeRows> fdes = {{0x100, 0x110, {Rsp(0x100, 8), None(0x108)}},
                               {0x200, 0x210, {Rsp(0x200, 8)}}};
  EXPECT_EQ(Flatten(CompactRows(fdes)), (Flat{{0x100, PROFD_CFA_RSP, 8},
                                              {0x108, PROFD_CFA_NONE, 0},
                                              {0x200, PROFD_CFA_RSP, 8},
                                              {0x210, PROFD_CFA_NONE, 0}}));
}

}  // namespace
}  // namespace profd

#include "profiles/top_table.h"

#include <gtest/gtest.h>

#include "profile_builder.h"

namespace profd {
namespace {

TEST(FormatValue, LikePprof) {
  EXPECT_EQ(FormatValue(2220000000, "nanoseconds"), "2.22s");
  EXPECT_EQ(FormatValue(10000000, "nanoseconds"), "10ms");
  EXPECT_EQ(FormatValue(1500000000, "nanoseconds"), "1.50s");
  EXPECT_EQ(FormatValue(0, "nanoseconds"), "0");
  EXPECT_EQ(FormatValue(2048, "bytes"), "2kB");
  EXPECT_EQ(FormatValue(42, "count"), "42");
}

TEST(FormatTopTable, FlatGoesToInnermostInlineFrameCumToEveryFunction) {
  ProfileBuilder b({{"samples", "count"}, {"cpu", "nanoseconds"}}, "cpu", {"cpu", "nanoseconds"},
                   10000000);
  const uint64_t m = b.AddMapping({0x1000, 0x2000, 0, "/bin/x", "", true, true, true, true});
  const uint64_t hot =
      b.AddLocation(m, 0x1100, {{"step", "step", "x.c", 3, 0}, {"hot", "hot", "x.c", 10, 0}});
  const uint64_t cold = b.AddLocation(m, 0x1200, {{"cold", "cold", "x.c", 20, 0}});
  const uint64_t main_loc = b.AddLocation(m, 0x1300, {{"main", "main", "x.c", 30, 0}});
  b.AddSample({hot, main_loc}, {3, 30000000});
  b.AddSample({cold, main_loc}, {1, 10000000});
  const std::string table = FormatTopTable(b.profile(), 10);
  EXPECT_NE(table.find("Showing nodes accounting for 40ms, 100% of 40ms total"), std::string::npos)
      << table;
  EXPECT_NE(table.find("      30ms 75.00% 75.00%       30ms 75.00%  step"), std::string::npos)
      << table;
  EXPECT_NE(table.find("      10ms 25.00%   100%       10ms 25.00%  cold"), std::string::npos)
      << table;
  EXPECT_NE(table.find("         0     0%   100%       30ms 75.00%  hot"), std::string::npos)
      << table;
  EXPECT_NE(table.find("         0     0%   100%       40ms   100%  main"), std::string::npos)
      << table;
}

}  // namespace
}  // namespace profd

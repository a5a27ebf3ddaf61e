#include "python_line_table.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace profd {
namespace {

// sample.__code__ of this function, defined at line 1 of a file and dumped by Debian's python3.11:
//   def sample(n):
//       total = 0
//       for i in range(n):
//           if i % 3 == 0:
//               total += i * 2
//           else:
//               total -= (
//                   i
//               )
//       return total
// Its co_linetable, and [p[0] for p in co_positions()]: the line of each code unit.
const std::vector<uint8_t> kLineTable = {
    128, 0,   216, 12,  13,  128, 69,  221, 13,  18,  144, 49,  137, 88, 140, 88,
    240, 0,   6,   5,   14,  240, 0,   6,   5,   14,  136, 1,   216, 11, 12,  136,
    113, 137, 53,  144, 65,  138, 58,  136, 58,  216, 12,  17,  144, 81, 152, 17,
    145, 85,  137, 78,  136, 69,  136, 69,  224, 12,  17,  216, 16,  17, 241, 3,
    2,   13,  14,  136, 69,  136, 69,  240, 6,   0,   12,  17,  128, 76};
const std::vector<int> kLines = {1, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,  3, 3, 3,
                                 3, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4, 4, 4,  5, 5, 5,
                                 5, 5, 5, 5, 5, 5, 7, 8, 7, 7, 7, 7, 10, 10};

TEST(PythonLineTable, AgreesWithCoPositionsOnEveryCodeUnit) {
  const std::string table(kLineTable.begin(), kLineTable.end());
  for (uint32_t unit = 0; unit < kLines.size(); unit++)
    EXPECT_EQ(PythonLineOf(table, 1, unit), kLines[unit]) << "code unit " << unit;
}

TEST(PythonLineTable, LinesMoveWithFirstLine) {
  const std::string table(kLineTable.begin(), kLineTable.end());
  EXPECT_EQ(PythonLineOf(table, 101, 39), 108);  // the `i` inside the parentheses
}

TEST(PythonLineTable, PastTheEndOrMisreadHasNoLine) {
  const std::string table(kLineTable.begin(), kLineTable.end());
  EXPECT_EQ(PythonLineOf(table, 1, static_cast<uint32_t>(kLines.size())), 0);
  EXPECT_EQ(PythonLineOf("", 1, 0), 0);
  EXPECT_EQ(PythonLineOf(std::string("\x01\x02", 2), 1, 0), 0);  // no entry start
  EXPECT_EQ(PythonLineOf(std::string("\xf8", 1), 5, 0), 0);      // code 15: no location
}

}  // namespace
}  // namespace profd

// BuildUnwindTable against binutils' CFI interpreter: every row of every FDE that
// `readelf --debug-dump=frames-interp` prints must be what the table says for that pc range.
#include "unwind_table.h"
#include "run_command.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace profd {
namespace {

const std::string kFixtures = PROFD_UNWIND_FIXTURE_DIR;
const std::string kLibc = "/lib/x86_64-linux-gnu/libc.so.6";

// One row as readelf prints it: the CFA column and the rbp and ra columns ("" when absent).
struct RefRule {
  std::string cfa, rbp, ra;
};

struct RefFde {
  uint64_t start = 0, end = 0;
  bool signal = false;  // its CIE's augmentation has 'S'
  std::vector<std::pair<uint64_t, RefRule>> rows;
};

struct RefCie {
  std::string augmentation;
  RefRule initial;
};

// Parses readelf's frames-interp output, keyed by section name.
std::map<std::string, std::vector<RefFde>> ParseReadelf(const std::string& path) {
  std::istringstream in(
      RunCommand("readelf --debug-dump=frames-interp '" + path + "' 2>/dev/null"));
  static const std::regex kSection(R"(^Contents of the (\S+) section)");
  static const std::regex kCie(R"re(^([0-9a-f]+) [0-9a-f]+ [0-9a-f]+ CIE "([^"]*)")re");
  static const std::regex kFde(
      R"(^[0-9a-f]+ [0-9a-f]+ [0-9a-f]+ FDE cie=([0-9a-f]+) pc=([0-9a-f]+)\.\.([0-9a-f]+))");
  static const std::regex kRow(R"(^[0-9a-f]{16} )");
  std::map<std::string, std::vector<RefFde>> out;
  std::map<uint64_t, RefCie> cies;
  std::string section;
  RefCie* cie = nullptr;
  RefFde* fde = nullptr;
  uint64_t fde_cie = 0;
  std::vector<std::string> columns;
  auto finish_fde = [&] {
    if (fde == nullptr) return;
    const RefCie& c = cies[fde_cie];
    fde->signal = c.augmentation.find('S') != std::string::npos;
    if (fde->rows.empty() || fde->rows.front().first > fde->start) {
      fde->rows.insert(fde->rows.begin(), {fde->start, c.initial});
    }
    fde = nullptr;
  };
  std::string line;
  std::smatch m;
  while (std::getline(in, line)) {
    if (std::regex_search(line, m, kSection)) {
      finish_fde();
      section = m[1];
      cies.clear();
    } else if (std::regex_search(line, m, kCie)) {
      finish_fde();
      cie = &cies[std::stoull(m[1], nullptr, 16)];
      cie->augmentation = m[2];
    } else if (std::regex_search(line, m, kFde)) {
      finish_fde();
      cie = nullptr;
      fde = &out[section].emplace_back();
      fde_cie = std::stoull(m[1], nullptr, 16);
      fde->start = std::stoull(m[2], nullptr, 16);
      fde->end = std::stoull(m[3], nullptr, 16);
    } else if (line.starts_with("   LOC")) {
      std::istringstream header(line);
      columns.clear();
      for (std::string column; header >> column;) columns.push_back(column);
    } else if (std::regex_search(line, kRow) && (fde != nullptr || cie != nullptr)) {
      std::istringstream fields(line);
      std::vector<std::string> values;
      for (std::string value; fields >> value;) {
        // A register rule prints as "r9 (r9)": one value.
        if (value.starts_with("(") && !values.empty()) {
          values.back() += " " + value;
        } else {
          values.push_back(value);
        }
      }
      EXPECT_EQ(values.size(), columns.size()) << line;
      if (values.size() != columns.size()) continue;
      RefRule rule;
      for (size_t i = 1; i < columns.size(); ++i) {
        if (columns[i] == "CFA") rule.cfa = values[i];
        if (columns[i] == "rbp") rule.rbp = values[i];
        if (columns[i] == "ra") rule.ra = values[i];
      }
      if (fde != nullptr) {
        fde->rows.emplace_back(std::stoull(values[0], nullptr, 16), rule);
      } else {
        cie->initial = rule;
      }
    }
  }
  finish_fde();
  return out;
}

// The executable PT_LOAD ranges, from `readelf -lW`.
std::vector<std::pair<uint64_t, uint64_t>> ExecutableRanges(const std::string& path) {
  std::istringstream in(RunCommand("readelf -lW '" + path + "'"));
  static const std::regex kLoad(
      R"(^\s+LOAD\s+0x[0-9a-f]+ 0x([0-9a-f]+) 0x[0-9a-f]+ 0x[0-9a-f]+ 0x([0-9a-f]+) (.*E.*) 0x)");
  std::vector<std::pair<uint64_t, uint64_t>> out;
  std::smatch m;
  for (std::string line; std::getline(in, line);) {
    if (std::regex_search(line, m, kLoad)) {
      uint64_t start = std::stoull(m[1], nullptr, 16);
      out.emplace_back(start, start + std::stoull(m[2], nullptr, 16));
    }
  }
  return out;
}

// [start, end) of every section whose name starts with .plt, from `readelf -SW`.
std::vector<std::pair<uint64_t, uint64_t>> PltRanges(const std::string& path) {
  std::istringstream in(RunCommand("readelf -SW '" + path + "'"));
  static const std::regex kPlt(R"(\] (\.plt\S*)\s+\S+\s+([0-9a-f]+) [0-9a-f]+ ([0-9a-f]+))");
  std::vector<std::pair<uint64_t, uint64_t>> out;
  std::smatch m;
  for (std::string line; std::getline(in, line);) {
    if (std::regex_search(line, m, kPlt)) {
      uint64_t start = std::stoull(m[2], nullptr, 16);
      out.emplace_back(start, start + std::stoull(m[3], nullptr, 16));
    }
  }
  return out;
}

bool In(const std::vector<std::pair<uint64_t, uint64_t>>& ranges, uint64_t pc) {
  return std::any_of(ranges.begin(), ranges.end(),
                     [&](const auto& r) { return pc >= r.first && pc < r.second; });
}

// The table's rule at `pc`: the last row at or before it (NONE before the first row).
profd_unwind_row Lookup(const std::vector<profd_unwind_row>& rows, uint64_t pc) {
  auto it = std::upper_bound(rows.begin(), rows.end(), pc,
                             [](uint64_t p, const profd_unwind_row& row) { return p < row.pc; });
  if (it == rows.begin()) return profd_unwind_row{};
  return *std::prev(it);
}

std::string Describe(const profd_unwind_row& row) {
  std::ostringstream out;
  out << "cfa_type=" << int(row.cfa_type) << " cfa_offset=" << row.cfa_offset
      << " rbp_type=" << int(row.rbp_type) << " rbp_offset=" << row.rbp_offset;
  return out.str();
}

struct CheckResult {
  uint64_t rows_checked = 0;
  uint64_t overlapping_pcs_skipped = 0;
  uint64_t plt_rows = 0, signal_rows = 0, end_rows = 0, none_rows = 0;
};

// Checks `rows` against what readelf says about each FDE's rows, in the section(s) `source` names.
void CheckAgainstReadelf(const std::string& path, const std::vector<profd_unwind_row>& rows,
                         const UnwindTableStats& stats, CheckResult* result) {
  auto sections = ParseReadelf(path);
  auto code = ExecutableRanges(path);
  auto plt = PltRanges(path);
  bool rbp_ever_undefined =
      RunCommand("readelf -wf '" + path + "' | grep -c 'DW_CFA_undefined: r6 '") != "0\n";
  ASSERT_FALSE(code.empty()) << path;

  // Table invariants: strictly increasing pcs, no two neighbours with the same rule, ends with
  // NONE.
  ASSERT_FALSE(rows.empty());
  EXPECT_EQ(rows.back().cfa_type, PROFD_CFA_NONE);
  for (size_t i = 1; i < rows.size(); ++i) {
    ASSERT_LT(rows[i - 1].pc, rows[i].pc) << path << " row " << i;
    const auto& a = rows[i - 1];
    const auto& b = rows[i];
    EXPECT_FALSE(a.cfa_type == b.cfa_type && a.cfa_offset == b.cfa_offset &&
                 a.rbp_type == b.rbp_type && a.rbp_offset == b.rbp_offset)
        << path << ": unmerged rows at " << std::hex << b.pc;
  }

  // The FDEs that describe code, .eh_frame first (it wins overlaps, as in the table).
  std::vector<RefFde> fdes;
  for (const char* name : {".eh_frame", ".debug_frame"}) {
    if (stats.source.find(name) == std::string::npos) continue;
    for (const RefFde& fde : sections[name]) {
      if (fde.end > fde.start && In(code, fde.start) && In(code, fde.end - 1)) fdes.push_back(fde);
    }
  }
  ASSERT_FALSE(fdes.empty()) << path;
  std::vector<std::pair<uint64_t, uint64_t>> covered;
  for (const RefFde& fde : fdes) covered.emplace_back(fde.start, fde.end);
  std::sort(covered.begin(), covered.end());
  std::vector<std::pair<uint64_t, uint64_t>> overlaps;
  for (size_t i = 1; i < covered.size(); ++i) {
    if (covered[i].first < covered[i - 1].second) {
      overlaps.emplace_back(covered[i].first, std::min(covered[i].second, covered[i - 1].second));
    }
  }

  for (const RefFde& fde : fdes) {
    for (size_t i = 0; i < fde.rows.size(); ++i) {
      uint64_t start = fde.rows[i].first;
      uint64_t end = i + 1 < fde.rows.size() ? fde.rows[i + 1].first : fde.end;
      if (start >= end) continue;
      if (In(overlaps, start)) {
        ++result->overlapping_pcs_skipped;
        continue;
      }
      const RefRule& ref = fde.rows[i].second;
      profd_unwind_row got = Lookup(rows, start);
      std::ostringstream where;
      where << path << " pc 0x" << std::hex << start << " (FDE 0x" << fde.start << "..0x" << fde.end
            << ") readelf: cfa=" << ref.cfa << " rbp=" << ref.rbp << " ra=" << ref.ra
            << "; table: " << Describe(got);
      ++result->rows_checked;

      // No row of ours may start strictly inside readelf's row: its rule is constant there.
      auto next =
          std::upper_bound(rows.begin(), rows.end(), start,
                           [](uint64_t p, const profd_unwind_row& row) { return p < row.pc; });
      if (next != rows.end() && !In(overlaps, next->pc)) {
        EXPECT_GE(next->pc, end) << where.str();
      }

      if (fde.signal && ref.cfa == "exp") {
        EXPECT_EQ(got.cfa_type, PROFD_CFA_SIGNAL) << where.str();
        ++result->signal_rows;
        continue;
      }
      if (ref.ra == "u") {
        EXPECT_EQ(got.cfa_type, PROFD_CFA_END) << where.str();
        ++result->end_rows;
        continue;
      }
      if (ref.ra != "c-8") {
        EXPECT_EQ(got.cfa_type, PROFD_CFA_NONE) << where.str();
        ++result->none_rows;
        continue;
      }
      if (ref.cfa == "exp") {
        // Only binutils' PLT expression with the threshold 11 is PLT; the rest is NONE.
        if (got.cfa_type == PROFD_CFA_PLT) {
          EXPECT_TRUE(In(plt, start)) << where.str();
          EXPECT_EQ(got.cfa_offset, 8) << where.str();
          ++result->plt_rows;
        } else {
          EXPECT_EQ(got.cfa_type, PROFD_CFA_NONE) << where.str();
          ++result->none_rows;
        }
        continue;
      }
      if (ref.cfa.starts_with("rsp+")) {
        EXPECT_EQ(got.cfa_type, PROFD_CFA_RSP) << where.str();
        EXPECT_EQ(got.cfa_offset, std::stoi(ref.cfa.substr(4))) << where.str();
      } else if (ref.cfa.starts_with("rbp+")) {
        EXPECT_EQ(got.cfa_type, PROFD_CFA_RBP) << where.str();
        EXPECT_EQ(got.cfa_offset, std::stoi(ref.cfa.substr(4))) << where.str();
      } else {
        EXPECT_EQ(got.cfa_type, PROFD_CFA_NONE) << where.str();
        ++result->none_rows;
        continue;
      }
      // readelf prints "u" both for "no rule yet" and for DW_CFA_undefined.
      if (ref.rbp.empty() || ref.rbp == "s" || (ref.rbp == "u" && !rbp_ever_undefined)) {
        EXPECT_EQ(got.rbp_type, PROFD_RBP_UNCHANGED) << where.str();
      } else if (ref.rbp == "u") {
        EXPECT_TRUE(got.rbp_type == PROFD_RBP_UNCHANGED || got.rbp_type == PROFD_RBP_UNDEFINED)
            << where.str();
      } else if (ref.rbp.starts_with("c")) {
        EXPECT_EQ(got.rbp_type, PROFD_RBP_AT_CFA) << where.str();
        EXPECT_EQ(got.rbp_offset, std::stoi(ref.rbp.substr(1))) << where.str();
      } else {
        EXPECT_EQ(got.rbp_type, PROFD_RBP_UNDEFINED) << where.str();
      }
    }
    // Where coverage ends, the table must say NONE.
    if (!In(covered, fde.end)) {
      EXPECT_EQ(Lookup(rows, fde.end).cfa_type, PROFD_CFA_NONE)
          << path << ": gap after FDE ending at 0x" << std::hex << fde.end;
    }
  }
  // And nothing outside the FDEs may have a rule.
  for (const profd_unwind_row& row : rows) {
    if (row.cfa_type != PROFD_CFA_NONE) {
      EXPECT_TRUE(In(covered, row.pc))
          << path << ": rule outside every FDE at 0x" << std::hex << row.pc;
    }
  }
}

CheckResult BuildAndCheck(const std::string& path, UnwindTableStats* stats,
                          std::vector<profd_unwind_row>* rows) {
  CheckResult result;
  std::string error;
  EXPECT_TRUE(BuildUnwindTable(path, rows, stats, &error)) << error;
  if (rows->empty()) return result;
  CheckAgainstReadelf(path, *rows, *stats, &result);
  EXPECT_GT(result.rows_checked, 5u) << path;
  EXPECT_EQ(stats->rows, rows->size());
  return result;
}

class FixtureAgreement : public testing::TestWithParam<const char*> {};

TEST_P(FixtureAgreement, EveryReadelfRowMatches) {
  std::string name = GetParam();
  std::string path = kFixtures + "/" + name;
  UnwindTableStats stats;
  std::vector<profd_unwind_row> rows;
  CheckResult result = BuildAndCheck(path, &stats, &rows);
  std::printf("%s: %s, %lu FDEs, %lu rows, %lu checked, %lu unsupported\n", name.c_str(),
              stats.source.c_str(), stats.fdes, stats.rows, result.rows_checked,
              stats.unsupported_rows);
  if (name.starts_with("unwfix_debug_frame")) {
    EXPECT_EQ(stats.source, ".eh_frame+.debug_frame");
  } else {
    EXPECT_EQ(stats.source, ".eh_frame");
  }
  if (name.find("nopie") != std::string::npos || name == "unwfix_nofp_pie") {
    EXPECT_GT(result.plt_rows, 0u) << "the lazy .plt's CFA expression";
  }
  EXPECT_EQ(stats.unsupported_rows, stats.plt_threshold_rows);
  if (name == "unwfix_ibt_plt") {
    EXPECT_EQ(result.plt_rows, 0u);
    EXPECT_GT(stats.plt_threshold_rows, 0u);
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, FixtureAgreement,
                         testing::Values("unwfix_nofp_pie", "unwfix_fp_nopie", "unwfix_async",
                                         "unwfix_cxx", "unwfix_debug_frame",
                                         "unwfix_debug_frame_gz", "unwfix_ibt_plt",
                                         "libunwfix_lib.so"));

TEST(UnwindTable, FramePointerCodeUsesRbpBasedCfa) {
  UnwindTableStats stats;
  std::vector<profd_unwind_row> rows;
  std::string error;
  ASSERT_TRUE(BuildUnwindTable(kFixtures + "/unwfix_fp_nopie", &rows, &stats, &error)) << error;
  EXPECT_TRUE(std::any_of(rows.begin(), rows.end(), [](const profd_unwind_row& row) {
    return row.cfa_type == PROFD_CFA_RBP && row.cfa_offset == 16 &&
           row.rbp_type == PROFD_RBP_AT_CFA && row.rbp_offset == -16;
  }));
}

TEST(UnwindTable, StartIsTheOutermostFrame) {
  UnwindTableStats stats;
  std::vector<profd_unwind_row> rows;
  std::string error;
  ASSERT_TRUE(BuildUnwindTable(kFixtures + "/unwfix_nofp_pie", &rows, &stats, &error)) << error;
  std::string start = RunCommand("nm '" + kFixtures + "/unwfix_nofp_pie' | grep ' T _start$'");
  ASSERT_FALSE(start.empty());
  EXPECT_EQ(Lookup(rows, std::stoull(start, nullptr, 16)).cfa_type, PROFD_CFA_END);
}

TEST(UnwindTable, ErrorsSayWhy) {
  UnwindTableStats stats;
  std::vector<profd_unwind_row> rows;
  std::string error;
  EXPECT_FALSE(BuildUnwindTable("/nonexistent/file", &rows, &stats, &error));
  EXPECT_NE(error.find("/nonexistent/file"), std::string::npos) << error;
  EXPECT_FALSE(BuildUnwindTable(std::string(PROFD_UNWIND_FIXTURE_DIR) + "/../CMakeFiles", &rows,
                                &stats, &error));
  EXPECT_FALSE(BuildUnwindTable("/etc/hostname", &rows, &stats, &error));
  EXPECT_NE(error.find("not an ELF"), std::string::npos) << error;
}

TEST(IsGoBinary, TellsGoFromC) {
  EXPECT_FALSE(IsGoBinary(kFixtures + "/unwfix_nofp_pie"));
  EXPECT_FALSE(IsGoBinary(kLibc));
  EXPECT_FALSE(IsGoBinary("/nonexistent/file"));
  if (std::string(PROFD_GO_FIXTURE).empty()) GTEST_SKIP() << "no Go toolchain";
  EXPECT_TRUE(IsGoBinary(PROFD_GO_FIXTURE));
}

TEST(Libc, EveryReadelfRowMatches) {
  UnwindTableStats stats;
  std::vector<profd_unwind_row> rows;
  CheckResult result = BuildAndCheck(kLibc, &stats, &rows);
  std::printf(
      "libc: %lu FDEs, %lu rows, %lu readelf rows checked (%lu PLT, %lu signal, %lu end, %lu "
      "none), "
      "%lu overlapping skipped; unsupported %lu (cfa-reg %lu, cfa-expr %lu, ra %lu, plt %lu)\n",
      stats.fdes, stats.rows, result.rows_checked, result.plt_rows, result.signal_rows,
      result.end_rows, result.none_rows, result.overlapping_pcs_skipped, stats.unsupported_rows,
      stats.cfa_other_register_rows, stats.cfa_expression_rows, stats.ra_rule_rows,
      stats.plt_threshold_rows);
  EXPECT_GT(stats.fdes, 3000u);
  EXPECT_GT(result.plt_rows, 0u);
  EXPECT_GT(result.signal_rows, 0u) << "__restore_rt";
  EXPECT_GT(result.end_rows, 0u) << "clone3's child, _start";
}

}  // namespace
}  // namespace profd

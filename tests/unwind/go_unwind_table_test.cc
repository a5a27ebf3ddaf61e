// BuildGoUnwindTable against `go tool objdump`: the SP delta at every instruction, simulated from
// the disassembly (SUBQ/ADDQ on SP, PUSHQ/POPQ, the frame coming back after a RET, the morestack
// call at delta 0), and where the prologue saved rbp, must be what the rows say.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "gopclntab.h"
#include "unwind_table.h"
#include "run_command.h"

namespace profd {
namespace {

const std::string kGoFixture = PROFD_GO_FIXTURE;
const std::string kGoStripped = PROFD_GO_FIXTURE_STRIPPED;
const std::string kGo = PROFD_GO_EXECUTABLE;

struct Instruction {
  uint64_t pc = 0;
  std::string bytes;  // hex
  std::string text;
};

struct Function {
  std::string name;
  std::string file;
  std::vector<Instruction> code;
};

std::vector<Function> Disassemble(const std::string& path) {
  std::istringstream in(RunCommand(kGo + " tool objdump '" + path + "' 2>/dev/null"));
  static const std::regex kText(R"(^TEXT (.+)\(SB\) ?(\S*)$)");
  static const std::regex kLine(R"(^\s+\S*:\d+\s+0x([0-9a-f]+)\s+([0-9a-f]+)\s+(.*?)\s*$)");
  std::vector<Function> out;
  std::string line;
  std::smatch m;
  while (std::getline(in, line)) {
    if (std::regex_search(line, m, kText)) {
      out.push_back({m[1], m[2], {}});
    } else if (!out.empty() && std::regex_search(line, m, kLine)) {
      out.back().code.push_back({std::stoull(m[1], nullptr, 16), m[2], m[3]});
    }
  }
  return out;
}

// What the oracle expects at one pc.
struct Expected {
  int64_t delta = 0;
  bool rbp_saved = false;
};

// Simulates SP through the function; false when it writes SP some other way (SPWRITE).
bool Simulate(const Function& f, std::map<uint64_t, Expected>* out) {
  static const std::regex kSub(R"(^SUBQ \$(-?0x[0-9a-f]+), SP$)");
  static const std::regex kAdd(R"(^ADDQ \$(-?0x[0-9a-f]+), SP$)");
  static const std::regex kSaveBp(R"(^MOVQ BP, 0x([0-9a-f]+)\(SP\)$)");
  static const std::regex kWritesSp(R"(, SP$)");
  static const std::regex kJcc(R"(^JBE 0x([0-9a-f]+)$)");
  static const std::regex kStackCheck(R"(^CMPQ 0x1[08]\(R14\), (SP|R12)$)");
  uint64_t morestack = UINT64_MAX;
  int64_t delta = 0, frame = 0;
  bool saved = false;  // the caller's rbp is in the frame (once saved, for as long as it exists)
  std::smatch m;
  for (size_t i = 0; i < f.code.size(); i++) {
    const Instruction& ins = f.code[i];
    if (ins.pc == morestack) delta = 0;
    (*out)[ins.pc] = {delta, saved && delta > 0};
    const std::string& t = ins.text;
    // The stack check: a compare with g.stackguard0 or 1 (0x10/0x18(R14)) then a branch to the
    // morestack call at the end of the function.
    if (i > 0 && morestack == UINT64_MAX && std::regex_search(f.code[i - 1].text, kStackCheck) &&
        std::regex_search(t, m, kJcc)) {
      morestack = std::stoull(m[1], nullptr, 16);
    }
    if (std::regex_search(t, m, kSub)) {
      delta += std::stoll(m[1], nullptr, 16);
    } else if (std::regex_search(t, m, kAdd)) {
      delta -= std::stoll(m[1], nullptr, 16);
    } else if (t.starts_with("PUSHQ") || t == "PUSHFQ") {
      if (t == "PUSHQ BP" && delta == 0) saved = true;
      delta += 8;
    } else if (t.starts_with("POPQ") || t == "POPFQ") {
      delta -= 8;
    } else if (std::regex_search(t, m, kSaveBp)) {
      if (!saved && std::stoll(m[1], nullptr, 16) == delta - 8) saved = true;
    } else if (std::regex_search(t, kWritesSp) && !t.starts_with("CMPQ")) {
      return false;
    } else if (t == "RET" || (t.starts_with("JMP") && delta == 0 && frame > 0)) {
      delta = frame;  // code after an epilogue has the frame again
    }
    frame = std::max(frame, delta);
  }
  return true;
}

bool SameRuleForTest(const profd_unwind_row& a, const profd_unwind_row& b) {
  return a.cfa_type == b.cfa_type && a.cfa_offset == b.cfa_offset && a.rbp_type == b.rbp_type &&
         a.rbp_offset == b.rbp_offset;
}

const profd_unwind_row* RowOf(const std::vector<profd_unwind_row>& rows, uint64_t pc) {
  auto it = std::upper_bound(rows.begin(), rows.end(), pc,
                             [](uint64_t p, const profd_unwind_row& r) { return p < r.pc; });
  return it == rows.begin() ? nullptr : &*(it - 1);
}

void CheckAgainstObjdump(const std::string& path, bool has_file_names = true) {
  std::vector<profd_unwind_row> rows;
  UnwindTableStats stats;
  std::string error;
  ASSERT_TRUE(BuildGoUnwindTable(path, &rows, &stats, &error)) << error;
  ASSERT_TRUE(std::is_sorted(rows.begin(), rows.end(),
                             [](const auto& a, const auto& b) { return a.pc < b.pc; }));
  const std::vector<Function> functions = Disassemble(path);
  ASSERT_GT(functions.size(), 1000u);
  int checked_go = 0, checked_asm = 0, framed = 0, frameless = 0, spwrite = 0, top = 0, vex = 0;
  int mismatches = 0;
  for (const Function& f : functions) {
    if (f.code.empty()) continue;
    const profd_unwind_row* entry_row = RowOf(rows, f.code[0].pc);
    ASSERT_NE(entry_row, nullptr) << f.name;
    if (f.name == "runtime.goexit.abi0" || f.name == "runtime.mstart.abi0" ||
        f.name == "runtime.rt0_go.abi0") {
      EXPECT_EQ(entry_row->cfa_type, PROFD_CFA_END) << f.name;
      top++;
      continue;
    }
    if (f.name.starts_with("runtime.sigreturn")) {
      EXPECT_EQ(RowOf(rows, f.code[0].pc - 1)->cfa_type, PROFD_CFA_SIGNAL) << f.name;
      continue;
    }
    // objdump decodes VEX instructions wrongly (and loses its place after them): no oracle there.
    if ((f.file.ends_with(".s") || !has_file_names) &&
        std::any_of(f.code.begin(), f.code.end(), [](const Instruction& ins) {
          return ins.bytes.starts_with("c4") || ins.bytes.starts_with("c5");
        })) {
      vex++;
      continue;
    }
    std::map<uint64_t, Expected> expected;
    if (!Simulate(f, &expected)) {
      // It writes SP itself: pcsp cannot be trusted there, the BPF falls back.
      for (const Instruction& ins : f.code) {
        const profd_unwind_row* row = RowOf(rows, ins.pc);
        ASSERT_NE(row, nullptr);
        EXPECT_TRUE(row->cfa_type == PROFD_CFA_NONE || row->cfa_type == PROFD_CFA_END)
            << f.name << " at 0x" << std::hex << ins.pc;
      }
      spwrite++;
      continue;
    }
    const bool assembly = f.file.ends_with(".s");
    (assembly ? checked_asm : checked_go)++;
    bool has_frame = false;
    for (const auto& [pc, want] : expected) {
      const profd_unwind_row* row = RowOf(rows, pc);
      ASSERT_NE(row, nullptr);
      has_frame |= want.delta > 0;
      const uint8_t want_rbp = want.rbp_saved ? PROFD_RBP_AT_CFA : PROFD_RBP_UNCHANGED;
      if (row->cfa_type != PROFD_CFA_RSP || row->cfa_offset != want.delta + 8 ||
          row->rbp_type != want_rbp || (want.rbp_saved && row->rbp_offset != -16)) {
        if (++mismatches < 20) {
          ADD_FAILURE() << f.name << " (" << f.file << ") at 0x" << std::hex << pc << std::dec
                        << ": want rsp+" << want.delta + 8 << " rbp " << int(want_rbp)
                        << ", have type " << int(row->cfa_type) << " rsp+" << row->cfa_offset
                        << " rbp " << int(row->rbp_type) << "/" << row->rbp_offset;
        }
      }
    }
    (has_frame ? framed : frameless)++;
  }
  EXPECT_EQ(mismatches, 0);
  EXPECT_EQ(top, 3);
  EXPECT_GT(checked_go, 1000);
  if (has_file_names) {
    EXPECT_GT(checked_asm, 50);
  }
  EXPECT_GT(frameless, 100);
  EXPECT_GT(spwrite, 5);
  EXPECT_EQ(stats.bad_entries, 0u);
  std::printf(
      "%s: %zu rows, %lu functions; checked %d compiled and %d assembly functions (%d with "
      "a frame, %d frameless), %d that write SP, %d skipped (VEX)\n",
      path.c_str(), rows.size(), static_cast<unsigned long>(stats.fdes), checked_go, checked_asm,
      framed, frameless, spwrite, vex);
}

TEST(GoUnwindTable, EveryInstructionMatchesObjdump) {
  if (kGoFixture.empty()) GTEST_SKIP() << "no Go toolchain";
  CheckAgainstObjdump(kGoFixture);
}

// -ldflags=-s -w: no symbols, no DWARF; .gopclntab stays.
TEST(GoUnwindTable, StrippedBinaryHasTheSameRows) {
  if (kGoFixture.empty()) GTEST_SKIP() << "no Go toolchain";
  std::vector<profd_unwind_row> plain, stripped;
  UnwindTableStats stats;
  std::string error;
  ASSERT_TRUE(BuildGoUnwindTable(kGoFixture, &plain, &stats, &error)) << error;
  ASSERT_TRUE(BuildGoUnwindTable(kGoStripped, &stripped, &stats, &error)) << error;
  // The linker lays out the same code; only symbol and debug sections differ.
  ASSERT_EQ(plain.size(), stripped.size());
  for (size_t i = 0; i < plain.size(); i++) {
    ASSERT_EQ(std::memcmp(&plain[i], &stripped[i], sizeof(profd_unwind_row)), 0) << i;
  }
  EXPECT_TRUE(BuildTableFor(kGoStripped, &stripped, &stats, &error)) << error;
  EXPECT_EQ(stats.source, ".gopclntab");
}

// cgo: where .gopclntab has no pcsp (C code), the file's own CFI rows are used, unchanged.
TEST(GoUnwindTable, CgoCodeKeepsItsCfiRows) {
  const std::string path = PROFD_GO_CGO_FIXTURE;
  if (path.empty()) GTEST_SKIP() << "no Go toolchain";
  std::vector<profd_unwind_row> go_rows, cfi_rows;
  UnwindTableStats stats, cfi_stats;
  std::string error;
  ASSERT_TRUE(BuildGoUnwindTable(path, &go_rows, &stats, &error)) << error;
  EXPECT_NE(stats.source.find(".eh_frame"), std::string::npos) << stats.source;
  ASSERT_TRUE(BuildUnwindTable(path, &cfi_rows, &cfi_stats, &error)) << error;
  gopclntab::Table table;
  ASSERT_TRUE(table.Open(path, false, &error)) << error;
  auto in_go_code = [&](uint64_t pc) {
    gopclntab::Func f;
    return table.FindFunc(pc, &f) && f.pcsp != 0;
  };
  // Every CFI row outside Go code is the Go table's rule there, over the same pcs.
  int compared = 0;
  for (size_t i = 0; i + 1 < cfi_rows.size(); i++) {
    const profd_unwind_row& want = cfi_rows[i];
    if (want.cfa_type == PROFD_CFA_NONE) continue;
    for (uint64_t pc = want.pc; pc < cfi_rows[i + 1].pc; pc++) {
      if (in_go_code(pc)) continue;
      const profd_unwind_row* have = RowOf(go_rows, pc);
      ASSERT_NE(have, nullptr);
      EXPECT_TRUE(SameRuleForTest(*have, want)) << "0x" << std::hex << pc;
      compared++;
    }
  }
  EXPECT_GT(compared, 100);
  // The fixture's C function and cgo's C wrapper of it, by their symbols (c_work is inlined).
  const std::string nm =
      RunCommand("nm '" + path + "' | grep -E ' T (c_entry|_cgo_[0-9a-f]+_Cfunc_c_entry)$'");
  std::istringstream in(nm);
  std::string address, type, name;
  int found = 0;
  while (in >> address >> type >> name) {
    const profd_unwind_row* row = RowOf(go_rows, std::stoull(address, nullptr, 16));
    ASSERT_NE(row, nullptr) << name;
    EXPECT_EQ(row->cfa_type, PROFD_CFA_RSP) << name;
    found++;
  }
  EXPECT_EQ(found, 2) << nm;
}

// -buildmode=pie: the table is in RELRO data (.data.rel.ro.gopclntab); objdump prints no file names
// there.
TEST(GoUnwindTable, PieBinaryMatchesObjdump) {
  const std::string pie = PROFD_GO_PIE_FIXTURE;
  if (pie.empty()) GTEST_SKIP() << "no Go toolchain";
  ASSERT_TRUE(IsGoBinary(pie));
  CheckAgainstObjdump(pie, /*has_file_names=*/false);
  gopclntab::Table table;
  std::string error;
  ASSERT_TRUE(table.Open(pie, false, &error)) << error;
  EXPECT_TRUE(table.has_inline_data());
}

TEST(GoUnwindTable, NotGo) {
  std::vector<profd_unwind_row> rows;
  UnwindTableStats stats;
  std::string error;
  EXPECT_FALSE(BuildGoUnwindTable("/lib/x86_64-linux-gnu/libc.so.6", &rows, &stats, &error));
  EXPECT_NE(error.find("no .gopclntab"), std::string::npos) << error;
  EXPECT_FALSE(BuildGoUnwindTable("/nonexistent", &rows, &stats, &error));
}

}  // namespace
}  // namespace profd

// BuildGoUnwindTable: unwind rows from a Go binary's .gopclntab (the pcsp table of each function),
// as Go's own traceback unwinds.
#include <cstdint>
#include <cstring>
#include <string_view>

#include "compact_rows.h"
#include "gopclntab.h"
#include "unwind_table.h"

namespace profd {
namespace {

using gopclntab::Func;
using gopclntab::PcRun;
using gopclntab::Table;

profd_unwind_row Row(uint64_t pc, uint8_t cfa_type, int32_t cfa_offset, uint8_t rbp_type) {
  profd_unwind_row row{};
  row.pc = pc;
  row.cfa_type = cfa_type;
  row.cfa_offset = cfa_offset;
  row.rbp_type = rbp_type;
  if (rbp_type == PROFD_RBP_AT_CFA) row.rbp_offset = -16;
  NormalizeRow(&row);
  return row;
}

// Where a function has saved its caller's rbp, given the first run with a frame (SP delta `delta`
// from `start`): Go's amd64 prologue is `SUBQ $delta, SP; MOVQ BP, delta-8(SP); LEAQ delta-8(SP),
// BP`, hand-written assembly may `PUSHQ BP`. Both leave it at CFA-16 from the returned pc on. 0:
// this function keeps no frame pointer (rbp is the caller's throughout).
uint64_t RbpSavedFrom(const Table& table, uint64_t start, int32_t delta) {
  const std::span<const uint8_t> movq = table.Text(start, 8);
  if (movq.size() == 8 && movq[0] == 0x48 && movq[1] == 0x89 && movq[3] == 0x24) {
    if (movq[2] == 0x6c && static_cast<int8_t>(movq[4]) == delta - 8) return start + 5;
    int32_t disp32;
    std::memcpy(&disp32, movq.data() + 4, 4);
    if (movq[2] == 0xac && disp32 == delta - 8) return start + 8;
  }
  const std::span<const uint8_t> push = table.Text(start - 1, 1);
  if (delta == 8 && push.size() == 1 && push[0] == 0x55) return start;
  return 0;
}

bool IsTopFrame(const Func& func) {
  // sigtramp is a TOPFRAME for Go's traceback, but the interrupted code is above its caller,
  // sigreturn (see below), so it is unwound like any other function.
  if (func.name == "runtime.sigtramp" || func.name == "runtime.cgoSigtramp") return false;
  // Go 1.16 has no flags; these are its outermost frames.
  return (func.flag & gopclntab::kFlagTopFrame) || func.name == "runtime.goexit" ||
         func.name == "runtime.rt0_go" || func.name == "runtime.mstart";
}

// The signal restorer Go installs (sa_restorer): its "caller" is the interrupted code, whose
// registers the kernel saved in the ucontext at rsp, as for glibc's __restore_rt.
bool IsSignalReturn(const Func& func) {
  return func.name == "runtime.sigreturn" || func.name == "runtime.sigreturn__sigaction";
}

}  // namespace

bool BuildGoUnwindTable(const std::string& path, std::vector<profd_unwind_row>* rows,
                        UnwindTableStats* stats, std::string* error) {
  rows->clear();
  *stats = {};
  Table table;
  if (!table.Open(path, /*keep_text=*/true, error)) return false;
  stats->source = ".gopclntab";
  std::vector<FdeRows> fdes;
  fdes.reserve(table.func_count() + 1);
  for (uint32_t i = 0; i < table.func_count(); i++) {
    Func func;
    std::string func_error;
    if (!table.FuncAt(i, &func, &func_error)) {
      ++stats->bad_entries;
      continue;
    }
    ++stats->fdes;
    if (func.entry >= func.end) continue;  // an empty function (or a duplicate entry)
    FdeRows fde;
    fde.start = func.entry;
    if (IsTopFrame(func)) {
      ++stats->go_top_frames;
      fde.end = func.end;
      fde.rows.push_back(Row(func.entry, PROFD_CFA_END, 0, PROFD_RBP_UNCHANGED));
      fdes.push_back(std::move(fde));
      continue;
    }
    if (IsSignalReturn(func)) {
      // From entry-1: a return address is looked up one byte before it. That byte is padding
      // after the previous function, and going first this entry owns it.
      ++stats->go_signal_frames;
      fde.start = func.entry - 1;
      fde.end = func.end;
      fde.rows.push_back(Row(fde.start, PROFD_CFA_SIGNAL, 0, PROFD_RBP_UNCHANGED));
      fdes.insert(fdes.begin(), std::move(fde));
      continue;
    }
    if (func.flag & gopclntab::kFlagSpWrite) {
      // SP is switched to another stack (morestack, systemstack, gogo, …): pcsp is not to be
      // trusted; the BPF falls back (a leaf: return address at [rsp]; else frame pointers).
      ++stats->go_spwrite_functions;
      ++stats->unsupported_rows;
      fde.end = func.end;
      fde.rows.push_back(Row(func.entry, PROFD_CFA_NONE, 0, PROFD_RBP_UNCHANGED));
      fdes.push_back(std::move(fde));
      continue;
    }
    std::vector<PcRun> runs;
    std::string table_error;
    if (func.pcsp == 0 ||
        !table.DecodePcTable(
            func, func.pcsp, [&](const PcRun& run) { runs.push_back(run); }, &table_error) ||
        runs.empty() || runs.front().start != func.entry) {
      ++stats->bad_entries;  // left uncovered: a NONE row
      continue;
    }
    uint64_t rbp_saved = 0;  // 0: never
    for (const PcRun& run : runs) {
      if (run.value > 0) {
        rbp_saved = RbpSavedFrom(table, run.start, run.value);
        break;
      }
    }
    if (rbp_saved) ++stats->go_frame_pointer_functions;
    for (const PcRun& run : runs) {
      if (run.value < 0 || run.value > INT32_MAX - 8 || run.value % 8 != 0) {
        ++stats->unsupported_rows;
        fde.rows.push_back(Row(run.start, PROFD_CFA_NONE, 0, PROFD_RBP_UNCHANGED));
        continue;
      }
      const int32_t cfa = run.value + 8;
      // Only with a frame is the caller's rbp in it; in the prologue, before the save, it is
      // still in the register.
      if (run.value == 0 || rbp_saved == 0 || run.end <= rbp_saved) {
        fde.rows.push_back(Row(run.start, PROFD_CFA_RSP, cfa, PROFD_RBP_UNCHANGED));
      } else if (run.start >= rbp_saved) {
        fde.rows.push_back(Row(run.start, PROFD_CFA_RSP, cfa, PROFD_RBP_AT_CFA));
      } else {
        fde.rows.push_back(Row(run.start, PROFD_CFA_RSP, cfa, PROFD_RBP_UNCHANGED));
        fde.rows.push_back(Row(rbp_saved, PROFD_CFA_RSP, cfa, PROFD_RBP_AT_CFA));
      }
    }
    fde.end = runs.back().end;  // the padding after the last instruction is a gap
    fdes.push_back(std::move(fde));
  }
  if (fdes.empty()) {
    *error = path + ": .gopclntab describes no function";
    return false;
  }
  // cgo binaries carry C code (the cgo runtime, C libraries linked in) that .gopclntab lists
  // without pcsp; gcc's .eh_frame describes it. Go's rows come first, so they keep the Go code.
  std::vector<profd_unwind_row> cfi_rows;
  UnwindTableStats cfi_stats;
  std::string cfi_error;
  if (BuildUnwindTable(path, &cfi_rows, &cfi_stats, &cfi_error)) {
    for (size_t i = 0; i < cfi_rows.size(); i++) {
      if (cfi_rows[i].cfa_type == PROFD_CFA_NONE) continue;
      FdeRows fde;  // a stretch of covered pcs, up to the next NONE row
      fde.start = cfi_rows[i].pc;
      for (; i < cfi_rows.size() && cfi_rows[i].cfa_type != PROFD_CFA_NONE; i++)
        fde.rows.push_back(cfi_rows[i]);
      if (i == cfi_rows.size()) break;  // no end known: the last row runs on
      fde.end = cfi_rows[i].pc;
      fdes.push_back(std::move(fde));
    }
    stats->source += "+" + cfi_stats.source;
    stats->go_cfi_fdes = cfi_stats.fdes;
  }
  CompactStats compact;
  *rows = CompactRows(fdes, &compact);
  stats->rows = rows->size();
  stats->fdes_overlapping = compact.fdes_dropped + compact.fdes_clipped;
  return true;
}

}  // namespace profd

// Builds the unwind tables of the given ELF files and reports time, size and what was unsupported.
//   profd_unwind_bench [--repeat N] [--dump] [--top N] [--libdw] FILE...
// --libdw also times walking the same ranges with libdw's dwarf_cfi_addrframe, for comparison.
// Each file is built once however many paths name it (symlinks: the daemon caches by dev/inode).
// Non-ELF files (linker scripts, dangling links) are skipped and counted. Every table is kept in
// memory until the end, as the daemon would hold them before loading, so peak RSS includes them.
#include <elfutils/libdw.h>
#include <fcntl.h>
#include <gelf.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "unwind_table.h"

namespace {

const char* CfaName(uint8_t type) {
  switch (type) {
    case PROFD_CFA_NONE:
      return "none";
    case PROFD_CFA_RSP:
      return "rsp";
    case PROFD_CFA_RBP:
      return "rbp";
    case PROFD_CFA_PLT:
      return "plt";
    case PROFD_CFA_SIGNAL:
      return "signal";
    case PROFD_CFA_END:
      return "end";
  }
  return "?";
}

const char* RbpName(uint8_t type) {
  switch (type) {
    case PROFD_RBP_UNCHANGED:
      return "same";
    case PROFD_RBP_AT_CFA:
      return "at-cfa";
    case PROFD_RBP_UNDEFINED:
      return "undef";
  }
  return "?";
}

// The libdw alternative, for comparison: every row of every covered range found by
// dwarf_cfi_addrframe, one call per row (each call re-runs the FDE's program from its start).
// Returns the rows visited; the covered ranges come from our own table.
uint64_t WalkWithLibdw(const std::string& path, const std::vector<profd_unwind_row>& table) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  elf_version(EV_CURRENT);
  Elf* elf = elf_begin(fd, ELF_C_READ_MMAP, nullptr);
  Dwarf_CFI* cfi = elf != nullptr ? dwarf_getcfi_elf(elf) : nullptr;
  uint64_t visited = 0;
  for (size_t i = 0; cfi != nullptr && i + 1 < table.size(); ++i) {
    if (table[i].cfa_type == PROFD_CFA_NONE) continue;
    uint64_t end = table[i + 1].pc;
    for (uint64_t pc = table[i].pc; pc < end;) {
      Dwarf_Frame* frame = nullptr;
      if (dwarf_cfi_addrframe(cfi, pc, &frame) != 0) break;
      Dwarf_Addr start = 0, next = 0;
      bool signal = false;
      dwarf_frame_info(frame, &start, &next, &signal);
      Dwarf_Op* ops;
      size_t nops;
      Dwarf_Op mem[3];
      dwarf_frame_cfa(frame, &ops, &nops);
      dwarf_frame_register(frame, 6, mem, &ops, &nops);
      dwarf_frame_register(frame, 16, mem, &ops, &nops);
      free(frame);
      ++visited;
      if (next <= pc) break;
      pc = next;
    }
  }
  if (cfi != nullptr) dwarf_cfi_end(cfi);
  if (elf != nullptr) elf_end(elf);
  close(fd);
  return visited;
}

}  // namespace

int main(int argc, char** argv) {
  int repeat = 1;
  bool dump = false;
  bool libdw = false;
  size_t top = 0;
  std::vector<std::string> paths;
  uint64_t duplicates = 0;
  std::set<std::pair<dev_t, ino_t>> seen;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--repeat") == 0 && i + 1 < argc) {
      repeat = std::max(1, std::atoi(argv[++i]));
    } else if (std::strcmp(argv[i], "--dump") == 0) {
      dump = true;
    } else if (std::strcmp(argv[i], "--libdw") == 0) {
      libdw = true;
    } else if (std::strcmp(argv[i], "--top") == 0 && i + 1 < argc) {
      top = std::atoi(argv[++i]);
    } else {
      struct stat st;
      if (stat(argv[i], &st) == 0 && !seen.emplace(st.st_dev, st.st_ino).second) {
        ++duplicates;
        continue;
      }
      paths.emplace_back(argv[i]);
    }
  }
  if (paths.empty()) {
    std::fprintf(stderr, "usage: %s [--repeat N] [--dump] FILE...\n", argv[0]);
    return 2;
  }

  std::vector<std::vector<profd_unwind_row>> tables(paths.size());
  profd::UnwindTableStats total;
  uint64_t ok = 0, failed = 0;
  std::vector<double> pass_ms;
  for (int pass = 0; pass < repeat; ++pass) {
    auto start = std::chrono::steady_clock::now();
    for (size_t i = 0; i < paths.size(); ++i) {
      profd::UnwindTableStats stats;
      std::string error;
      bool built = profd::BuildUnwindTable(paths[i], &tables[i], &stats, &error);
      if (pass != 0) continue;
      if (!built) {
        ++failed;
        if (paths.size() < 20) std::fprintf(stderr, "skipped: %s\n", error.c_str());
        continue;
      }
      ++ok;
      total.fdes += stats.fdes;
      total.rows += stats.rows;
      total.unsupported_rows += stats.unsupported_rows;
      total.cfa_other_register_rows += stats.cfa_other_register_rows;
      total.cfa_expression_rows += stats.cfa_expression_rows;
      total.ra_rule_rows += stats.ra_rule_rows;
      total.plt_threshold_rows += stats.plt_threshold_rows;
      total.rbp_rule_unexpressible += stats.rbp_rule_unexpressible;
      total.bad_entries += stats.bad_entries;
      total.fdes_outside_code += stats.fdes_outside_code;
      total.fdes_overlapping += stats.fdes_overlapping;
      if (stats.unsupported_rows > 0 && paths.size() > 1) {
        std::printf(
            "  %-60s unsupported %lu (cfa-reg %lu, cfa-expr %lu, ra %lu, plt-threshold %lu)\n",
            paths[i].c_str(), stats.unsupported_rows, stats.cfa_other_register_rows,
            stats.cfa_expression_rows, stats.ra_rule_rows, stats.plt_threshold_rows);
      }
    }
    pass_ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
            .count());
  }
  if (dump) {
    for (size_t i = 0; i < paths.size(); ++i) {
      for (const profd_unwind_row& row : tables[i]) {
        std::printf("%016llx %-6s %6d %-6s %4d\n", static_cast<unsigned long long>(row.pc),
                    CfaName(row.cfa_type), row.cfa_offset, RbpName(row.rbp_type), row.rbp_offset);
      }
    }
  }
  if (libdw) {
    auto start = std::chrono::steady_clock::now();
    uint64_t visited = 0;
    for (size_t i = 0; i < paths.size(); ++i) visited += WalkWithLibdw(paths[i], tables[i]);
    std::printf(
        "libdw dwarf_cfi_addrframe walk: %.2f ms, %lu rows visited\n",
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count(),
        visited);
  }
  if (top > 0) {
    std::vector<size_t> order(paths.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(),
              [&](size_t a, size_t b) { return tables[a].size() > tables[b].size(); });
    for (size_t i = 0; i < std::min(top, order.size()); ++i) {
      std::printf("  %-60s %9zu rows %7.2f MiB\n", paths[order[i]].c_str(), tables[order[i]].size(),
                  tables[order[i]].size() * sizeof(profd_unwind_row) / 1048576.0);
    }
  }
  std::vector<double> sorted = pass_ms;
  std::sort(sorted.begin(), sorted.end());
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  std::printf(
      "files %lu built, %lu skipped (not ELF or no CFI), %lu duplicate paths\n"
      "wall per pass: min %.2f ms, median %.2f ms, first %.2f ms (%d passes)\n"
      "fdes %lu, rows %lu, table bytes %lu (%.2f MiB)\n"
      "unsupported rows %lu: cfa-register %lu, cfa-expression %lu, ra-rule %lu, plt-threshold %lu\n"
      "rbp rules emitted as undefined %lu, bad CIE/FDE entries %lu, FDEs outside code %lu, "
      "overlapping FDEs %lu\n"
      "peak RSS %.1f MiB\n",
      ok, failed, duplicates, sorted.front(), sorted[sorted.size() / 2], pass_ms.front(), repeat,
      total.fdes, total.rows, total.rows * sizeof(profd_unwind_row),
      total.rows * sizeof(profd_unwind_row) / 1048576.0, total.unsupported_rows,
      total.cfa_other_register_rows, total.cfa_expression_rows, total.ra_rule_rows,
      total.plt_threshold_rows, total.rbp_rule_unexpressible, total.bad_entries,
      total.fdes_outside_code, total.fdes_overlapping, usage.ru_maxrss / 1024.0);
  return 0;
}

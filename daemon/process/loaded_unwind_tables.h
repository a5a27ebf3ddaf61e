// The unwind tables in the kernel, and which processes use them. Tables are built once per file (by
// device and inode), shared by every process mapping it, loaded when a process is first added, and
// evicted when no process maps the file any more.
#ifndef PROFD_DAEMON_PROCESS_LOADED_UNWIND_TABLES_H
#define PROFD_DAEMON_PROCESS_LOADED_UNWIND_TABLES_H

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "process/process_table.h"

namespace profd {

// What the unwind tables must learn of one process (ProcessTracker says).
struct UnwindTableChange {
  pid_t pid;
  std::optional<ProcessInfo> process;  // its mappings to add; none: it is gone, its tables go
};
using UnwindTableChanges = std::vector<UnwindTableChange>;

class LoadedUnwindTables {
 public:
  // The `unwind_tables` (hash of maps) and `process_unwind` maps of a loaded BPF object, and its
  // `python_processes` map where it walks Python frames (-1: it does not).
  LoadedUnwindTables(int tables_map_fd, int processes_map_fd, int python_map_fd = -1);

  // Applies `changes` in order. For a process to add (called again after its mappings changed):
  // the tables of its executable mappings not loaded yet go in, and then its mappings are published
  // to the unwinder. Mappings without a table (Go binaries, anonymous code, files without CFI) are
  // walked with frame pointers; a CPython process also gets its runtime published for the Python
  // frame walk. For a process gone: it is forgotten, and tables no other process uses are evicted.
  // The new tables of all the changes go into the kernel in one batch, and the evicted ones leave
  // in one: every update of a map of maps waits for an RCU grace period (5-20 ms on these
  // machines), and one process maps five to fifty files.
  void Apply(std::span<const UnwindTableChange> changes);
  void Apply(const UnwindTableChange& change) { Apply(std::span(&change, 1)); }
  // Forgets every process, and so evicts every table.
  void RemoveAll();

  struct Stats {
    uint64_t tables_loaded = 0;
    uint64_t go_tables_loaded = 0;  // of which built from .gopclntab
    uint64_t tables_evicted = 0;
    uint64_t files_without_table = 0;  // no CFI (frame pointers)
    uint64_t rows_loaded = 0;          // rows now in the kernel
    uint64_t rows_built = 0;           // rows of every table built (evicted ones too)
    uint64_t mappings_dropped = 0;     // beyond PROFD_MAX_UNWIND_MAPPINGS in one process
    uint64_t python_processes = 0;     // CPython processes whose Python frames are walked
    double build_seconds = 0;
  };
  const Stats& stats() const { return stats_; }

 private:
  using FileKey = std::pair<uint64_t, uint64_t>;  // (dev, inode)
  struct Table {
    uint64_t id = 0;  // 0: no table, frame pointers
    uint32_t rows = 0;
    bool go = false;  // built from .gopclntab
    int users = 0;
  };

  // Takes a reference on the table of each file `process` maps (building the missing ones).
  std::set<FileKey> AcquireFiles(const ProcessInfo& process);
  Table* Acquire(const MappedFile& file);
  void Release(const FileKey& key);
  // Publishes `process`'s mappings, which hold `files`, and drops its previous mappings'
  // references.
  void PublishProcess(const ProcessInfo& process, std::set<FileKey> files);
  void RemoveProcess(pid_t pid);
  // Puts the tables built since the last call into the outer map (a table that cannot go in is
  // walked with frame pointers), and takes the evicted ones out.
  void PublishNewTables();
  void DeleteEvictedTables();

  int tables_fd_;
  int processes_fd_;
  int python_fd_;
  std::set<pid_t> python_pids_;
  uint64_t next_id_ = 1;
  struct NewTable {
    FileKey file;
    std::string path;
    uint64_t id;
    int rows_fd;  // closed once published: the outer map holds the table then
  };
  std::vector<NewTable> new_tables_;
  std::vector<uint64_t> evicted_ids_;
  std::map<FileKey, Table> tables_;
  std::map<pid_t, std::set<FileKey>> process_files_;
  Stats stats_;
};

// The difference between an executable mapping's runtime addresses and its file's ELF virtual
// addresses, from the file's executable PT_LOAD header holding the mapping's file offset (another
// segment only if none is executable); false when no segment holds it.
bool MappingBias(int elf_fd, uint64_t map_start, uint64_t map_offset, uint64_t* bias);

}  // namespace profd

#endif  // PROFD_DAEMON_PROCESS_LOADED_UNWIND_TABLES_H

#include "process/loaded_unwind_tables.h"

#include <bpf/bpf.h>
#include <gelf.h>
#include <libelf.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <vector>

#include "base/log.h"
#include "process/python_runtime.h"
#include "profd_abi.h"
#include "unwind_table.h"

namespace profd {

bool MappingBias(int elf_fd, uint64_t map_start, uint64_t map_offset, uint64_t* bias) {
  elf_version(EV_CURRENT);
  Elf* elf = elf_begin(elf_fd, ELF_C_READ_MMAP, nullptr);
  if (!elf) return false;
  size_t count = 0;
  // The kernel maps a segment from the page holding its p_offset, so the mapping's first page can
  // also hold the end of the segment before it: lld packs a read-only segment ending at 0x65c and
  // the code segment starting at 0x660 into one page, with vaddr - offset 0 and 0x1000. Mappings
  // here are executable, so the executable segment decides; another one only if none matches.
  bool found = false;
  bool found_executable = false;
  if (elf_getphdrnum(elf, &count) == 0) {
    for (size_t i = 0; i < count && !found_executable; i++) {
      GElf_Phdr phdr;
      if (!gelf_getphdr(elf, static_cast<int>(i), &phdr) || phdr.p_type != PT_LOAD) continue;
      const uint64_t page_offset = phdr.p_offset & ~uint64_t{0xfff};
      if (map_offset < page_offset || map_offset >= phdr.p_offset + phdr.p_filesz) continue;
      if (found && !(phdr.p_flags & PF_X)) continue;
      // runtime(X) = map_start + (X - map_offset); vaddr(X) = p_vaddr + (X - p_offset).
      *bias = map_start - map_offset + phdr.p_offset - phdr.p_vaddr;
      found = true;
      found_executable = (phdr.p_flags & PF_X) != 0;
    }
  }
  elf_end(elf);
  return found;
}

LoadedUnwindTables::LoadedUnwindTables(int tables_map_fd, int processes_map_fd, int python_map_fd)
    : tables_fd_(tables_map_fd), processes_fd_(processes_map_fd), python_fd_(python_map_fd) {}

LoadedUnwindTables::Table* LoadedUnwindTables::Acquire(const MappedFile& file) {
  const FileKey key{file.dev, file.inode};
  auto [it, inserted] = tables_.try_emplace(key);
  Table& table = it->second;
  table.users++;
  if (!inserted) return &table;

  const auto start = std::chrono::steady_clock::now();
  std::vector<profd_unwind_row> rows;
  UnwindTableStats build_stats;
  std::string error;
  const bool built = BuildTableFor(file.open_path(), &rows, &build_stats, &error);
  stats_.build_seconds +=
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!built || rows.empty()) {
    LogDebug("no unwind table for " + file.path + ": " + error + " (frame pointers used)");
    stats_.files_without_table++;
    return &table;
  }

  // Flags as unwind_user.bpf.h's template: an inner map must match it.
  LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_INNER_MAP | BPF_F_MMAPABLE);
  const int rows_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "profd_rows", sizeof(uint32_t),
                                     sizeof(profd_unwind_row), rows.size(), &opts);
  if (rows_fd < 0) {
    LogWarning("cannot create the unwind table of " + file.path + ": " + std::strerror(errno) +
               " (frame pointers used)");
    stats_.files_without_table++;
    return &table;
  }
  // The rows written in place: an array's elements lie in order, 16 bytes apart (a multiple of
  // 8, so unpadded).
  const size_t bytes = rows.size() * sizeof(profd_unwind_row);
  void* memory = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, rows_fd, 0);
  if (memory != MAP_FAILED) {
    std::memcpy(memory, rows.data(), bytes);
    munmap(memory, bytes);
  }
  if (memory == MAP_FAILED) {
    LogWarning("cannot write the unwind table of " + file.path + ": " + std::strerror(errno) +
               " (frame pointers used)");
    ::close(rows_fd);
    stats_.files_without_table++;
    return &table;
  }
  const uint64_t id = next_id_++;
  new_tables_.push_back({key, file.path, id, rows_fd});
  table.id = id;  // until PublishNewTables says otherwise
  table.rows = static_cast<uint32_t>(rows.size());
  table.go = build_stats.source.starts_with(".gopclntab");
  stats_.rows_built += rows.size();
  return &table;
}

void LoadedUnwindTables::PublishNewTables() {
  if (new_tables_.empty()) return;
  const size_t n = new_tables_.size();
  std::vector<uint64_t> ids;
  std::vector<int> fds;
  for (const NewTable& t : new_tables_) {
    ids.push_back(t.id);
    fds.push_back(t.rows_fd);
  }
  // A batch stops at its first failure and says how many went in; the rest go one by one, so one
  // bad table costs only itself.
  LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = BPF_ANY);
  uint32_t count = static_cast<uint32_t>(n);
  if (bpf_map_update_batch(tables_fd_, ids.data(), fds.data(), &count, &opts) == 0) count = n;
  for (size_t i = 0; i < n; i++) {
    const NewTable& t = new_tables_[i];
    const bool published =
        i < count || bpf_map_update_elem(tables_fd_, &t.id, &t.rows_fd, BPF_ANY) == 0;
    const int saved_errno = errno;
    ::close(t.rows_fd);
    auto it = tables_.find(t.file);
    if (it == tables_.end()) continue;
    Table& table = it->second;
    if (!published) {
      LogWarning("cannot load the unwind table of " + t.path + ": " + std::strerror(saved_errno) +
                 " (frame pointers used)");
      table.id = 0;
      table.rows = 0;
      stats_.files_without_table++;
      continue;
    }
    stats_.tables_loaded++;
    if (table.go) stats_.go_tables_loaded++;
    stats_.rows_loaded += table.rows;
  }
  new_tables_.clear();
}

void LoadedUnwindTables::DeleteEvictedTables() {
  if (evicted_ids_.empty()) return;
  LIBBPF_OPTS(bpf_map_batch_opts, opts);
  uint32_t count = static_cast<uint32_t>(evicted_ids_.size());
  if (bpf_map_delete_batch(tables_fd_, evicted_ids_.data(), &count, &opts) == 0)
    count = evicted_ids_.size();
  for (size_t i = count; i < evicted_ids_.size(); i++)
    bpf_map_delete_elem(tables_fd_, &evicted_ids_[i]);
  evicted_ids_.clear();
}

void LoadedUnwindTables::Release(const FileKey& key) {
  auto it = tables_.find(key);
  if (it == tables_.end() || --it->second.users > 0) return;
  if (it->second.id) {
    evicted_ids_.push_back(it->second.id);
    stats_.rows_loaded -= it->second.rows;
    stats_.tables_evicted++;
  }
  tables_.erase(it);
}

std::set<LoadedUnwindTables::FileKey> LoadedUnwindTables::AcquireFiles(const ProcessInfo& process) {
  // One reference per process and file, however many mappings the file has; only the mappings the
  // unwinder is given count.
  std::set<FileKey> files;
  size_t mappings = 0;
  for (const Mapping& m : process.mappings) {
    if (mappings++ == PROFD_MAX_UNWIND_MAPPINGS) break;
    if (m.file && files.insert({m.file->dev, m.file->inode}).second) Acquire(*m.file);
  }
  return files;
}

void LoadedUnwindTables::PublishProcess(const ProcessInfo& process, std::set<FileKey> files) {
  auto unwind = std::make_unique<profd_process_unwind>();
  std::memset(unwind.get(), 0, sizeof(*unwind));
  for (const Mapping& m : process.mappings) {  // sorted by start, as the BPF search needs
    if (unwind->count == PROFD_MAX_UNWIND_MAPPINGS) {
      stats_.mappings_dropped++;
      continue;
    }
    profd_unwind_mapping& out = unwind->mappings[unwind->count];
    out.start = m.start;
    out.end = m.end;
    if (m.file) {
      auto table = tables_.find({m.file->dev, m.file->inode});  // AcquireFiles took it
      uint64_t bias = 0;
      if (table != tables_.end() && table->second.id &&
          MappingBias(m.file->fd.get(), m.start, m.offset, &bias)) {
        out.bias = bias;
        out.table_id = table->second.id;
        out.row_count = table->second.rows;
      }
    }
    unwind->count++;
  }
  // Process-wide, so two publishers of one map never repeat a generation; 0 is skipped on wrap.
  static std::atomic<uint32_t> next_generation{1};
  do unwind->generation = next_generation.fetch_add(1, std::memory_order_relaxed);
  while (unwind->generation == 0);
  const pid_t pid = process.pid;
  for (const FileKey& key : process_files_[pid]) Release(key);  // the previous mappings' references
  process_files_[pid] = std::move(files);
  const uint32_t key = static_cast<uint32_t>(pid);
  if (bpf_map_update_elem(processes_fd_, &key, unwind.get(), BPF_ANY) != 0)
    LogWarning("cannot publish the mappings of pid " + std::to_string(pid) +
               " to the unwinder: " + std::strerror(errno) + " (frame pointers used)");
  if (python_fd_ < 0) return;
  if (const std::optional<PythonRuntime> python = FindPythonRuntime(process)) {
    if (bpf_map_update_elem(python_fd_, &key, &python->bpf, BPF_ANY) == 0) {
      if (python_pids_.insert(pid).second) stats_.python_processes++;
      LogDebug("pid " + std::to_string(pid) + " runs CPython " + std::to_string(python->major) +
               "." + std::to_string(python->minor) + " (" + python->interpreter + ")");
    } else {
      LogWarning("cannot publish the Python runtime of pid " + std::to_string(pid) + ": " +
                 std::strerror(errno) + " (interpreter frames shown)");
    }
  } else if (python_pids_.erase(pid)) {  // it exec'ed something else
    bpf_map_delete_elem(python_fd_, &key);
  }
}

void LoadedUnwindTables::Apply(std::span<const UnwindTableChange> changes) {
  std::vector<std::set<FileKey>> files(changes.size());
  for (size_t i = 0; i < changes.size(); i++)
    if (changes[i].process) files[i] = AcquireFiles(*changes[i].process);
  PublishNewTables();  // before any process that uses them
  for (size_t i = 0; i < changes.size(); i++) {
    if (changes[i].process)
      PublishProcess(*changes[i].process, std::move(files[i]));
    else
      RemoveProcess(changes[i].pid);
  }
  DeleteEvictedTables();
}

void LoadedUnwindTables::RemoveProcess(pid_t pid) {
  const uint32_t key = static_cast<uint32_t>(pid);
  bpf_map_delete_elem(processes_fd_, &key);
  if (python_fd_ >= 0 && python_pids_.erase(pid)) bpf_map_delete_elem(python_fd_, &key);
  auto it = process_files_.find(pid);
  if (it == process_files_.end()) return;
  for (const FileKey& file : it->second) Release(file);
  process_files_.erase(it);
}

void LoadedUnwindTables::RemoveAll() {
  UnwindTableChanges gone;
  for (const auto& [pid, files] : process_files_) gone.push_back({pid, std::nullopt});
  Apply(gone);
}

}  // namespace profd

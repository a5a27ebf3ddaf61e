#include "collect/thread_dump.h"

#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <sstream>

#include "process/loaded_unwind_tables.h"
#include "process/proc_files.h"
#include "process/python_runtime.h"
#include "unwind_table.h"

namespace profd {
namespace {

constexpr size_t kStackCopyBytes = 64 * 1024;

// /proc/PID/task/TID/stack prints "[<0>] do_nanosleep+0x67/0x190": names and offsets, no addresses.
std::vector<uint64_t> KernelStack(const std::string& text, const KernelSymbolizer& kernel) {
  std::vector<uint64_t> ips;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    const size_t name_at = line.find("] ");
    const size_t plus = line.find('+', name_at);
    if (name_at == std::string::npos || plus == std::string::npos) continue;
    const std::string name = line.substr(name_at + 2, plus - name_at - 2);
    uint64_t address;
    if (kernel.AddressOf(name, &address))
      ips.push_back(address + std::strtoull(line.c_str() + plus + 1, nullptr, 16));
  }
  return ips;
}

struct StoppedThread {
  user_regs_struct regs = {};
  UserStackUnwinder::StackCopy stack;
  std::vector<PythonFrame> python;  // its Python frames, when `python` was given
  double pause_micros = 0;
};

// Stops `tid`, reads its registers, the top of its stack and, in a CPython process (`python`), its
// Python frames, and lets it go.
bool CaptureThread(pid_t pid, pid_t tid, const PythonRuntime* python, StoppedThread* out,
                   std::string* error) {
  if (ptrace(PTRACE_SEIZE, tid, nullptr, nullptr) != 0) {
    *error = std::string("cannot attach with ptrace: ") + std::strerror(errno);
    return false;
  }
  const auto start = std::chrono::steady_clock::now();
  bool ok = false;
  int status = 0;
  if (ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr) == 0 &&
      waitpid(tid, &status, __WALL) == tid &&
      ptrace(PTRACE_GETREGS, tid, nullptr, &out->regs) == 0) {
    out->stack.base = out->regs.rsp;
    out->stack.bytes.resize(kStackCopyBytes);
    iovec local = {out->stack.bytes.data(), kStackCopyBytes};
    iovec remote = {reinterpret_cast<void*>(out->regs.rsp), kStackCopyBytes};
    // A partial read stops at the end of the stack mapping: what was read is what there is.
    const ssize_t n = process_vm_readv(tid, &local, 1, &remote, 1, 0);
    out->stack.bytes.resize(n > 0 ? static_cast<size_t>(n) : 0);
    if (python) out->python = ReadPythonFrames(pid, *python, out->regs.fs_base);
    ok = true;
  } else {
    *error = std::string("cannot stop the thread: ") + std::strerror(errno);
  }
  ptrace(PTRACE_DETACH, tid, nullptr, nullptr);
  out->pause_micros =
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
  return ok;
}

}  // namespace

// Every mapped file's table is built here, before any thread is stopped, as LoadedUnwindTables
// builds them for BPF (libc's takes 2-3 ms; a dump of clang with libLLVM measured 0.5 s either way).
UserStackUnwinder::UserStackUnwinder(const ProcessInfo* process, bool dwarf)
    : process_(process), mappings_(std::make_unique<profd_process_unwind>()) {
  std::memset(mappings_.get(), 0, sizeof(*mappings_));
  std::map<const MappedFile*, std::pair<uint64_t, uint32_t>> tables;  // file → (id, rows); id 0: none
  for (const Mapping& m : process->mappings) {  // sorted by start
    if (mappings_->count == PROFD_MAX_UNWIND_MAPPINGS) break;
    profd_unwind_mapping& out = mappings_->mappings[mappings_->count++];
    out.start = m.start;
    out.end = m.end;
    if (!dwarf || !m.file) continue;
    auto [it, inserted] = tables.try_emplace(m.file.get());
    if (inserted) {
      std::vector<profd_unwind_row> rows;
      UnwindTableStats stats;
      std::string error;
      if (BuildTableFor(m.file->open_path(), &rows, &stats, &error) && !rows.empty()) {
        const auto count = static_cast<uint32_t>(rows.size());
        it->second = {walker_.AddTable(std::move(rows)), count};
      }
    }
    uint64_t bias = 0;
    if (it->second.first && MappingBias(m.file->fd.get(), m.start, m.offset, &bias)) {
      out.bias = bias;
      out.table_id = it->second.first;
      out.row_count = it->second.second;
    }
  }
}

bool UserStackUnwinder::Read(const StackCopy& stack, uint64_t address, void* dst,
                             size_t size) const {
  if (address >= stack.base && address - stack.base + size <= stack.bytes.size()) {
    std::memcpy(dst, stack.bytes.data() + (address - stack.base), size);
    return true;
  }
  // Outside the copy (a frame pointer into the heap, a deep stack): read the live memory.
  iovec local = {dst, size};
  iovec remote = {reinterpret_cast<void*>(address), size};
  return process_vm_readv(process_->pid, &local, 1, &remote, 1, 0) == static_cast<ssize_t>(size);
}

std::vector<uint64_t> UserStackUnwinder::Unwind(uint64_t ip, uint64_t sp, uint64_t bp,
                                                const StackCopy& stack, bool* truncated) {
  return walker_.Walk(
      *mappings_, ip, sp, bp,
      [&](uint64_t address, void* dst, size_t size) { return Read(stack, address, dst, size); },
      truncated);
}

size_t DumpThreads(const ProcessInfo& process, const KernelSymbolizer& kernel, bool dwarf_unwinding,
                   ThreadDump* dump) {
  UserStackUnwinder unwinder(&process, dwarf_unwinding);
  const std::optional<PythonRuntime> python = FindPythonRuntime(process);
  size_t added = 0;
  for (pid_t tid : ThreadsOf(process.pid)) {
    StackSample sample;
    sample.pid = static_cast<uint32_t>(process.pid);
    sample.tid = static_cast<uint32_t>(tid);
    sample.thread_comm = ThreadComm(process.pid, tid);
    // Read before stopping the thread: once stopped, its kernel stack is ptrace's, not its own.
    StackTrace kernel_trace;
    kernel_trace.ips = KernelStack(ReadProcFile(TaskPath(process.pid, tid, "stack")), kernel);

    StoppedThread stopped;
    std::string error;
    if (!CaptureThread(process.pid, tid, python ? &*python : nullptr, &stopped, &error)) {
      dump->errors.push_back("pid " + std::to_string(process.pid) + " thread " +
                             std::to_string(tid) + ": " + error);
      continue;
    }
    dump->pause_micros.push_back(stopped.pause_micros);
    StackTrace user_trace;
    user_trace.ips = unwinder.Unwind(stopped.regs.rip, stopped.regs.rsp, stopped.regs.rbp,
                                     stopped.stack, &user_trace.truncated);
    if (python)
      user_trace.ips = MergePythonFrames(user_trace.ips, stopped.python, python->bpf.eval_start,
                                         python->bpf.eval_end);
    StackSamples& samples = dump->samples;
    sample.user_stack_id = samples.stacks.size() + 1;  // ids only need to be unique in the dump
    samples.stacks.emplace(sample.user_stack_id, std::move(user_trace));
    if (!kernel_trace.ips.empty()) {
      sample.kernel_stack_id = samples.stacks.size() + 1;
      samples.stacks.emplace(sample.kernel_stack_id, std::move(kernel_trace));
    }
    sample.values = {1};
    samples.samples.push_back(std::move(sample));
    samples.events++;
    added++;
  }
  return added;
}

}  // namespace profd

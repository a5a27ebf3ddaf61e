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
#include <sstream>

#include "process/loaded_unwind_tables.h"
#include "process/proc_files.h"
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
  double pause_micros = 0;
};

// Stops `tid`, reads its registers and the top of its stack, and lets it go.
bool CaptureThread(pid_t tid, StoppedThread* out, std::string* error) {
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

const UserStackUnwinder::FileRows& UserStackUnwinder::RowsOf(const MappedFile& file) {
  auto [it, inserted] = rows_.try_emplace(&file);
  if (inserted) {
    UnwindTableStats stats;
    std::string error;
    it->second.usable = BuildTableFor(file.open_path(), &it->second.rows, &stats, &error) &&
                        !it->second.rows.empty();
  }
  return it->second;
}

bool UserStackUnwinder::BiasOf(const Mapping& mapping, uint64_t* bias) {
  auto [it, inserted] = biases_.try_emplace(&mapping);
  if (inserted)
    it->second.first =
        MappingBias(mapping.file->fd.get(), mapping.start, mapping.offset, &it->second.second);
  *bias = it->second.second;
  return it->second.first;
}

bool UserStackUnwinder::Read(const StackCopy& stack, uint64_t address, uint64_t* value) const {
  if (address >= stack.base && address + 8 <= stack.base + stack.bytes.size()) {
    std::memcpy(value, stack.bytes.data() + (address - stack.base), 8);
    return true;
  }
  // Outside the copy (a frame pointer into the heap, a deep stack): read the live memory.
  iovec local = {value, 8};
  iovec remote = {reinterpret_cast<void*>(address), 8};
  return process_vm_readv(process_->pid, &local, 1, &remote, 1, 0) == 8;
}

std::vector<uint64_t> UserStackUnwinder::Unwind(uint64_t ip, uint64_t sp, uint64_t bp,
                                                const StackCopy& stack, bool dwarf,
                                                bool* truncated) {
  std::vector<uint64_t> ips;
  *truncated = false;
  bool exact_ip = true;
  auto step_frame_pointer = [&]() {
    uint64_t caller_bp, ra;
    if (bp == 0 || !Read(stack, bp, &caller_bp) || !Read(stack, bp + 8, &ra)) return false;
    sp = bp + 16;
    bp = caller_bp;
    ip = ra;
    exact_ip = false;
    return true;
  };
  while (true) {
    if (ips.size() == PROFD_MAX_FRAMES) {
      *truncated = true;
      break;
    }
    ips.push_back(ip);
    const Mapping* m = process_->FindMapping(ip);
    const FileRows* rows = dwarf && m && m->file ? &RowsOf(*m->file) : nullptr;
    uint64_t bias = 0;
    bool more;
    if (!rows || !rows->usable || !BiasOf(*m, &bias)) {
      more = step_frame_pointer();
    } else {
      const uint64_t pc = (exact_ip ? ip : ip - 1) - bias;
      auto after = std::upper_bound(
          rows->rows.begin(), rows->rows.end(), pc,
          [](uint64_t value, const profd_unwind_row& row) { return value < row.pc; });
      const profd_unwind_row* row = after == rows->rows.begin() ? nullptr : &*(after - 1);
      if (!row || row->cfa_type == PROFD_CFA_NONE) {
        uint64_t ra;
        // The frameless-leaf rule of the BPF unwinder: the return address at sp.
        if (exact_ip && Read(stack, sp, &ra) && process_->FindMapping(ra)) {
          sp += 8;
          ip = ra;
          exact_ip = false;
          more = true;
        } else {
          more = step_frame_pointer();
        }
      } else if (row->cfa_type == PROFD_CFA_END) {
        more = false;
      } else if (row->cfa_type == PROFD_CFA_SIGNAL) {
        uint64_t saved_bp, saved_sp, saved_ip;
        more = Read(stack, sp + 120, &saved_bp) && Read(stack, sp + 160, &saved_sp) &&
               Read(stack, sp + 168, &saved_ip);
        if (more) {
          bp = saved_bp;
          sp = saved_sp;
          ip = saved_ip;
          exact_ip = true;
        }
      } else {
        uint64_t cfa = row->cfa_type == PROFD_CFA_RBP ? bp + row->cfa_offset : sp + row->cfa_offset;
        if (row->cfa_type == PROFD_CFA_PLT && (ip & 15) >= 11) cfa += 8;
        uint64_t ra;
        more = Read(stack, cfa - 8, &ra);
        if (more && row->rbp_type == PROFD_RBP_AT_CFA)
          more = Read(stack, cfa + row->rbp_offset, &bp);
        if (row->rbp_type == PROFD_RBP_UNDEFINED) bp = 0;
        sp = cfa;
        ip = ra;
        exact_ip = false;
      }
    }
    if (!more || ip == 0 || (ip >> 47) != 0) break;
  }
  return ips;
}

size_t DumpThreads(const ProcessInfo& process, const KernelSymbolizer& kernel, bool dwarf_unwinding,
                   ThreadDump* dump) {
  UserStackUnwinder unwinder(&process);
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
    if (!CaptureThread(tid, &stopped, &error)) {
      dump->errors.push_back("pid " + std::to_string(process.pid) + " thread " +
                             std::to_string(tid) + ": " + error);
      continue;
    }
    dump->pause_micros.push_back(stopped.pause_micros);
    StackTrace user_trace;
    user_trace.ips = unwinder.Unwind(stopped.regs.rip, stopped.regs.rsp, stopped.regs.rbp,
                                     stopped.stack, dwarf_unwinding, &user_trace.truncated);
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

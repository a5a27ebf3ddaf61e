#include "process/loader_stop.h"

#include <elf.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <cinttypes>
#include <cstdio>

#include "base/unique_fd.h"
#include "process/elf_dynamic_symbols.h"
#include "process/proc_files.h"
#include "process/process_table.h"

namespace profd {
namespace {

constexpr long kRtConsistent = 0;    // enum r_state in <link.h>
constexpr uint64_t kRStateOffset = 24;  // struct r_debug: int r_version, r_map, r_brk, r_state
constexpr int kMaxHits = 64;         // each dlopen-style change calls the hook; start-up is 2

uint64_t AuxvBase(pid_t pid) {
  const std::string auxv = ReadProcFile(ProcPath(pid, "auxv"));
  for (size_t at = 0; at + 16 <= auxv.size(); at += 16) {
    uint64_t key, value;
    std::memcpy(&key, auxv.data() + at, 8);
    std::memcpy(&value, auxv.data() + at + 8, 8);
    if (key == AT_BASE) return value;
    if (key == AT_NULL) break;
  }
  return 0;
}

// The file mapped at `start` (the loader's first mapping), opened as /proc/PID/map_files does: the
// very inode mapped, whatever its path says. map_files needs CAP_SYS_ADMIN, which a user launching
// through the daemon has not: then the mapped path inside the process's root, if it is still the
// inode mapped.
UniqueFd OpenMappingAt(pid_t pid, uint64_t start, std::string* why) {
  for (const MapsEntry& e : ParseProcMaps(ReadProcFile(ProcPath(pid, "maps")))) {
    if (e.start != start) continue;
    char range[64];
    std::snprintf(range, sizeof(range), "%" PRIx64 "-%" PRIx64, e.start, e.end);
    UniqueFd fd(open(ProcPath(pid, std::string("map_files/") + range).c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.valid() || (errno != EPERM && errno != EACCES) || e.path.empty() || e.path[0] != '/') {
      if (!fd.valid()) *why = "cannot open the loader: " + std::string(std::strerror(errno));
      return fd;
    }
    fd = UniqueFd(open((ProcPath(pid, "root") + e.path).c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    struct stat st;
    if (!fd.valid()) {
      *why = "cannot open the loader " + e.path + ": " + std::strerror(errno);
    } else if (fstat(fd.get(), &st) != 0 || st.st_ino != e.inode ||
               major(st.st_dev) != e.dev_major || minor(st.st_dev) != e.dev_minor) {
      *why = "the loader " + e.path + " was replaced since it was mapped";
      fd = UniqueFd();
    }
    return fd;
  }
  *why = "the loader's mapping is not in /proc/" + std::to_string(pid) + "/maps";
  return UniqueFd();
}

struct LoaderSymbols {
  uint64_t debug_state = 0;  // the hook function's address in the process
  uint64_t r_debug = 0;      // 0: not exported (then the first call is taken as the stop)
};

bool FindLoaderSymbols(const UniqueFd& fd, uint64_t base, LoaderSymbols* out, std::string* why) {
  elf_version(EV_CURRENT);
  Elf* elf = elf_begin(fd.get(), ELF_C_READ, nullptr);
  if (!elf) {
    *why = "the loader is not an ELF file";
    return false;
  }
  // The load bias: where the lowest PT_LOAD went, less its virtual address.
  uint64_t lowest = UINT64_MAX;
  size_t phnum = 0;
  if (elf_getphdrnum(elf, &phnum) == 0) {
    for (size_t i = 0; i < phnum; i++) {
      GElf_Phdr phdr;
      if (gelf_getphdr(elf, static_cast<int>(i), &phdr) && phdr.p_type == PT_LOAD &&
          phdr.p_vaddr < lowest)
        lowest = phdr.p_vaddr & ~uint64_t{0xfff};
    }
  }
  const uint64_t bias = lowest == UINT64_MAX ? base : base - lowest;
  ForEachDynamicSymbol(elf, [&](const char* name, const GElf_Sym& sym) {
    if (std::strcmp(name, "_dl_debug_state") == 0 && GELF_ST_TYPE(sym.st_info) == STT_FUNC)
      out->debug_state = bias + sym.st_value;
    else if (std::strcmp(name, "_r_debug") == 0 && GELF_ST_TYPE(sym.st_info) == STT_OBJECT &&
             sym.st_size >= kRStateOffset + 4)
      out->r_debug = bias + sym.st_value;
  });
  elf_end(elf);
  if (out->debug_state == 0) {
    *why = "the loader exports no _dl_debug_state";
    return false;
  }
  return true;
}

double Now() {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) * 1e-9;
}

// Waits for the tracee's next stop or end, at most until `deadline` (then 0 and no status).
pid_t WaitUntil(pid_t pid, double deadline, int* status) {
  for (;;) {
    const pid_t got = waitpid(pid, status, WNOHANG);
    if (got != 0 || (got < 0 && errno != EINTR)) return got;
    if (Now() >= deadline) return 0;
    struct timespec nap = {0, 200 * 1000};
    nanosleep(&nap, nullptr);
  }
}

// The one breakpoint: in while the command runs, out whenever it is stopped for us.
class Breakpoint {
 public:
  Breakpoint(pid_t pid, uint64_t address) : pid_(pid), address_(address) {}
  ~Breakpoint() { Remove(); }

  bool Insert(std::string* why) {
    errno = 0;
    const long word = ptrace(PTRACE_PEEKTEXT, pid_, address_, nullptr);
    if (errno != 0) {
      *why = "cannot read the loader's code: " + std::string(std::strerror(errno));
      return false;
    }
    original_ = word;
    const long trap = static_cast<long>((static_cast<unsigned long>(word) & ~0xfful) | 0xcc);
    if (ptrace(PTRACE_POKETEXT, pid_, address_, trap) != 0) {
      *why = "cannot write the breakpoint: " + std::string(std::strerror(errno));
      return false;
    }
    inserted_ = true;
    return true;
  }
  void Remove() {
    if (inserted_) ptrace(PTRACE_POKETEXT, pid_, address_, original_);
    inserted_ = false;
  }

 private:
  pid_t pid_;
  uint64_t address_;
  long original_ = 0;
  bool inserted_ = false;
};

// Stops a running tracee with SIGSTOP and takes the breakpoint out. A stop at the breakpoint on
// the way is undone (its instruction pointer set back), so the command runs on unharmed; the
// SIGSTOP is consumed here, never left pending to stop it after the detach.
void StopNow(pid_t pid, uint64_t hook, Breakpoint* breakpoint, LoaderStop* stop) {
  kill(pid, SIGSTOP);
  for (int i = 0; i < 8; i++) {
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status) || WIFSIGNALED(status)) {
      stop->result = LoaderStop::Result::kEnded;
      stop->wait_status = status;
      return;
    }
    if (!WIFSTOPPED(status) || WSTOPSIG(status) == SIGSTOP) break;
    breakpoint->Remove();
    user_regs_struct regs;
    if (WSTOPSIG(status) == SIGTRAP && ptrace(PTRACE_GETREGS, pid, nullptr, &regs) == 0 &&
        regs.rip == hook + 1) {
      regs.rip = hook;
      ptrace(PTRACE_SETREGS, pid, nullptr, &regs);
    }
    ptrace(PTRACE_CONT, pid, nullptr, nullptr);  // on to the pending SIGSTOP
  }
  breakpoint->Remove();
}

}  // namespace

LoaderStop RunToLoadedLibraries(pid_t pid, double timeout_seconds) {
  LoaderStop stop;
  const uint64_t base = AuxvBase(pid);
  if (base == 0) {
    stop.result = LoaderStop::Result::kNoLoader;
    return stop;
  }
  const UniqueFd loader = OpenMappingAt(pid, base, &stop.why);
  LoaderSymbols symbols;
  if (!loader.valid() || !FindLoaderSymbols(loader, base, &symbols, &stop.why)) return stop;

  Breakpoint breakpoint(pid, symbols.debug_state);
  if (!breakpoint.Insert(&stop.why)) return stop;
  const double deadline = Now() + timeout_seconds;
  int deliver = 0;  // a signal that stopped it, handed on at the next resume
  for (int hits = 0; hits < kMaxHits;) {
    if (ptrace(PTRACE_CONT, pid, nullptr, deliver) != 0) {
      stop.why = "cannot resume the command: " + std::string(std::strerror(errno));
      return stop;
    }
    deliver = 0;
    int status = 0;
    const pid_t got = WaitUntil(pid, deadline, &status);
    if (got == 0) {  // still running: stop it where it is, the breakpoint out
      stop.why = "its loader did not report its libraries within " +
                 std::to_string(static_cast<int>(timeout_seconds)) + " s";
      StopNow(pid, symbols.debug_state, &breakpoint, &stop);
      return stop;
    }
    if (got < 0) {
      stop.why = "cannot wait for the command: " + std::string(std::strerror(errno));
      return stop;
    }
    if (WIFEXITED(status) || WIFSIGNALED(status)) {
      stop.result = LoaderStop::Result::kEnded;
      stop.wait_status = status;
      return stop;
    }
    if (!WIFSTOPPED(status)) continue;
    user_regs_struct regs;
    if (WSTOPSIG(status) != SIGTRAP || ptrace(PTRACE_GETREGS, pid, nullptr, &regs) != 0 ||
        regs.rip != symbols.debug_state + 1) {
      deliver = WSTOPSIG(status) == SIGTRAP ? 0 : WSTOPSIG(status);
      continue;
    }
    hits++;
    // At the hook: back to its first instruction, with the original code there.
    breakpoint.Remove();
    regs.rip = symbols.debug_state;
    if (ptrace(PTRACE_SETREGS, pid, nullptr, &regs) != 0) {
      stop.why = "cannot set the command's registers: " + std::string(std::strerror(errno));
      return stop;
    }
    long state = kRtConsistent;
    if (symbols.r_debug != 0) {
      errno = 0;
      const long word = ptrace(PTRACE_PEEKDATA, pid, symbols.r_debug + kRStateOffset, nullptr);
      if (errno == 0) state = static_cast<int32_t>(word & 0xffffffff);
    }
    if (state == kRtConsistent) {
      stop.result = LoaderStop::Result::kStopped;
      return stop;
    }
    // Not yet (RT_ADD: the loader is about to map): step over the hook and wait for the next call.
    if (ptrace(PTRACE_SINGLESTEP, pid, nullptr, nullptr) != 0) {
      stop.why = "cannot step the command: " + std::string(std::strerror(errno));
      return stop;
    }
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status) || WIFSIGNALED(status)) {
      stop.result = LoaderStop::Result::kEnded;
      stop.wait_status = status;
      return stop;
    }
    if (WIFSTOPPED(status) && WSTOPSIG(status) != SIGTRAP) deliver = WSTOPSIG(status);
    if (!breakpoint.Insert(&stop.why)) return stop;
  }
  stop.why = "its loader called its hook " + std::to_string(kMaxHits) + " times";
  return stop;
}

}  // namespace profd

// Turns drained stack samples into a symbolized pprof profile: maps each address to its process's
// mapping, symbolizes every file's addresses in one batch, and adds locations (with inline lines)
// and samples.
#ifndef PROFD_DAEMON_PROFILES_PROFILE_ASSEMBLER_H
#define PROFD_DAEMON_PROFILES_PROFILE_ASSEMBLER_H

#include <map>
#include <string>
#include <tuple>

#include "collect/stack_samples.h"
#include "jit_dump.h"
#include "perf_map.h"
#include "process/process_table.h"
#include "profile_builder.h"
#include "profiles/python_frames.h"
#include "symbolizer.h"

namespace profd {

// How profiles name functions: C++ without parameters ("ns::f<int>", as pprof shows C++), Rust
// whole; each Function's system_name keeps the mangled name, so pprof does not re-simplify ours.
Symbolizer::Options ProfileSymbolizerOptions();

class ProfileAssembler {
 public:
  // `kernel` may be null or unloaded (then kernel frames show as addresses). `python`: the code
  // objects read during the window, null when none were (they are read now).
  ProfileAssembler(Symbolizer* symbolizer, const KernelSymbolizer* kernel,
                   const ProcessTable* processes, PythonFrameNames* python = nullptr);

  // Adds every sample with labels pid, tid, comm and thread_comm.
  void Add(const StackSamples& samples, ProfileBuilder* builder);

  // Frames (distinct per sample key) that could not be symbolized, by cause, for the profile's
  // comments.
  struct FrameStats {
    uint64_t outside_mappings = 0;  // no mapping of the process holds the address (exited before it
                                    // was read, or a bad frame from frame-pointer walking)
    uint64_t without_symbols = 0;   // in a mapping whose file has no symbol for it
    uint64_t kernel = 0;            // kernel addresses not in kallsyms
    uint64_t jit = 0;               // named from the process's /tmp/perf-PID.map (JIT code)
    uint64_t jit_dump = 0;          // named from a jitdump file the process mapped (JIT code)
    uint64_t python = 0;            // Python functions named from their code objects
    uint64_t python_unread = 0;     // Python frames whose code object could not be read
  };
  const FrameStats& frame_stats() const { return frame_stats_; }

 private:
  struct FileAddress {
    const MappedFile* file;
    uint64_t vaddr;
    bool operator<(const FileAddress& o) const {
      return std::tie(file, vaddr) < std::tie(o.file, o.vaddr);
    }
  };

  // `root` is the process's /proc/PID/root, where a container's debug files are looked up first.
  const ElfFileInfo* Describe(const MappedFile* file, const std::string& root);
  std::vector<uint64_t> UserLocations(const ProcessInfo* process, const StackTrace& trace,
                                      ProfileBuilder* builder);
  std::vector<uint64_t> KernelLocations(const StackTrace& trace, ProfileBuilder* builder);
  uint64_t AddMapping(const ProcessInfo& process, const Mapping& mapping, ProfileBuilder* builder);
  uint64_t PythonLocation(const ProcessInfo* process, uint64_t frame, ProfileBuilder* builder);
  void SymbolizeAll(const StackSamples& samples);
  // The JIT's names of a process: the jitdump files it mapped and its perf map, read once per
  // profile (a JIT appends to them as it compiles).
  struct JitNames {
    std::vector<JitDump> dumps;
    PerfMap map;
  };
  const JitNames& JitNamesOf(const ProcessInfo& process);

  Symbolizer* symbolizer_;
  const KernelSymbolizer* kernel_;
  const ProcessTable* processes_;
  std::map<const MappedFile*, ElfFileInfo> elf_info_;  // a missing value means not an ELF file
  std::map<const MappedFile*, bool> elf_ok_;
  std::map<FileAddress, Symbolization> symbols_;
  std::map<pid_t, JitNames> jit_names_;
  PythonFrameNames own_python_;
  PythonFrameNames* python_;
  FrameStats frame_stats_;
};

}  // namespace profd

#endif  // PROFD_DAEMON_PROFILES_PROFILE_ASSEMBLER_H

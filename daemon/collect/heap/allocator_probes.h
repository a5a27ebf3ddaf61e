// Where a process's allocator is: the ELF file that defines the malloc the process calls, and the
// file offsets of its entry points, for uprobes.
#ifndef PROFD_DAEMON_COLLECT_HEAP_ALLOCATOR_PROBES_H
#define PROFD_DAEMON_COLLECT_HEAP_ALLOCATOR_PROBES_H

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "process/process_table.h"

namespace profd {

struct AllocatorFunction {
  uint64_t offset = 0;  // file offset of its entry
  uint64_t size = 0;    // bytes of code (the ELF symbol's size)
};

struct Allocator {
  const Mapping* mapping = nullptr;  // the file that defines malloc, as the process maps it
  std::map<std::string, AllocatorFunction> functions;  // by name (only those defined)
};

// The allocator entry points profd probes: the C functions, and C++'s operator new and delete for
// allocators that define their own (jemalloc, tcmalloc); libstdc++'s call malloc and free.
extern const std::vector<std::string> kAllocatorFunctions;

// Reads the defined functions named in kAllocatorFunctions from the ELF file at `path`; empty when
// the file cannot be read or defines none.
std::map<std::string, AllocatorFunction> FindAllocatorFunctions(const std::string& path);

// Where profd's own free() is: its C library's path and the function's file offset, for probes on
// profd itself (the probe cost's measurement, the kernel-feature check). False with `error` set.
bool FindOwnFree(std::string* path, uint64_t* offset, std::string* error);

// The labels of profd's preload sampler (preload/allocation_sampler.c) where a sampled allocation
// (kPreloadSampledPrefix + the function's name) and the free of a sampled block are reported.
constexpr const char* kPreloadSampledPrefix = "profd_preload_sampled_";
constexpr const char* kPreloadFreedPrefix = "profd_preload_freed_";
// Its labels in the ELF file at `path`, by name; empty when it has none.
std::map<std::string, AllocatorFunction> FindPreloadPoints(const std::string& path);

// profd's preload sampler (preload/) beside this binary: installed in ../lib/profd/, built in
// ../preload/. Only one that root (or profd's user) owns and nobody else may write, since it is
// loaded into commands that may run as root; "" when there is none. `jemalloc`: its variant that
// also interposes jemalloc's mallocx family.
std::string PreloadLibrary(bool jemalloc = false);

// Does the program at `path` (or LD_PRELOAD, `preloaded`) bring jemalloc: a DT_NEEDED entry of the
// executable or a preloaded library named libjemalloc*. A library that needs jemalloc deeper down
// is not seen: its mallocx calls then reach jemalloc unsampled.
bool CommandUsesJemalloc(const std::string& path, const std::string& preloaded);

// The allocator `process` calls: the executable if it defines malloc and free itself (static
// binaries, statically linked jemalloc/tcmalloc/mimalloc), else the first shared library other than
// libc that does (a preloaded or linked allocator), else libc. False with `error` saying why there
// is none (a Go program, a stripped static binary).
bool FindAllocator(const ProcessInfo& process, Allocator* allocator, std::string* error);

}  // namespace profd

#endif  // PROFD_DAEMON_COLLECT_HEAP_ALLOCATOR_PROBES_H

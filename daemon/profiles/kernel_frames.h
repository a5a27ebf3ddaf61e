// Kernel frames for callers who may not read kernel addresses. /proc/kallsyms shows addresses only
// to readers with CAP_SYSLOG (kptr_restrict, perf_event_paranoid), so a kernel address in a
// profile served to another user would give away where KASLR put the kernel.
#ifndef PROFD_DAEMON_PROFILES_KERNEL_FRAMES_H
#define PROFD_DAEMON_PROFILES_KERNEL_FRAMES_H

#include <cstdint>

#include "profile.pb.h"

namespace profd {

// Where the kernel half of the address space begins; no user address is this high.
constexpr uint64_t kKernelSpaceStart = 0xffff800000000000ULL;

// Stand-ins for kernel addresses: a range above any user address (57-bit user space ends at
// 0x00ffffffffffffff) and far below the kernel half, so a stand-in is never taken for either.
constexpr uint64_t kKernelStandInStart = 0x0100000000000000ULL;

enum class KernelFrames {
  kNames,  // each distinct kernel address becomes its own stand-in; names, mapping name kept
  kNone,   // kernel locations, functions and mapping taken out
};

// Rewrites `profile` so no value in it is a kernel address: locations in the [kernel.kallsyms]
// mapping (or at kernel addresses), that mapping's range, and any hex number of the kernel half in
// its strings (unsymbolized frames' names, comments). Stand-ins are numbered in order of first
// appearance, so they keep locations apart (pprof merges locations by mapping and address) without
// telling their order or distance in the kernel.
void HideKernelAddresses(perftools::profiles::Profile* profile, KernelFrames mode);

}  // namespace profd

#endif  // PROFD_DAEMON_PROFILES_KERNEL_FRAMES_H

// What to profile and how, as the command line, an HTTP request or the schedule asks for it, and
// the limits every door applies to it.
#ifndef PROFD_DAEMON_PROFILES_PROFILE_REQUEST_H
#define PROFD_DAEMON_PROFILES_PROFILE_REQUEST_H

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "profiles/profile_types.h"

namespace profd {

// The most distinct pids one request (--pid or ?pid=) may name.
constexpr size_t kMaxPidsPerRequest = 256;

// Parses "1234" or "1234,5678" into distinct pids, in the order first given (a repeated pid would
// be stopped and counted again for each repeat); false with `error` set when any entry is no
// positive pid or there are more than kMaxPidsPerRequest.
bool ParsePidList(const std::string& text, std::vector<pid_t>* pids, std::string* error);

// What to profile and how: from the command line, or in the daemon from an HTTP request.
struct ProfileRequest {
  std::vector<pid_t> pids;
  bool all_processes = false;
  bool follow_forks = false;  // the processes the targets start are targets too (launch mode)
  ProfileType type = ProfileType::kCpu;
  double seconds = 30;  // net/http/pprof's default
  int frequency_hz = 99;
  double min_block_seconds = 10e-6;         // block: shorter waits are not counted
  bool dwarf_unwinding = true;              // --unwind dwarf (default) or fp
  uint64_t sample_rate_bytes = 512 * 1024;  // heap, allocs: mean bytes between samples
  double max_overhead_percent = 3;          // heap, allocs: probe cost budget, % of target CPU
  // heap, allocs of a launched command: it runs with profd's preload sampler (PreloadLibrary()),
  // whose labels are probed instead of its allocator
  bool preload_sampler = false;
  bool heap_peak = false;  // heap: also what was live at the peak (launch mode)
  // A command profd launched and holds before it runs: through the daemon, its CLI lets it go once
  // the daemon's collector is attached (a 102 response), and the window ends at its exit.
  bool launched = false;
  bool bpf_stats = false;  // measure the BPF program's own run time (kernel BPF stats, host-wide)
  bool split_by_pid = false;  // also one profile per process (the daemon's schedule)
  // For a caller who may profile only its own processes (its uid; -1: root's request): a target
  // is profiled only while it stays wholly this user's, its part of the window ends when it
  // execs a set-user-ID program.
  int64_t owner_uid = -1;
};

constexpr double kMaxSeconds = 86400;  // one window of a day; longer runs belong to the daemon
constexpr int kMaxFrequencyHz = 10000;

}  // namespace profd

#endif  // PROFD_DAEMON_PROFILES_PROFILE_REQUEST_H

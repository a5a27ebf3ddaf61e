// The CPU profile collector: a perf_event CPU-clock sampler on every online CPU running cpu.bpf.c,
// filtered in the kernel to the target processes, counting stacks in kernel maps.
#ifndef PROFD_DAEMON_CPU_SAMPLER_H
#define PROFD_DAEMON_CPU_SAMPLER_H

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "stack_samples.h"
#include "unique_fd.h"

struct cpu_bpf;
struct bpf_link;

namespace profd {

class CpuSampler {
 public:
  struct Options {
    int frequency_hz = 99;
    bool all_processes = false;   // false: only `pids`
    bool dwarf_unwinding = true;  // false: frame pointers only
    std::vector<pid_t> pids;
    // Distinct stacks and (thread, stack) keys kept in the kernel; preallocated, so they size the
    // kernel memory profd holds: about 1 KiB per stack and 100 bytes per key.
    uint32_t max_stacks = 16384;
    uint32_t max_counts = 65536;
  };

  // Loads the BPF programs; null with `error` set (saying what is missing) on failure. Sampling
  // starts with Attach, so that unwind tables can be loaded first.
  static std::unique_ptr<CpuSampler> Load(const Options& options, std::string* error);
  // Opens a CPU-clock perf event on every online CPU and attaches the sampler to each.
  bool Attach(std::string* error);
  ~CpuSampler();
  CpuSampler(const CpuSampler&) = delete;
  CpuSampler& operator=(const CpuSampler&) = delete;

  // Stops sampling; what was counted stays readable.
  void Stop();

  // The processes that gained new stacks since the last call (to capture their mappings while they
  // are alive). Taken keys are removed, so each call costs only what is new.
  std::vector<pid_t> TakeSampledPids();

  // Processes that exec'ed or exited since the last call (taken keys are removed).
  struct ProcessEvent {
    pid_t pid;
    bool exited;  // false: exec'ed
  };
  std::vector<ProcessEvent> TakeProcessEvents();

  // Everything counted so far; values are {samples, cpu nanoseconds}.
  StackSamples Collect() const;

  int64_t period_nanos() const { return period_nanos_; }
  // Run count and total run time of the BPF program (both 0 unless kernel BPF stats are enabled).
  struct ProgramCost {
    uint64_t runs = 0;
    uint64_t nanoseconds = 0;
  };
  ProgramCost program_cost() const;

  // The maps LoadedUnwindTables fills.
  int unwind_tables_fd() const;
  int process_unwind_fd() const;

 private:
  CpuSampler() = default;

  cpu_bpf* skel_ = nullptr;
  std::vector<UniqueFd> perf_fds_;
  std::vector<bpf_link*> links_;  // perf events, then the process event tracepoints
  int64_t period_nanos_ = 0;
};

}  // namespace profd

#endif  // PROFD_DAEMON_CPU_SAMPLER_H

// What every stack-counting BPF collector shares once its object is loaded: the target filter, the
// counts and stacks maps, drop counters, new-process and exec/exit notices, the unwinder's maps,
// and teardown. Each profile type (cpu, block, …) adds only how its object is configured and
// attached.
#ifndef PROFD_DAEMON_STACK_COLLECTOR_H
#define PROFD_DAEMON_STACK_COLLECTOR_H

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "profd_abi.h"  // the skeletons of subclasses name its structs
#include "stack_samples.h"

struct bpf_object;
struct bpf_link;
struct bpf_program;

namespace profd {

class StackCollector {
 public:
  virtual ~StackCollector();
  StackCollector(const StackCollector&) = delete;
  StackCollector& operator=(const StackCollector&) = delete;

  // Starts collecting; false with `error` set (saying what is missing) on failure.
  virtual bool Attach(std::string* error) = 0;
  // Stops collecting; what was counted stays readable.
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

  // Everything counted so far; values are {events, total weight} per key.
  StackSamples Collect() const;

  // Run count and total run time of the object's programs (0 unless kernel BPF stats are enabled).
  struct ProgramCost {
    uint64_t runs = 0;
    uint64_t nanoseconds = 0;
  };
  ProgramCost program_cost() const;

  // The maps LoadedUnwindTables fills.
  int unwind_tables_fd() const { return unwind_tables_fd_; }
  int process_unwind_fd() const { return process_unwind_fd_; }

 protected:
  StackCollector() = default;
  // Fills the rodata target list (before load) when there are few enough targets for it.
  template <typename Rodata>
  static void ListTargets(const std::vector<pid_t>& pids, Rodata* rodata) {
    if (pids.size() > sizeof(rodata->target_list) / sizeof(rodata->target_list[0])) return;
    for (size_t i = 0; i < pids.size(); i++) rodata->target_list[i] = static_cast<uint32_t>(pids[i]);
    rodata->target_list_length = static_cast<uint32_t>(pids.size());
  }
  // Finds the shared maps of the loaded `object` and fills the target filter.
  bool UseObject(bpf_object* object, const std::vector<pid_t>& pids, std::string* error);
  // Attaches `program` as its section says (tracepoints); false with `error` set.
  bool AttachProgram(bpf_program* program, std::string* error);
  // Attaches the exec/exit notices of process_events.bpf.h.
  bool AttachProcessEvents(std::string* error);

  bpf_object* object_ = nullptr;
  std::vector<bpf_link*> links_;

 private:
  int counts_fd_ = -1;
  int stacks_fd_ = -1;
  int counters_fd_ = -1;
  int sampled_pids_fd_ = -1;
  int process_events_fd_ = -1;
  int unwind_tables_fd_ = -1;
  int process_unwind_fd_ = -1;
};

}  // namespace profd

#endif  // PROFD_DAEMON_STACK_COLLECTOR_H

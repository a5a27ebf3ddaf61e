// What every stack-counting BPF collector shares once its object is loaded: the target filter, the
// counts and stacks maps, drop counters, new-process and exec/exit notices, the unwinder's maps,
// and teardown. Each profile type (cpu, block, …) adds only how its object is configured and
// attached.
#ifndef PROFD_DAEMON_COLLECT_STACK_COLLECTOR_H
#define PROFD_DAEMON_COLLECT_STACK_COLLECTOR_H

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/result.h"
#include "collect/stack_samples.h"
#include "collect/unwind_maps.h"
#include "process/process_tracker.h"
#include "profd_abi.h"  // the skeletons of subclasses name its structs

struct bpf_object;
struct bpf_link;
struct bpf_program;

namespace profd {

// What every collector is told: whose events to count, and how to walk user stacks.
struct CollectorOptions {
  bool all_processes = false;   // false: only `pids`
  bool dwarf_unwinding = true;  // false: frame pointers only
  std::vector<pid_t> pids;
  // For a caller who may profile only its own processes: tasks are sampled only while all their
  // uids are this one (a set-user-ID exec ends it). UINT32_MAX: anyone's.
  uint32_t owner_uid = UINT32_MAX;
  // Processes the targets fork become targets, and theirs (a launched command's tree).
  bool follow_forks = false;
  // Walk CPython's frames. Off when no target can run CPython: the verifier then drops that walk,
  // and the programs load sooner.
  bool python_frames = true;
  // Unwind maps the caller made and fills while the object loads (it uses them instead of its
  // own); nullptr: the object makes its own.
  const UnwindMaps* unwind_maps = nullptr;
};

class StackCollector {
 public:
  virtual ~StackCollector();
  StackCollector(const StackCollector&) = delete;
  StackCollector& operator=(const StackCollector&) = delete;

  // Starts collecting, or says what is missing.
  virtual Result<void> Attach() = 0;
  // Stops collecting; what was counted stays readable.
  virtual void Stop();
  // Stops or restarts taking samples while attached, for a collector whose samples come from its
  // own timers (the daemon's CPU sampler between requests); its programs, maps and process
  // events go on. Others always sample while attached.
  virtual void SetSampling(bool /*on*/) {}

  // Called about every `returned` seconds while collecting, for collectors that act during the
  // window (heap's duty cycle); returns the seconds until it wants to be called again.
  virtual double Poll() { return 0.1; }

  // Brings what Collect and Notes report up to now while collection goes on, for a profile taken
  // mid-collection (heap: the open duty-cycle window is accounted).
  virtual void Checkpoint() {}

  // Lines for the profile's comments saying how this collector collected (e.g. its duty cycle).
  virtual std::vector<std::string> Notes() const { return {}; }

  // The processes that gained new stacks since the last call (to capture their mappings while they
  // are alive). Taken keys are removed, so each call costs only what is new.
  std::vector<pid_t> TakeSampledPids();

  // Processes that exec'ed or exited since the last call (taken keys are removed), for a
  // ProcessTracker.
  std::vector<ProcessEvent> TakeProcessEvents();

  // The Python code objects the walk met for the first time since the last call (popped off the
  // queue, so each call costs only what is new); empty for an object without Python frames.
  std::vector<profd_python_code_seen> TakeNewPythonCodes();

  // Everything counted so far; values are {events, total weight} per key (heap: its four values).
  virtual StackSamples Collect() const;

  // Takes every counts entry out of the kernel (read and deleted atomically, so no event is lost
  // or counted twice), for a collector that runs on while it is drained. Stacks not in `cache`
  // are read into it; samples refer to them by id. Values are {events, total weight}.
  std::vector<StackSample> Drain(std::unordered_map<uint64_t, StackTrace>* cache);
  // Deletes stacks from the kernel's map (their copies live in a cache): a stack seen again is
  // stored again, so the map never fills with stacks of the past.
  void ForgetStacks(const std::vector<uint64_t>& ids);
  // The drop and event counters, summed over CPUs, since load.
  std::array<uint64_t, PROFD_COUNTER_MAX> CounterTotals() const;

  // Run count and total run time of the object's programs (0 unless kernel BPF stats are enabled).
  struct ProgramCost {
    uint64_t runs = 0;
    uint64_t nanoseconds = 0;
  };
  ProgramCost program_cost() const;

  // The maps LoadedUnwindTables fills.
  int unwind_tables_fd() const { return unwind_tables_fd_; }
  int process_unwind_fd() const { return process_unwind_fd_; }
  // Where the object walks Python frames (cpu, block, mutex, threadcreate), else -1.
  int python_processes_fd() const { return python_processes_fd_; }

 protected:
  StackCollector() = default;
  // Sets what every object shares before its load: the target filter and the unwinding mode in
  // its rodata, and the caller's unwind maps (UseObject checks they took).
  template <typename Skeleton>
  static void Configure(const CollectorOptions& options, Skeleton* skeleton) {
    if (options.unwind_maps) ReuseUnwindMaps(skeleton->obj, *options.unwind_maps);
    auto* rodata = skeleton->rodata;
    rodata->filter_pids = !options.all_processes;
    rodata->dwarf_unwinding = options.dwarf_unwinding;
    rodata->owner_uid = options.owner_uid;
    rodata->follow_forks = options.follow_forks;
    if constexpr (requires { rodata->python_frames; })
      rodata->python_frames = options.python_frames;
    if (options.follow_forks) return;  // the targets grow: the map holds them
    // Few enough targets are listed in rodata, so the filter is compares, not a map lookup.
    const std::vector<pid_t>& pids = options.pids;
    if (pids.size() > sizeof(rodata->target_list) / sizeof(rodata->target_list[0])) return;
    for (size_t i = 0; i < pids.size(); i++)
      rodata->target_list[i] = static_cast<uint32_t>(pids[i]);
    rodata->target_list_length = static_cast<uint32_t>(pids.size());
  }
  // Finds the shared maps of the loaded `object` and fills the target filter.
  bool UseObject(bpf_object* object, const CollectorOptions& options, std::string* error);
  // Attaches `program` as its section says (tracepoints); false with `error` set.
  bool AttachProgram(bpf_program* program, std::string* error);
  // Attaches the exec/exit notices of process_events.bpf.h (and its fork notice when following).
  bool AttachProcessEvents(std::string* error);
  StackSample ToSample(const profd_sample_key& key, const profd_sample_value& value,
                       std::unordered_map<uint64_t, StackTrace>* stacks) const;
  // Reads stack `id` of the stacks map; false when it is not there.
  bool ReadStackTrace(uint64_t id, StackTrace* trace) const;

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
  int python_processes_fd_ = -1;
  int python_new_codes_fd_ = -1;
  bool follow_forks_ = false;
};

}  // namespace profd

#endif  // PROFD_DAEMON_COLLECT_STACK_COLLECTOR_H

// The profile types: one row each, read by the command line, the HTTP endpoints, the daemon client
// and the schedule (see README.md, "Adding a profile type").
#ifndef PROFD_DAEMON_PROFILES_PROFILE_TYPES_H
#define PROFD_DAEMON_PROFILES_PROFILE_TYPES_H

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "daemon_config.h"
#include "profile_builder.h"

namespace profd {

// In the order of the command line's help (cpu, its default, first).
enum class ProfileType {
  kCpu,
  kHeap,
  kAllocs,
  kBlock,
  kMutex,
  kGoroutine,
  kThreadCreate,
  kCmdline
};

struct ProfileRequest;
class ProcessTable;
class StackCollector;
struct UnwindMaps;

// What a profile records: its pprof sample types and period.
struct ProfileKind {
  std::vector<ValueType> sample_types;  // {events, total weight}, as the collectors count them
  std::string default_sample_type;
  ValueType period_type;
  int64_t period = 0;
  std::string description;
  std::string no_samples;  // why a profile can be empty, for the warning
};

// The cpu profile's kind at `frequency_hz` (the shared sampler's profiles too).
ProfileKind CpuProfileKind(int frequency_hz);

// Loads a type's BPF programs for `request`'s targets (observed in `processes`), with the caller's
// `unwind_maps` when not nullptr, and says what its profile records, or gives the error that
// stopped it. Each type's is beside its row.
using CollectorFactory = Result<std::unique_ptr<StackCollector>> (*)(const ProfileRequest& request,
                                                                     const ProcessTable& processes,
                                                                     const UnwindMaps* unwind_maps,
                                                                     ProfileKind* kind);

// A pprof sample type: what is counted, in what unit.
struct SampleTypeName {
  const char* type;  // "samples", "cpu", "alloc_space", ...
  const char* unit;  // "count", "nanoseconds", "bytes"
};

struct ProfileTypeInfo {
  ProfileType type;
  const char* name;         // --type, the schedule's `types`, file names
  const char* alias;        // another --type name for it, or nullptr
  const char* endpoint;     // its path under /debug/pprof/ (Go's name: "profile" for cpu)
  const char* description;  // the line on the /debug/pprof/ index page; nullptr: not listed
  bool needs_pid;           // uprobes and ptrace work on given processes only, not the host
  bool has_window;          // collected over ?seconds (goroutine is a snapshot, cmdline a read)
  bool cumulative;          // without ?seconds, counts since profd began counting (as Go's)
  const char* unscheduled;  // why the schedule cannot keep it ("is answered on request, ..."), or
                            // nullptr
  CollectorFactory load_collector;  // nullptr: no window of BPF samples (goroutine, cmdline)
  // Its uprobes go on a library's functions (the allocator's): a launched command's loader must
  // have mapped that library before the collector attaches.
  bool probes_libraries = false;
  // What its programs need of the kernel (collect/kernel_features.h), checked before it loads.
  uint32_t kernel_features = 0;
  // Its pprof sample types, in the profile's order, and the one pprof shows first ("": the last),
  // as Go's profile of the same name has them. Empty for cmdline, which is no profile.
  std::span<const SampleTypeName> sample_types = {};
  const char* default_sample_type = "";
  // The __name__ Pyroscope's own agents give it ("process_cpu", "memory"); nullptr: its name.
  const char* pyroscope_name = nullptr;
};

// Every type, in the order of Go's index page.
std::span<const ProfileTypeInfo> ProfileTypes();
// The row of `type` (every type has one).
const ProfileTypeInfo& InfoOf(ProfileType type);
// The row named `name` or its alias; nullptr when none is.
const ProfileTypeInfo* FindProfileType(std::string_view name);
// The row whose endpoint is `endpoint`; nullptr when none is.
const ProfileTypeInfo* FindProfileEndpoint(std::string_view endpoint);

// `type`'s sample types as the profile builder takes them.
std::vector<ValueType> SampleTypesOf(ProfileType type);

// The names the configuration's schedule.types may hold, from this table (config/ has no list).
std::vector<KnownProfileType> ScheduleTypeNames();

// "cpu, heap, allocs, block (alias offcpu), …, cmdline": for help and error messages.
std::string ProfileTypeList();

// Parses a --type value (with the aliases offcpu and threads); false for unknown names.
bool ParseProfileType(const std::string& name, ProfileType* type);
std::string ProfileTypeName(ProfileType type);

}  // namespace profd

#endif  // PROFD_DAEMON_PROFILES_PROFILE_TYPES_H

#include "profiles/profile_types.h"

#include <algorithm>

#include "collect/collectors.h"
#include "collect/cpu_sampler.h"
#include "collect/heap/heap_collector.h"
#include "collect/kernel_features.h"
#include "process/process_table.h"
#include "process/python_runtime.h"
#include "profiles/profile_request.h"
#include "profiles/top_table.h"

namespace profd {

namespace {

// Threads' stacks at events (a switch, a new thread), with the exec/exit notices every collector
// has.
constexpr uint32_t kWaitFeatures = kFeatureStackWalk | kFeatureRawTracepoints;
constexpr uint32_t kHeapFeatures =
    kWaitFeatures | kFeatureRingBuffer | kFeatureTaskStorage | kFeatureUprobeSessions;

// Go's sample types of each profile (runtime/pprof): block and mutex are its two "delay" profiles.
constexpr SampleTypeName kCpuSamples[] = {{"samples", "count"}, {"cpu", "nanoseconds"}};
constexpr SampleTypeName kHeapSamples[] = {{"alloc_objects", "count"},
                                           {"alloc_space", "bytes"},
                                           {"inuse_objects", "count"},
                                           {"inuse_space", "bytes"}};
constexpr SampleTypeName kDelaySamples[] = {{"contentions", "count"}, {"delay", "nanoseconds"}};
constexpr SampleTypeName kGoroutineSamples[] = {{"goroutine", "count"}};
constexpr SampleTypeName kThreadCreateSamples[] = {{"threadcreate", "count"}};

CollectorOptions Common(const ProfileRequest& request, const ProcessTable& processes,
                        const UnwindMaps* unwind_maps) {
  CollectorOptions common;
  common.all_processes = request.all_processes;
  common.follow_forks = request.follow_forks;
  common.unwind_maps = unwind_maps;
  common.dwarf_unwinding = request.dwarf_unwinding;
  common.pids = request.pids;
  if (request.owner_uid >= 0) common.owner_uid = static_cast<uint32_t>(request.owner_uid);
  // Given pids that are no interpreter now stay none (an exec into python later would show its
  // eval frames, not its Python ones): the Python walk is left out of the programs.
  common.python_frames = request.all_processes || request.follow_forks ||
                         std::any_of(request.pids.begin(), request.pids.end(), [&](pid_t pid) {
                           const ProcessInfo* process = processes.Find(pid);
                           return !process || FindPythonRuntime(*process).has_value();
                         });
  return common;
}

// What `type`'s profile records, its sample types from its row; one event per period.
ProfileKind KindOf(ProfileType type, ValueType period_type, int64_t period, std::string description,
                   std::string no_samples) {
  return {SampleTypesOf(type),    InfoOf(type).default_sample_type,
          std::move(period_type), period,
          std::move(description), std::move(no_samples)};
}

}  // namespace

ProfileKind CpuProfileKind(int frequency_hz) {
  return KindOf(ProfileType::kCpu, {"cpu", "nanoseconds"}, 1000000000LL / frequency_hz,
                "cpu profile at " + std::to_string(frequency_hz) + " Hz",
                "the target did not run on a CPU during the window");
}

namespace {

// Each type's loader (its row's load_collector): its collector's options from the request, and
// what its profile records.

Result<std::unique_ptr<StackCollector>> LoadCpu(const ProfileRequest& request,
                                                const ProcessTable& processes,
                                                const UnwindMaps* unwind_maps, ProfileKind* kind) {
  CpuSampler::Options o;
  static_cast<CollectorOptions&>(o) = Common(request, processes, unwind_maps);
  o.frequency_hz = request.frequency_hz;
  o.phase_timing = request.bpf_stats;
  *kind = CpuProfileKind(request.frequency_hz);
  return CpuSampler::Load(o);
}

Result<std::unique_ptr<StackCollector>> LoadBlock(const ProfileRequest& request,
                                                  const ProcessTable& processes,
                                                  const UnwindMaps* unwind_maps,
                                                  ProfileKind* kind) {
  const auto min_block_nanos = static_cast<uint64_t>(request.min_block_seconds * 1e9);
  *kind = KindOf(ProfileType::kBlock, {"contentions", "count"}, 1,
                 "block profile: off-CPU waits of at least " +
                     FormatValue(static_cast<int64_t>(min_block_nanos), "nanoseconds"),
                 "no thread of the target blocked (and woke) during the window");
  return LoadOffCpuCollector(Common(request, processes, unwind_maps), min_block_nanos);
}

Result<std::unique_ptr<StackCollector>> LoadMutex(const ProfileRequest& request,
                                                  const ProcessTable& processes,
                                                  const UnwindMaps* unwind_maps,
                                                  ProfileKind* kind) {
  *kind = KindOf(ProfileType::kMutex, {"contentions", "count"}, 1,
                 "mutex profile: waits on contended locks (futex wait and lock-pi)",
                 "no thread of the target waited on a contended lock during the window");
  return LoadMutexCollector(Common(request, processes, unwind_maps));
}

// heap and allocs: one collector, two defaults (as in Go).
Result<std::unique_ptr<StackCollector>> LoadHeap(const ProfileRequest& request,
                                                 const ProcessTable& processes,
                                                 const UnwindMaps* unwind_maps, ProfileKind* kind) {
  HeapCollector::Options o;
  static_cast<CollectorOptions&>(o) = Common(request, processes, unwind_maps);
  o.sample_rate = request.sample_rate_bytes;
  o.max_overhead_percent = request.max_overhead_percent;
  if (request.preload_sampler)
    for (bool jemalloc : {false, true})
      if (std::string path = PreloadLibrary(jemalloc); !path.empty())
        o.preload_libraries.push_back(path);
  const bool heap = request.type == ProfileType::kHeap;
  o.track_peak = heap && request.heap_peak;
  // Go's four heap values; the two profiles differ only in the default, as in Go.
  *kind = KindOf(request.type, {"space", "bytes"}, static_cast<int64_t>(request.sample_rate_bytes),
                 heap ? "heap profile: allocations made during the window and still live at its "
                        "end (blocks allocated before the window are not seen)"
                      : "allocs profile: allocations made during the window",
                 heap ? "no allocation made during the window was sampled and still live"
                      : "no allocation made during the window was sampled (the target allocated "
                        "less than --sample-rate bytes, or not through the probed malloc)");
  // A launched command's heap: also heaptrack's peak, beyond Go's four.
  if (o.track_peak)
    kind->sample_types.insert(kind->sample_types.end(),
                              {{"peak_inuse_objects", "count"}, {"peak_inuse_space", "bytes"}});
  return HeapCollector::Load(o, processes);
}

Result<std::unique_ptr<StackCollector>> LoadThreadCreate(const ProfileRequest& request,
                                                         const ProcessTable& processes,
                                                         const UnwindMaps* unwind_maps,
                                                         ProfileKind* kind) {
  // As Go's threadcreate profile: one count per thread created, at the creating stack.
  *kind = KindOf(ProfileType::kThreadCreate, {"threadcreate", "count"}, 1,
                 "threadcreate profile: threads created, by the creating thread's stack",
                 "the target created no thread during the window");
  return LoadThreadCreateCollector(Common(request, processes, unwind_maps));
}

// In the order of Go's index page.
constexpr ProfileTypeInfo kProfileTypes[] = {
    {ProfileType::kAllocs, "allocs", nullptr, "allocs",
     "A sampling of memory allocations: made in the last ?seconds, or (without) since profd began "
     "counting for the process.",
     /*needs_pid=*/true, /*has_window=*/true, /*cumulative=*/true, /*unscheduled=*/nullptr,
     /*load_collector=*/LoadHeap, /*probes_libraries=*/true, kHeapFeatures, kHeapSamples,
     "alloc_space", "memory"},
    {ProfileType::kBlock, "block", "offcpu", "block",
     "Stack traces that led to blocking off-CPU (sleep, I/O, futex waits), with the time blocked.",
     false, true, true, nullptr, LoadBlock, false, kWaitFeatures, kDelaySamples, "delay"},
    {ProfileType::kCmdline, "cmdline", nullptr, "cmdline", nullptr, true, false, false,
     "is answered on request, not kept on a schedule", nullptr},
    {ProfileType::kGoroutine, "goroutine", "threads", "goroutine",
     "Stack traces of every thread of the process, now.", true, false, false, nullptr, nullptr,
     false, 0, kGoroutineSamples},
    {ProfileType::kHeap, "heap", nullptr, "heap",
     "A sampling of memory allocated (in the last ?seconds, or since profd began counting) and "
     "still live.",
     true, true, true, nullptr, LoadHeap, true, kHeapFeatures, kHeapSamples, "inuse_space",
     "memory"},
    {ProfileType::kMutex, "mutex", nullptr, "mutex", "Stack traces of waiters on contended locks.",
     false, true, true, nullptr, LoadMutex, false, kWaitFeatures, kDelaySamples, "delay"},
    {ProfileType::kCpu, "cpu", nullptr, "profile", "CPU profile for ?seconds (default 30).", false,
     true, false, nullptr, LoadCpu, false,
     kFeatureStackWalk | kFeatureCpuClock | kFeatureRawTracepoints, kCpuSamples, "cpu",
     "process_cpu"},
    {ProfileType::kThreadCreate, "threadcreate", nullptr, "threadcreate",
     "Stack traces that created new threads.", false, true, true, nullptr, LoadThreadCreate, false,
     kWaitFeatures, kThreadCreateSamples},
};

}  // namespace

std::span<const ProfileTypeInfo> ProfileTypes() { return kProfileTypes; }

const ProfileTypeInfo& InfoOf(ProfileType type) {
  return *std::find_if(std::begin(kProfileTypes), std::end(kProfileTypes),
                       [type](const ProfileTypeInfo& t) { return t.type == type; });
}

const ProfileTypeInfo* FindProfileType(std::string_view name) {
  for (const ProfileTypeInfo& t : kProfileTypes)
    if (name == t.name || (t.alias && name == t.alias)) return &t;
  return nullptr;
}

const ProfileTypeInfo* FindProfileEndpoint(std::string_view endpoint) {
  for (const ProfileTypeInfo& t : kProfileTypes)
    if (endpoint == t.endpoint) return &t;
  return nullptr;
}

namespace {
// The order of the command line's help and the configuration's documentation: the enumerators'
// (cpu first).
std::vector<const ProfileTypeInfo*> InListOrder() {
  std::vector<const ProfileTypeInfo*> rows;
  for (const ProfileTypeInfo& t : kProfileTypes) rows.push_back(&t);
  std::sort(rows.begin(), rows.end(),
            [](const ProfileTypeInfo* a, const ProfileTypeInfo* b) { return a->type < b->type; });
  return rows;
}
}  // namespace

std::vector<ValueType> SampleTypesOf(ProfileType type) {
  std::vector<ValueType> types;
  for (const SampleTypeName& t : InfoOf(type).sample_types) types.push_back({t.type, t.unit});
  return types;
}

std::string ProfileTypeList() {
  std::string list;
  for (const ProfileTypeInfo* row : InListOrder()) {
    const ProfileTypeInfo& t = *row;
    list += std::string(list.empty() ? "" : ", ") + t.name;
    if (t.alias) list += std::string(" (alias ") + t.alias + ")";
  }
  return list;
}

std::vector<KnownProfileType> ScheduleTypeNames() {
  std::vector<KnownProfileType> names;
  for (const ProfileTypeInfo* row : InListOrder()) {
    const ProfileTypeInfo& t = *row;
    const std::string refusal = t.unscheduled ? t.unscheduled : "";
    names.push_back({t.name, t.name, refusal});
    if (t.alias) names.push_back({t.alias, t.name, refusal});
  }
  return names;
}

bool ParseProfileType(const std::string& name, ProfileType* type) {
  const ProfileTypeInfo* info = FindProfileType(name);
  if (info) *type = info->type;
  return info != nullptr;
}

std::string ProfileTypeName(ProfileType type) { return InfoOf(type).name; }

}  // namespace profd

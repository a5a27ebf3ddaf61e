#include "profiles/profile_types.h"

#include <algorithm>

#include "collect/kernel_features.h"
#include "profiles/collectors.h"

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

// In the order of Go's index page.
constexpr ProfileTypeInfo kProfileTypes[] = {
    {ProfileType::kAllocs, "allocs", nullptr, "allocs",
     "A sampling of memory allocations: made in the last ?seconds, or (without) since profd began "
     "counting for the process.",
     /*needs_pid=*/true, /*has_window=*/true, /*cumulative=*/true, /*unscheduled=*/nullptr,
     /*load_collector=*/LoadHeapCollector, /*probes_libraries=*/true, kHeapFeatures, kHeapSamples,
     "alloc_space", "memory"},
    {ProfileType::kBlock, "block", "offcpu", "block",
     "Stack traces that led to blocking off-CPU (sleep, I/O, futex waits), with the time blocked.",
     false, true, true, nullptr, LoadBlockCollector, false, kWaitFeatures, kDelaySamples, "delay"},
    {ProfileType::kCmdline, "cmdline", nullptr, "cmdline", nullptr, true, false, false,
     "is answered on request, not kept on a schedule", nullptr},
    {ProfileType::kGoroutine, "goroutine", "threads", "goroutine",
     "Stack traces of every thread of the process, now.", true, false, false, nullptr, nullptr,
     false, 0, kGoroutineSamples},
    {ProfileType::kHeap, "heap", nullptr, "heap",
     "A sampling of memory allocated (in the last ?seconds, or since profd began counting) and "
     "still live.",
     true, true, true, nullptr, LoadHeapCollector, true, kHeapFeatures, kHeapSamples,
     "inuse_space", "memory"},
    {ProfileType::kMutex, "mutex", nullptr, "mutex", "Stack traces of waiters on contended locks.",
     false, true, true, nullptr, LoadMutexCollector, false, kWaitFeatures, kDelaySamples, "delay"},
    {ProfileType::kCpu, "cpu", nullptr, "profile", "CPU profile for ?seconds (default 30).", false,
     true, false, nullptr, LoadCpuCollector, false,
     kFeatureStackWalk | kFeatureCpuClock | kFeatureRawTracepoints, kCpuSamples, "cpu",
     "process_cpu"},
    {ProfileType::kThreadCreate, "threadcreate", nullptr, "threadcreate",
     "Stack traces that created new threads.", false, true, true, nullptr,
     LoadThreadCreateCollector, false, kWaitFeatures, kThreadCreateSamples},
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
// The order of the command line's help and the configuration's documentation: cpu first.
constexpr ProfileType kListOrder[] = {ProfileType::kCpu,          ProfileType::kHeap,
                                      ProfileType::kAllocs,       ProfileType::kBlock,
                                      ProfileType::kMutex,        ProfileType::kGoroutine,
                                      ProfileType::kThreadCreate, ProfileType::kCmdline};
}  // namespace

std::vector<ValueType> SampleTypesOf(ProfileType type) {
  std::vector<ValueType> types;
  for (const SampleTypeName& t : InfoOf(type).sample_types) types.push_back({t.type, t.unit});
  return types;
}

std::string ProfileTypeList() {
  std::string list;
  for (ProfileType type : kListOrder) {
    const ProfileTypeInfo& t = InfoOf(type);
    list += std::string(list.empty() ? "" : ", ") + t.name;
    if (t.alias) list += std::string(" (alias ") + t.alias + ")";
  }
  return list;
}

std::vector<KnownProfileType> ScheduleTypeNames() {
  std::vector<KnownProfileType> names;
  for (ProfileType type : kListOrder) {
    const ProfileTypeInfo& t = InfoOf(type);
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

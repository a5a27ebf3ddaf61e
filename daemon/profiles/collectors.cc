#include "profiles/collectors.h"

#include "collect/cpu_sampler.h"
#include "collect/heap/heap_collector.h"
#include "collect/threadcreate_collector.h"
#include "collect/wait/mutex_collector.h"
#include "collect/wait/offcpu_collector.h"
#include "profiles/top_table.h"

namespace profd {

namespace {

CollectorOptions Common(const ProfileRequest& request) {
  CollectorOptions common;
  common.all_processes = request.all_processes;
  common.follow_forks = request.follow_forks;
  common.dwarf_unwinding = request.dwarf_unwinding;
  common.pids = request.pids;
  if (request.owner_uid >= 0) common.owner_uid = static_cast<uint32_t>(request.owner_uid);
  return common;
}

// What `type`'s profile records, its sample types from the type table; one event per period.
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

std::unique_ptr<StackCollector> LoadCpuCollector(const ProfileRequest& request, const ProcessTable&,
                                                 ProfileKind* kind, std::string* error) {
  CpuSampler::Options o;
  static_cast<CollectorOptions&>(o) = Common(request);
  o.frequency_hz = request.frequency_hz;
  o.phase_timing = request.bpf_stats;
  *kind = CpuProfileKind(request.frequency_hz);
  return CpuSampler::Load(o, error);
}

std::unique_ptr<StackCollector> LoadBlockCollector(const ProfileRequest& request,
                                                   const ProcessTable&, ProfileKind* kind,
                                                   std::string* error) {
  OffCpuCollector::Options o;
  static_cast<CollectorOptions&>(o) = Common(request);
  o.min_block_nanos = static_cast<uint64_t>(request.min_block_seconds * 1e9);
  *kind = KindOf(ProfileType::kBlock, {"contentions", "count"}, 1,
                 "block profile: off-CPU waits of at least " +
                     FormatValue(static_cast<int64_t>(o.min_block_nanos), "nanoseconds"),
                 "no thread of the target blocked (and woke) during the window");
  return OffCpuCollector::Load(o, error);
}

std::unique_ptr<StackCollector> LoadMutexCollector(const ProfileRequest& request,
                                                   const ProcessTable&, ProfileKind* kind,
                                                   std::string* error) {
  *kind = KindOf(ProfileType::kMutex, {"contentions", "count"}, 1,
                 "mutex profile: waits on contended locks (futex wait and lock-pi)",
                 "no thread of the target waited on a contended lock during the window");
  return MutexCollector::Load(Common(request), error);
}

std::unique_ptr<StackCollector> LoadHeapCollector(const ProfileRequest& request,
                                                  const ProcessTable& processes, ProfileKind* kind,
                                                  std::string* error) {
  HeapCollector::Options o;
  static_cast<CollectorOptions&>(o) = Common(request);
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
  return HeapCollector::Load(o, processes, error);
}

std::unique_ptr<StackCollector> LoadThreadCreateCollector(const ProfileRequest& request,
                                                          const ProcessTable&, ProfileKind* kind,
                                                          std::string* error) {
  // As Go's threadcreate profile: one count per thread created, at the creating stack.
  *kind = KindOf(ProfileType::kThreadCreate, {"threadcreate", "count"}, 1,
                 "threadcreate profile: threads created, by the creating thread's stack",
                 "the target created no thread during the window");
  return ThreadCreateCollector::Load(Common(request), error);
}

}  // namespace profd

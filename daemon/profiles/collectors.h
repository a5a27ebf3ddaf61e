// Each profile type's collector and what its profile records (pprof sample types, period, words):
// the factories the type table (profile_types.cc) names, one function per type.
#ifndef PROFD_DAEMON_PROFILES_COLLECTORS_H
#define PROFD_DAEMON_PROFILES_COLLECTORS_H

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "collect/stack_collector.h"
#include "process/process_table.h"
#include "profile_builder.h"
#include "profiles/profile_request.h"

namespace profd {

// What a profile type records: its pprof sample types and period.
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

// Each loads its type's BPF programs for `request`'s targets (observed in `processes`) and says
// what its profile records; null with `error` set when it cannot.
std::unique_ptr<StackCollector> LoadCpuCollector(const ProfileRequest& request,
                                                 const ProcessTable& processes, ProfileKind* kind,
                                                 std::string* error);
std::unique_ptr<StackCollector> LoadBlockCollector(const ProfileRequest& request,
                                                   const ProcessTable& processes,
                                                   ProfileKind* kind, std::string* error);
std::unique_ptr<StackCollector> LoadMutexCollector(const ProfileRequest& request,
                                                   const ProcessTable& processes,
                                                   ProfileKind* kind, std::string* error);
// heap and allocs: one collector, two defaults (as in Go).
std::unique_ptr<StackCollector> LoadHeapCollector(const ProfileRequest& request,
                                                  const ProcessTable& processes, ProfileKind* kind,
                                                  std::string* error);
std::unique_ptr<StackCollector> LoadThreadCreateCollector(const ProfileRequest& request,
                                                          const ProcessTable& processes,
                                                          ProfileKind* kind, std::string* error);

}  // namespace profd

#endif  // PROFD_DAEMON_PROFILES_COLLECTORS_H

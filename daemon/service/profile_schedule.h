// Continuous profiling: every schedule.interval, one profile per target process and configured
// type, written to the store (atomically, named by time, type, pid and command), then retention.
#ifndef PROFD_DAEMON_SERVICE_PROFILE_SCHEDULE_H
#define PROFD_DAEMON_SERVICE_PROFILE_SCHEDULE_H

#include <sys/types.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "daemon_config.h"

namespace profd {

class PushExporter;
class SharedSampler;

// The processes `targets` selects now: its pids (those alive), and every process whose command or
// executable matches a process_names pattern or whose cgroup matches a cgroups entry. Kernel
// threads and profd itself are left out.
std::vector<pid_t> ResolveTargets(const DaemonConfig::Targets& targets);

class ProfileSchedule {
 public:
  // `config` returns the configuration in force (read at the start of every round). CPU profiles
  // come from `shared_cpu` (sampling at `shared_cpu_frequency()` Hz) when it is given.
  // Every stored profile also goes to `exporter` (may be null) for the push exporters.
  ProfileSchedule(std::function<DaemonConfig()> config, SharedSampler* shared_cpu = nullptr,
                  std::function<int()> shared_cpu_frequency = nullptr,
                  PushExporter* exporter = nullptr);
  ~ProfileSchedule();  // Stop()s

  // Starts the rounds on a thread of their own.
  void Start();
  // Ends the running round's windows early (what was collected is still written) and waits.
  void Stop();

  uint64_t profiles_written() const { return written_.load(); }
  uint64_t rounds() const { return rounds_.load(); }

 private:
  void Run(std::stop_token stop);
  void Round(const DaemonConfig& config, std::stop_token stop);
  void CollectType(const DaemonConfig& config, const std::string& type,
                   const std::vector<pid_t>& pids, std::stop_token stop);

  std::function<DaemonConfig()> config_;
  SharedSampler* shared_cpu_;
  std::function<int()> shared_cpu_frequency_;
  PushExporter* exporter_;
  std::jthread thread_;
  std::atomic<uint64_t> written_{0};
  std::atomic<uint64_t> rounds_{0};
  std::mutex warned_mutex_;          // the types' threads share warned_
  std::vector<std::string> warned_;  // messages logged once
};

}  // namespace profd

#endif  // PROFD_DAEMON_SERVICE_PROFILE_SCHEDULE_H

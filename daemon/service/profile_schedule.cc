#include "service/profile_schedule.h"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>

#include "base/log.h"
#include "collect/kernel_features.h"
#include "process/proc_files.h"
#include "process/process_labels.h"
#include "process/process_table.h"
#include "profile_builder.h"
#include "profiles/profile_collection.h"
#include "profiles/profile_request.h"
#include "service/profile_store.h"
#include "service/push_exporter.h"

namespace profd {
namespace {

// A cgroups entry is a path (the cgroup or an ancestor) or a unit name (a path component).
bool CgroupMatches(const std::string& entry, const std::string& cgroup) {
  if (cgroup.empty()) return false;
  if (entry.front() == '/')
    return cgroup == entry || cgroup.rfind(entry + "/", 0) == 0 || entry == "/";
  size_t start = 0;
  while (start <= cgroup.size()) {
    size_t end = cgroup.find('/', start);
    if (end == std::string::npos) end = cgroup.size();
    if (cgroup.compare(start, end - start, entry) == 0) return true;
    start = end + 1;
  }
  return false;
}

bool NeedsPids(ProfileType type) { return InfoOf(type).needs_pid; }

}  // namespace

std::vector<pid_t> ResolveTargets(const DaemonConfig::Targets& targets) {
  std::set<pid_t> pids;
  for (pid_t pid : targets.pids)
    if (ProcessExists(pid) && !IsKernelThread(pid)) pids.insert(pid);
  if (!targets.process_names.empty() || !targets.cgroups.empty()) {
    DIR* proc = opendir("/proc");
    while (dirent* entry = proc ? readdir(proc) : nullptr) {
      char* end = nullptr;
      const long pid = std::strtol(entry->d_name, &end, 10);
      if (*end != '\0' || pid <= 0 || pid == getpid() || IsKernelThread(pid)) continue;
      const std::string comm = ReadProcessComm(pid);
      const std::string exe = ExecutableOf(pid);
      bool selected = false;
      for (const std::string& pattern : targets.process_names)
        selected = selected || ProcessNameMatches(pattern, comm, exe);
      if (!selected && !targets.cgroups.empty()) {
        const std::string cgroup = CgroupOf(pid);
        for (const std::string& c : targets.cgroups)
          selected = selected || CgroupMatches(c, cgroup);
      }
      if (selected) pids.insert(static_cast<pid_t>(pid));
    }
    if (proc) closedir(proc);
  }
  return {pids.begin(), pids.end()};
}

ProfileSchedule::ProfileSchedule(std::function<DaemonConfig()> config, SharedSampler* shared_cpu,
                                 std::function<int()> shared_cpu_frequency,
                                 PushExporter* exporter)
    : config_(std::move(config)),
      shared_cpu_(shared_cpu),
      shared_cpu_frequency_(std::move(shared_cpu_frequency)),
      exporter_(exporter) {}

ProfileSchedule::~ProfileSchedule() { Stop(); }

void ProfileSchedule::Start() {
  thread_ = std::jthread([this](std::stop_token stop) { Run(stop); });
}

void ProfileSchedule::Stop() {
  if (!thread_.joinable()) return;
  thread_.request_stop();
  thread_.join();
}

void ProfileSchedule::Run(std::stop_token stop) {
  std::mutex mutex;
  std::condition_variable_any wake;
  while (!stop.stop_requested()) {
    const DaemonConfig config = config_();
    const auto round_start = std::chrono::steady_clock::now();
    if (!config.schedule.types.empty()) Round(config, stop);
    rounds_++;
    std::unique_lock<std::mutex> lock(mutex);
    wake.wait_until(lock, stop, round_start + config.schedule.interval, [] { return false; });
  }
}

void ProfileSchedule::Round(const DaemonConfig& config, std::stop_token stop) {
  std::vector<pid_t> pids;
  if (!config.targets.all) {
    pids = ResolveTargets(config.targets);
    if (pids.empty()) {
      LogDebug("schedule: no process matches the targets now");
      return;
    }
  }
  // Windowed types run side by side, so one round takes one window whatever the types.
  std::vector<std::jthread> collections;
  for (const std::string& type : config.schedule.types)
    collections.emplace_back([&, type] { CollectType(config, type, pids, stop); });
  collections.clear();  // joins

  ProfileStore store(config.store.directory,
                     std::chrono::duration_cast<std::chrono::seconds>(config.store.max_age),
                     config.store.max_bytes);
  const RetentionResult retention = store.EnforceRetention(std::chrono::system_clock::now());
  for (const std::string& e : retention.errors) LogWarning("store retention: " + e);
  if (retention.removed_for_age + retention.removed_for_size > 0)
    LogDebug("store retention removed " +
             std::to_string(retention.removed_for_age + retention.removed_for_size) + " profiles");
}

void ProfileSchedule::CollectType(const DaemonConfig& config, const std::string& type_name,
                                  const std::vector<pid_t>& pids, std::stop_token stop) {
  ProfileType type;
  if (!ParseProfileType(type_name, &type)) return;  // the config loader refuses unknown types
  auto warn_once = [this](const std::string& message) {
    std::lock_guard<std::mutex> lock(warned_mutex_);
    if (std::find(warned_.begin(), warned_.end(), message) == warned_.end()) {
      LogWarning(message);
      warned_.push_back(message);
    }
  };
  if (config.targets.all && NeedsPids(type)) {
    warn_once("schedule: " + type_name +
              " profiles given processes, not the whole host: it is left out while targets.all "
              "is true (list pids, process_names or cgroups)");
    return;
  }
  if (std::string missing = MissingKernelFeatures(InfoOf(type).kernel_features);
      !missing.empty()) {
    warn_once("schedule: " + type_name + " profiles are left out: " + missing);
    return;
  }
  ProfileStore store(config.store.directory,
                     std::chrono::duration_cast<std::chrono::seconds>(config.store.max_age),
                     config.store.max_bytes);
  std::string error;
  if (!store.Init(&error)) {
    LogError("schedule: " + error);
    return;
  }
  const auto time = std::chrono::system_clock::now();
  ProfileRequest request;
  request.type = type;
  request.all_processes = config.targets.all;
  request.seconds = std::chrono::duration<double>(config.schedule.cpu_seconds).count();
  ApplyDaemonSettings(config, &request);
  request.split_by_pid = true;
  CollectionHooks hooks;
  hooks.stop_requested = [&stop] { return stop.stop_requested(); };
  hooks.abandon_when_stopped = true;  // the daemon is stopping: nothing is written
  hooks.shared_cpu = shared_cpu_;
  hooks.shared_cpu_frequency = shared_cpu_frequency_;

  // One request per process for the thread dump (it has no window); one for all of them else.
  std::vector<CollectedProfile> collected;
  if (type == ProfileType::kGoroutine) {
    for (pid_t pid : pids) {
      if (static_cast<int>(collected.size()) >= config.limits.max_targets) break;
      request.pids = {pid};
      collected.push_back(CollectProfile(request, hooks));
      if (collected.back().builder)
        collected.back().per_pid.push_back(
            {pid, 0, std::move(collected.back().builder), ReadProcessComm(pid)});
    }
  } else {
    // Processes that exited since they were resolved are not an error for the schedule.
    for (pid_t pid : pids)
      if (ProcessExists(pid)) request.pids.push_back(pid);
    if (!request.all_processes && request.pids.empty()) return;
    collected.push_back(CollectProfile(request, hooks));
  }
  int stored = 0, handled = 0;
  for (CollectedProfile& c : collected) {
    if (c.status == CollectedProfile::Status::kStopped) return;
    if (c.status != CollectedProfile::Status::kOk &&
        c.status != CollectedProfile::Status::kPartial) {
      LogWarning("schedule: " + type_name + " profile failed: " + c.error);
      continue;
    }
    for (CollectedProfile::ProcessProfile& p : c.per_pid) {
      if (handled++ >= config.limits.max_targets) break;
      StoredProfileInfo info;
      info.time = time;
      info.type = type_name;
      info.pid = p.pid;
      // The name seen while collecting: a process that has exited since still has it.
      info.comm = !p.comm.empty() ? p.comm : ReadProcessComm(p.pid);
      if (info.comm.empty()) info.comm = "unknown";
      const std::string gzipped = p.builder->SerializeGzipped();
      // The backends get it even when the store cannot keep it (full disk): they are another
      // destination, not a copy of the store.
      if (store.Write(info, gzipped, nullptr, &error)) {
        stored++;
        written_++;
      } else {
        LogWarning("schedule: " + error);
      }
      if (exporter_ && !config.exporters.empty()) {
        ExportedProfile exported;
        exported.type = type_name;
        exported.pid = p.pid;
        exported.comm = info.comm;
        exported.exe = p.pid > 0 ? ExecutableOf(p.pid) : "";
        const std::string cgroup = p.pid > 0 ? CgroupOf(p.pid) : "";
        exported.service_name = ServiceNameOf(cgroup, info.comm, exported.exe);
        exported.container_id = ContainerIdOf(cgroup);
        exported.start = time;
        exported.end = std::chrono::system_clock::now();
        exported.gzipped = gzipped;
        exporter_->Export(exported);
      }
    }
  }
  LogDebug("schedule: " + std::to_string(stored) + " " + type_name + " profiles stored");
}

}  // namespace profd

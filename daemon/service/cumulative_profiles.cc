#include "service/cumulative_profiles.h"

#include <algorithm>
#include <future>
#include <vector>

#include "base/log.h"

namespace profd {
namespace {

int64_t SteadyNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Requests that one collection can answer: same type, targets and collection settings.
std::string RequestKey(const ProfileRequest& r) {
  std::vector<pid_t> pids = r.pids;
  std::sort(pids.begin(), pids.end());
  std::string key = ProfileTypeName(r.type) + (r.all_processes ? " all" : " pids");
  for (pid_t pid : pids) key += " " + std::to_string(pid);
  key += " unwind=" + std::string(r.dwarf_unwinding ? "dwarf" : "fp") +
         " min_block=" + std::to_string(r.min_block_seconds) +
         " sample_rate=" + std::to_string(r.sample_rate_bytes) +
         " max_overhead=" + std::to_string(r.max_overhead_percent) +
         " owner=" + std::to_string(r.owner_uid);
  return key;
}

// "mutex of pids 12 34", for the log.
std::string Describe(const ProfileRequest& r) {
  std::string text = ProfileTypeName(r.type) + (r.all_processes ? " of the host" : " of pid");
  for (pid_t pid : r.pids) text += " " + std::to_string(pid);
  return text;
}

}  // namespace

CumulativeProfiles::~CumulativeProfiles() {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& [key, collection] : collections_) collection->thread.request_stop();
  collections_.clear();  // joins: each collection's loop notices within 100 ms
}

CollectedProfile CumulativeProfiles::Get(const ProfileRequest& request, const Limits& limits,
                                         std::stop_token client) {
  std::future<CollectedProfile> answer;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    // Ended collections (expired, targets gone, failed) make room.
    for (auto it = collections_.begin(); it != collections_.end();) {
      if (it->second->ended) {
        it = collections_.erase(it);
      } else {
        ++it;
      }
    }
    const std::string key = RequestKey(request);
    auto it = collections_.find(key);
    if (it == collections_.end()) {
      if (static_cast<int>(collections_.size()) >= limits.max_tracked) {
        CollectedProfile refused;
        refused.status = CollectedProfile::Status::kBadRequest;
        refused.error =
            limits.max_tracked == 0
                ? "cumulative profiles (requests without ?seconds) are turned off "
                  "(limits.max_cumulative_profiles: 0); ask with ?seconds=N for a window"
                : "cumulative profiles (requests without ?seconds) are kept for " +
                      std::to_string(limits.max_tracked) +
                      " sets of targets at most (limits.max_cumulative_profiles), and that many "
                      "are kept now; ask with ?seconds=N for a window instead";
        return refused;
      }
      auto collection = std::make_unique<Collection>();
      Collection* c = collection.get();
      c->last_asked = SteadyNanos();
      const int64_t expiry = limits.idle_expiry.count();
      ProfileRequest forever = request;
      forever.seconds = 1e9;  // ends when nobody asks any more
      c->thread = std::jthread([c, forever, expiry, this](std::stop_token stop) {
        CollectionHooks hooks;
        hooks.stop_requested = [&] {
          return stop.stop_requested() || SteadyNanos() - c->last_asked > expiry;
        };
        hooks.abandon_when_stopped = true;
        hooks.shared_symbolizer = symbolizers_;
        hooks.snapshots = &c->snapshots;
        LogInfo("cumulative " + Describe(forever) + ": counting from now on");
        CollectedProfile end = CollectProfile(forever, hooks);
        switch (end.status) {
          case CollectedProfile::Status::kFailed:
          case CollectedProfile::Status::kTargetMissing:
          case CollectedProfile::Status::kBadRequest:
            c->snapshots.Close(end.status, end.error);
            break;
          default:  // expired, the daemon stops, or every target exited
            c->snapshots.Close(CollectedProfile::Status::kTargetMissing,
                               end.status == CollectedProfile::Status::kPartial
                                   ? "the target processes have exited"
                                   : "profd stopped collecting this profile; ask again");
        }
        std::string why = end.error;
        if (end.status == CollectedProfile::Status::kStopped)
          why = stop.stop_requested() ? "profd is stopping" : "nobody asked for it lately";
        else if (end.status == CollectedProfile::Status::kPartial)
          why = "its targets exited";
        LogInfo("cumulative " + Describe(forever) + ": ended (" + why + ")");
        c->ended = true;
      });
      it = collections_.emplace(key, std::move(collection)).first;
      started_++;
    }
    it->second->last_asked = SteadyNanos();
    answer = it->second->snapshots.Ask();
  }
  while (answer.wait_for(std::chrono::milliseconds(100)) != std::future_status::ready) {
    if (client.stop_requested()) {
      CollectedProfile stopped;
      stopped.status = CollectedProfile::Status::kStopped;
      stopped.error = "stopped";
      return stopped;  // the collection answers into a future nobody reads
    }
  }
  return answer.get();
}

std::string CumulativeProfiles::Metrics() const {
  std::lock_guard<std::mutex> lock(mutex_);
  size_t running = 0;
  for (const auto& [key, collection] : collections_) running += !collection->ended;
  return "# HELP profd_cumulative_profiles Cumulative profiles (requests without ?seconds) being "
         "collected now.\n"
         "# TYPE profd_cumulative_profiles gauge\n"
         "profd_cumulative_profiles " +
         std::to_string(running) +
         "\n# HELP profd_cumulative_profiles_started_total Cumulative profile collections "
         "started.\n"
         "# TYPE profd_cumulative_profiles_started_total counter\n"
         "profd_cumulative_profiles_started_total " +
         std::to_string(started_) + "\n";
}

}  // namespace profd

// The daemon's cumulative profiles. From Go, allocs, heap, block, mutex and threadcreate asked for
// without ?seconds are counts that only grow, and scrapers (Parca, Grafana Alloy) take the deltas
// themselves. Go counts from the process's start; profd counts from the first such request for the
// same targets and settings, then keeps one collection running for them and answers each request
// with everything it has counted so far. A collection nobody has asked for in
// limits.cumulative_idle_expiry ends and releases its programs.
#ifndef PROFD_DAEMON_SERVICE_CUMULATIVE_PROFILES_H
#define PROFD_DAEMON_SERVICE_CUMULATIVE_PROFILES_H

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>

#include "profiles/profile_collection.h"
#include "profiles/profile_request.h"

namespace profd {

class SharedSampler;

class CumulativeProfiles {
 public:
  struct Limits {
    int max_tracked = 16;  // 0: refused
    std::chrono::nanoseconds idle_expiry = std::chrono::minutes(10);
  };

  CumulativeProfiles() = default;
  ~CumulativeProfiles();  // ends every collection

  // The daemon's symbolizers, shared with its other profiles (before the first Get).
  void UseSymbolizers(SharedSampler* symbolizers) { symbolizers_ = symbolizers; }

  // What has been counted for `request`'s targets, type and settings since the first such request
  // (this one, if none came before: its profile then holds nearly nothing). kBadRequest when
  // `limits` allow no more collections; kStopped when `client` went away first.
  CollectedProfile Get(const ProfileRequest& request, const Limits& limits,
                       std::stop_token client);

  // /metrics lines: collections running now, and started since the daemon started.
  std::string Metrics() const;

 private:
  struct Collection {
    SnapshotRequests snapshots;
    std::atomic<int64_t> last_asked{0};  // steady clock, nanoseconds
    std::atomic<bool> ended{false};
    std::jthread thread;
  };

  SharedSampler* symbolizers_ = nullptr;
  mutable std::mutex mutex_;
  std::map<std::string, std::unique_ptr<Collection>> collections_;  // by RequestKey
  uint64_t started_ = 0;
};

}  // namespace profd

#endif  // PROFD_DAEMON_SERVICE_CUMULATIVE_PROFILES_H

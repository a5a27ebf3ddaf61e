// Push exporters (config `export`): every scheduled profile is written into the spool directory
// once per configured backend, and a thread of its own delivers the spool oldest first, so a slow
// or absent backend never holds up the schedule. Delivery is at least once: a profile leaves the
// spool only when its backend took it, and each carries a stable id. A failure that may pass (no
// answer, a timeout, 5xx, 429) is retried with exponential backoff and jitter (Retry-After
// honoured); a refusal (another 4xx; for otlp any error but 429, 502, 503 and 504) sets the file
// aside, logged once with the server's reason, until the exporters' configuration changes. The
// spool is bounded in bytes and age (the oldest go first) and survives restarts.
//
// What each kind sends (pyroscope, parca, otlp) is export_request.h's.
#ifndef PROFD_DAEMON_SERVICE_PUSH_EXPORTER_H
#define PROFD_DAEMON_SERVICE_PUSH_EXPORTER_H

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <stop_token>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "daemon_config.h"
#include "service/export_request.h"

namespace profd {

// What spool retention did: files dropped by age and by bytes, and what is left.
struct SpoolRetention {
  uint64_t dropped_for_age = 0, dropped_for_bytes = 0;
  uint64_t bytes_left = 0, files_left = 0;
  uint64_t temporaries_removed = 0;
};
// Drops the spool's files (waiting and refused) older than spool.max_age at `now`, then the
// oldest until they take at most spool.max_bytes. The names start with the time they were spooled.
// Temporaries a write left (profd stopped mid-write) go once a minute old.
SpoolRetention EnforceSpoolRetention(const DaemonConfig::Spool& spool,
                                     std::chrono::system_clock::time_point now);

class PushExporter {
 public:
  // `config` returns the configuration in force (read at every pass of the delivery thread).
  explicit PushExporter(std::function<DaemonConfig()> config);
  ~PushExporter();  // Stop()s

  // Starts the delivery thread (profiles spooled before a restart go first).
  void Start();
  void Stop();

  // Spools `profile` once for each exporter configured now; never waits on a backend.
  void Export(const ExportedProfile& profile);

  // The exporters' part of /metrics.
  std::string MetricsText() const;

 private:
  // What one push came to.
  struct PushResult : ExportAnswer {
    std::chrono::seconds retry_after{0};
  };
  PushResult Push(const DaemonConfig::Exporter& exporter, const std::string& body,
                  const std::string& query);
  void Run(std::stop_token stop);
  // One pass over the spool: retention, then every file whose backend is not backing off.
  // Returns when to look again.
  std::chrono::steady_clock::time_point Pass(const DaemonConfig& config);

  std::function<DaemonConfig()> config_;
  std::string hostname_;
  std::jthread thread_;
  std::mutex wake_mutex_;
  std::condition_variable_any wake_;
  bool new_work_ = false;  // under wake_mutex_

  // Per backend (kind and url): how many pushes failed in a row, and when to try again.
  struct Backoff {
    int failures = 0;
    std::string cause;  // of the last failure: another answer starts the backoff over
    std::chrono::steady_clock::time_point until;
  };
  std::map<std::string, Backoff> backoff_;  // the delivery thread's
  std::vector<DaemonConfig::Exporter> last_exporters_;
  std::set<std::string> refusals_logged_;
  std::atomic<uint64_t> sequence_{0};
  std::atomic<bool> stopping_{false};  // Stop() was called: a push in flight is abandoned

  mutable std::mutex metrics_mutex_;
  uint64_t spooled_ = 0, pushed_ = 0, retried_ = 0, refused_ = 0, spool_write_errors_ = 0;
  uint64_t rejected_in_part_ = 0;  // otlp: profiles a partial success dropped
  std::map<std::string, uint64_t> failed_;   // by cause
  std::map<std::string, uint64_t> dropped_;  // by reason: age, bytes
  uint64_t spool_bytes_ = 0, spool_files_ = 0;
  double push_seconds_sum_ = 0;
  uint64_t push_seconds_count_ = 0;
};

}  // namespace profd

#endif  // PROFD_DAEMON_SERVICE_PUSH_EXPORTER_H

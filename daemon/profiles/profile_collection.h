// Collecting one profile: check the targets, load and attach the collector of the type, run the
// window, symbolize, and build the pprof profile. The one-shot command and the daemon both use it.
#ifndef PROFD_DAEMON_PROFILES_PROFILE_COLLECTION_H
#define PROFD_DAEMON_PROFILES_PROFILE_COLLECTION_H

#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "daemon_config.h"
#include "profile_builder.h"
#include "profiles/profile_request.h"

namespace profd {

class SharedSampler;

class SnapshotRequests;

struct CollectionHooks {
  std::function<bool()> stop_requested;  // polled about every 100 ms: true ends the window early
  std::function<void(double elapsed, double total)> progress;  // about once a second
  // Called once the collector is attached, before the window's first wait: the launch command
  // runs its stopped command on to where its loader has mapped its libraries. The targets'
  // mappings are then read again, and `release` lets them run, so nothing of them runs
  // unobserved.
  std::function<void()> attached;
  std::function<void()> release;
  // The window ends when the targets exit (a launched command): their exit is the end, not an
  // early one.
  bool until_exit = false;
  // When stop_requested ends the window: false keeps and builds what was collected (Ctrl-C in the
  // CLI); true returns at once with Status::kStopped (the daemon is shutting down, or the client
  // went away), releasing the BPF programs without symbolizing.
  bool abandon_when_stopped = false;
  // The daemon's host-wide CPU sampler: cpu requests subscribe to it instead of loading their own.
  // shared_cpu_frequency says at what frequency it samples (asked once subscribed).
  SharedSampler* shared_cpu = nullptr;
  std::function<int()> shared_cpu_frequency;
  // The daemon's symbolizers (through its shared sampler), so that DWARF read for one profile
  // serves the next; null: each profile reads its own.
  SharedSampler* shared_symbolizer = nullptr;
  // Not null: the window runs until stop_requested, and profiles of what it has gathered so far
  // are handed to these requests as they come (never with SharedSampler's cpu).
  SnapshotRequests* snapshots = nullptr;
};

struct CollectedProfile {
  enum class Status {
    kOk,
    kPartial,        // a target exited (or stopped being the caller's) before the window ended: the
                     // profile holds what came before
    kFailed,         // nothing collected: the environment, privileges, kernel features
    kTargetMissing,  // a target process does not exist
    kBadRequest,     // the request cannot be served as asked
    kStopped,        // abandoned: see CollectionHooks::abandon_when_stopped
  };
  Status status = Status::kFailed;
  std::string error;                        // unless kOk or kPartial: what is wrong, what to do
  std::unique_ptr<ProfileBuilder> builder;  // kOk, kPartial
  bool empty = false;                       // no samples (a warning saying why has been logged)
  bool stopped_early = false;               // hooks.stop_requested ended the window
  // With ProfileRequest::split_by_pid: one profile per process, the heaviest first.
  struct ProcessProfile {
    pid_t pid;
    int64_t weight;  // its total of the last sample type
    std::unique_ptr<ProfileBuilder> builder;
    std::string comm;  // its name as seen while collecting ("" if never read)
  };
  std::vector<ProcessProfile> per_pid;
  double seconds = 0;  // the window's length as collected
};

// Requests for a profile of what a running collection has gathered so far, without ending it (the
// daemon's cumulative profiles): askers wait on a future; the collection's loop takes and answers
// them between its other work; when the collection ends, Close answers the rest and later askers.
class SnapshotRequests {
 public:
  std::future<CollectedProfile> Ask();
  std::vector<std::promise<CollectedProfile>> Take();
  // `why` (a failed status and its error) for every pending and later asker.
  void Close(CollectedProfile::Status status, const std::string& why);

 private:
  std::mutex mutex_;
  std::vector<std::promise<CollectedProfile>> pending_;
  bool closed_ = false;
  CollectedProfile::Status closed_status_ = CollectedProfile::Status::kFailed;
  std::string closed_why_;
};

// The daemon configuration's collection settings (frequency, unwinding, --min-block, heap
// sampling and budget) on `request`, as the CLI's flags would set them.
void ApplyDaemonSettings(const DaemonConfig& config, ProfileRequest* request);

// "1.5s", "30s": a duration as profd prints it.
std::string Seconds(double seconds);

// Any type but cmdline. Warnings (drops, exits) are logged as they happen.
CollectedProfile CollectProfile(const ProfileRequest& request, const CollectionHooks& hooks);

}  // namespace profd

#endif  // PROFD_DAEMON_PROFILES_PROFILE_COLLECTION_H

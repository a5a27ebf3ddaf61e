// Collecting one profile: check the targets, load and attach the collector of the type, run the
// window, symbolize, and build the pprof profile. The one-shot command and the daemon both use it.
#ifndef PROFD_DAEMON_PROFILE_COLLECTION_H
#define PROFD_DAEMON_PROFILE_COLLECTION_H

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cli.h"
#include "daemon_config.h"
#include "profile_builder.h"

namespace profd {

class SharedSampler;

struct CollectionHooks {
  std::function<bool()> stop_requested;  // polled about every 100 ms: true ends the window early
  std::function<void(double elapsed, double total)> progress;  // about once a second
  // When stop_requested ends the window: false keeps and builds what was collected (Ctrl-C in the
  // CLI); true returns at once with Status::kStopped (the daemon is shutting down, or the client
  // went away), releasing the BPF programs without symbolizing.
  bool abandon_when_stopped = false;
  // The daemon's host-wide CPU sampler: cpu requests subscribe to it instead of loading their own.
  // shared_cpu_frequency says at what frequency it samples (asked once subscribed).
  SharedSampler* shared_cpu = nullptr;
  std::function<int()> shared_cpu_frequency;
};

struct CollectedProfile {
  enum class Status {
    kOk,
    kPartial,        // a target exited before the window ended: the profile holds what came before
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
  };
  std::vector<ProcessProfile> per_pid;
  double seconds = 0;  // the window's length as collected
};

// The daemon configuration's collection settings (frequency, unwinding, --min-block, heap
// sampling and budget) on `request`, as the CLI's flags would set them.
void ApplyDaemonSettings(const DaemonConfig& config, ProfileRequest* request);

// "1.5s", "30s": a duration as profd prints it.
std::string Seconds(double seconds);

// Any type but cmdline. Warnings (drops, exits) are logged as they happen.
CollectedProfile CollectProfile(const ProfileRequest& request, const CollectionHooks& hooks);

}  // namespace profd

#endif  // PROFD_DAEMON_PROFILE_COLLECTION_H

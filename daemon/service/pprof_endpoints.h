// net/http/pprof for every process: /debug/pprof/{profile,heap,allocs,block,mutex,goroutine,
// threadcreate,cmdline,symbol} with ?pid=P (none: the whole host where the type allows it),
// ?seconds=N and ?debug=1, answered the way Go's handlers answer (parameters, content types,
// errors with X-Go-Pprof: 1), plus /metrics in Prometheus text format.
//
// Beyond Go's parameters, the profile endpoints take the CLI's knobs, so `profd --pid` asking the
// daemon gets the profile it would have collected itself: frequency (Hz, 1..10000), unwind (dwarf
// or fp), min_block (a duration, 0..60s), sample_rate (bytes, 1..1TiB), max_overhead (percent,
// (0, 100]); left out, the daemon's configuration decides. What a collection gave is also in the
// header X-Profd-Outcome (ok, partial, bad_request, not_found), so a 400 about parameters can be
// told from one about the target.
//
// One rule for both doors (see CallerMayProfile): a caller other than root (or the configured
// security.admin_group), over the control socket or loopback HTTP, may name only processes of its
// own uid; anything else is a 403. /metrics and the index are open to all.
#ifndef PROFD_DAEMON_SERVICE_PPROF_ENDPOINTS_H
#define PROFD_DAEMON_SERVICE_PPROF_ENDPOINTS_H

#include <sys/socket.h>
#include <sys/types.h>

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "daemon_config.h"
#include "profiles/profile_collection.h"
#include "profiles/profile_request.h"
#include "profiles/profile_types.h"
#include "service/cumulative_profiles.h"
#include "service/http_server.h"

namespace perftools::profiles {
class Profile;
}

namespace profd {

// net/http/pprof's error response: `status`, a text/plain body of `message` and a newline, and the
// X-Go-Pprof: 1 header by which `go tool pprof` shows the body instead of a parse error.
HttpResponse PprofErrorResponse(int status, const std::string& message);

class SharedSampler;

class PprofEndpoints {
 public:
  // `config` returns the configuration in force (it may change on SIGHUP).
  explicit PprofEndpoints(std::function<DaemonConfig()> config);

  // CPU profiles at the shared sampler's frequency and unwinding come from it (the others load
  // their own collector).
  void UseSharedCpuSampler(SharedSampler* sampler, std::function<int()> frequency,
                           bool dwarf_unwinding) {
    shared_cpu_ = sampler;
    shared_cpu_frequency_ = std::move(frequency);
    shared_cpu_dwarf_ = dwarf_unwinding;
    cumulative_.UseSymbolizers(sampler);
  }

  HttpResponse Handle(const HttpRequest& request, std::stop_token stop);

  // More /metrics lines (Prometheus text), from the parts of the daemon the endpoints do not own.
  void AddMetrics(std::function<std::string()> metrics) { extra_metrics_ = std::move(metrics); }

  // Profile requests being collected now.
  int running() const { return running_.load(); }
  uint64_t served() const { return served_.load(); }

 private:
  HttpResponse Index() const;
  HttpResponse Cmdline(const HttpRequest& request) const;
  // A /debug/pprof/NAME profile: the request read (ReadAsk), collected (Collect) and answered
  // (Answer), within the limit on requests at once.
  HttpResponse Profile(const std::string& name, const HttpRequest& request, std::stop_token stop);
  struct ProfileAsk {
    ProfileRequest profile;
    bool cumulative = false;  // no ?seconds for a type that can be: since the first such request
    bool debug_text = false;  // ?debug=1
  };
  // The query and the caller's rights as a request; the error response when they make none.
  std::optional<HttpResponse> ReadAsk(const std::string& name, const ProfileTypeInfo& endpoint,
                                      const HttpRequest& request, const DaemonConfig& config,
                                      ProfileAsk* ask);
  CollectedProfile Collect(const ProfileAsk& ask, const DaemonConfig& config,
                           const HttpRequest& request, std::stop_token stop);
  // `ok` (its headers set) with the profile, or the error response of how the collection ended.
  HttpResponse Answer(const std::string& name, const HttpRequest& request,
                      const DaemonConfig& config, bool debug_text, CollectedProfile* collected,
                      HttpResponse ok);
  HttpResponse Metrics() const;
  void Count(const std::string& type, const std::string& outcome);

  std::function<DaemonConfig()> config_;
  std::function<std::string()> extra_metrics_;
  SharedSampler* shared_cpu_ = nullptr;
  std::function<int()> shared_cpu_frequency_;
  bool shared_cpu_dwarf_ = true;
  std::atomic<int> running_{0};
  std::atomic<uint64_t> served_{0};
  mutable std::mutex counts_mutex_;
  std::map<std::pair<std::string, std::string>, uint64_t> counts_;  // (type, outcome) → requests
  // Declared last, so destroyed first: its collections end before what they use goes.
  CumulativeProfiles cumulative_;
};



// A profile as net/http/pprof's debug=1 text: a header line, then per sample its values, "@" and
// its addresses, and a "#" line per frame with function, file and line.
std::string FormatProfileText(const std::string& name, const perftools::profiles::Profile& profile);

// May the control socket's caller `peer` profile `pids` (empty: the whole host)? Root may profile
// anything; another user only processes that are wholly theirs as the kernel sees it for ptrace:
// real, effective, saved and filesystem uid all the caller's, and dumpable (/proc/PID owned by the
// caller). False with `status` (403, or 404 for a pid that does not exist) and a `message` saying
// whose process it is.
// Members of `admin_group` (a group's name; "" for none) may profile anything, as root.
bool PeerMayProfile(const ucred& peer, const std::vector<pid_t>& pids, int* status,
                    std::string* message, const std::string& admin_group = "");

// PeerMayProfile for a request from either door: a request with the bearer token acts as root;
// one whose caller the server could not tell (HttpRequest::peer unset) gets a 403.
bool CallerMayProfile(const HttpRequest& request, const std::vector<pid_t>& pids,
                      const std::string& admin_group, int* status, std::string* message);

}  // namespace profd

#endif  // PROFD_DAEMON_SERVICE_PPROF_ENDPOINTS_H

// net/http/pprof for every process: /debug/pprof/{profile,heap,allocs,block,mutex,goroutine,
// threadcreate,cmdline,symbol} with ?pid=P (none: the whole host where the type allows it),
// ?seconds=N and ?debug=1, answered the way Go's handlers answer (parameters, content types,
// errors with X-Go-Pprof: 1), plus /metrics in Prometheus text format.
#ifndef PROFD_DAEMON_PPROF_ENDPOINTS_H
#define PROFD_DAEMON_PPROF_ENDPOINTS_H

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <stop_token>
#include <string>

#include "daemon_config.h"
#include "http_server.h"

namespace perftools::profiles {
class Profile;
}

namespace profd {

class PprofEndpoints {
 public:
  // `config` returns the configuration in force (it may change on SIGHUP).
  explicit PprofEndpoints(std::function<DaemonConfig()> config);

  HttpResponse Handle(const HttpRequest& request, std::stop_token stop);

  // Profile requests being collected now.
  int running() const { return running_.load(); }
  uint64_t served() const { return served_.load(); }

 private:
  HttpResponse Index() const;
  HttpResponse Cmdline(const HttpRequest& request) const;
  HttpResponse Profile(const std::string& name, const HttpRequest& request, std::stop_token stop);
  HttpResponse Metrics() const;
  void Count(const std::string& type, const std::string& outcome);

  std::function<DaemonConfig()> config_;
  std::atomic<int> running_{0};
  std::atomic<uint64_t> served_{0};
  mutable std::mutex counts_mutex_;
  std::map<std::pair<std::string, std::string>, uint64_t> counts_;  // (type, outcome) → requests
};

// A profile as net/http/pprof's debug=1 text: a header line, then per sample its values, "@" and
// its addresses, and a "#" line per frame with function, file and line.
std::string FormatProfileText(const std::string& name, const perftools::profiles::Profile& profile);

}  // namespace profd

#endif  // PROFD_DAEMON_PPROF_ENDPOINTS_H

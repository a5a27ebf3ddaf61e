#include "service/daemon_command.h"

#include <signal.h>
#include <sys/stat.h>
#include <time.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>

#include "base/exit_codes.h"
#include "base/log.h"
#include "collect/bpf_support.h"
#include "collect/cpu_sampler.h"
#include "daemon_config.h"
#include "process/process_labels.h"
#include "profiles/shared_sampler.h"
#include "service/control_socket.h"
#include "service/http_server.h"
#include "service/pprof_endpoints.h"
#include "service/profile_schedule.h"
#include "service/profile_store.h"
#include "service/push_exporter.h"
#include "service/sd_notify.h"

namespace profd {
namespace {

// The configuration in force; handlers read it while SIGHUP may replace it.
class CurrentConfig {
 public:
  explicit CurrentConfig(DaemonConfig config) { Set(std::move(config)); }
  DaemonConfig Get() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return config_;
  }
  // Also puts its service_name rules in force for every process read from now on.
  void Set(DaemonConfig config) {
    SetServiceNameRules(config.labels.service_name.empty()
                            ? nullptr
                            : std::make_shared<ServiceNameRules>(config.labels.service_name));
    std::lock_guard<std::mutex> lock(mutex_);
    config_ = std::move(config);
  }

 private:
  mutable std::mutex mutex_;
  DaemonConfig config_;
};

// The bearer token: the file's first line. A token others can read protects nothing.
bool ReadToken(const std::string& path, std::string* token, std::string* error) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    *error = "token_file " + path + ": " + std::strerror(errno);
    return false;
  }
  if (st.st_mode & (S_IRWXG | S_IRWXO)) {
    *error = "token_file " + path + " can be read by other users: chmod 600 it";
    return false;
  }
  std::ifstream in(path);
  std::getline(in, *token);
  while (!token->empty() && (token->back() == '\r' || token->back() == ' ')) token->pop_back();
  if (token->empty()) {
    *error = "token_file " + path + " holds no token (its first line is empty)";
    return false;
  }
  return true;
}

// Starts serving HTTP as `config` says; null with `error` set on failure (or when listen is "").
std::unique_ptr<HttpServer> StartServer(const DaemonConfig& config, PprofEndpoints* endpoints,
                                        std::string* error) {
  if (config.listen.empty()) return nullptr;
  // Profile requests are limited by the endpoints (503 beyond the limit); the connections left
  // over serve /metrics, the index and those refusals.
  HttpServerOptions options = DaemonServerOptions(config.limits.max_concurrent_requests * 2 + 8);
  options.write_timeout = std::chrono::seconds(60);
  if (!config.token_file.empty() && !ReadToken(config.token_file, &options.bearer_token, error))
    return nullptr;
  auto server = std::make_unique<HttpServer>(options);
  if (!server->Listen(config.listen, error)) return nullptr;
  server->Serve([endpoints](const HttpRequest& request, std::stop_token stop) {
    return endpoints->Handle(request, stop);
  });
  return server;
}

std::string ServingAddress(const DaemonConfig& config, const HttpServer* server) {
  if (!server) return "no HTTP (listen is empty)";
  ListenAddress address;
  std::string error;
  ParseListenAddress(config.listen, &address, &error);
  std::string host = address.host.empty() ? "*" : address.host;
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return "http://" + host + ":" + std::to_string(server->port()) + "/debug/pprof/";
}

// Applies --listen over the file's value, with the file's rule: anything but loopback needs a
// token.
bool ApplyListenOverride(const DaemonOptions& options, DaemonConfig* config, std::string* error) {
  if (options.listen.empty()) return true;
  ListenAddress address;
  if (!ParseListenAddress(options.listen, &address, error)) {
    *error = "--listen: " + *error;
    return false;
  }
  if (!address.loopback && config->token_file.empty()) {
    *error = "--listen " + options.listen +
             " accepts connections from other hosts: set token_file in the configuration (a "
             "bearer token clients must send), or listen on 127.0.0.1";
    return false;
  }
  config->listen = options.listen;
  return true;
}

uint64_t MonotonicMicros() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

// --config's file, or the built-in defaults without one; false (reported) when it is bad.
bool LoadConfigOption(const DaemonOptions& options, DaemonConfig* config) {
  std::string error;
  if (options.config_path.empty() ||
      LoadDaemonConfig(options.config_path, ScheduleTypeNames(), config, &error))
    return true;
  LogError(error);
  return false;
}

// The running service: the configuration in force, the shared CPU sampler, the endpoints, the
// schedule and both listeners, and what the main loop and SIGHUP do to them.
class Service {
 public:
  Service(const DaemonOptions& options, const DaemonConfig& config)
      : options_(options),
        current_(config),
        shared_cpu_hz_(config.frequency_hz),
        // One host-wide CPU sampler serves every cpu request and the schedule; it is loaded on
        // the first, quiet (no timers) from the end of the last, paused 2.5 min after it (its
        // perf events closed, what it knew of processes forgotten) and unloaded after 10 min
        // idle (or once idle after a reload changed the frequency). Its frequency and unwinding
        // are the configuration's when it loads.
        shared_cpu_([this] { return LoadSharedCpuSampler(); }, config.dwarf_unwinding),
        endpoints_([this] { return current_.Get(); }),
        exporter_([this] { return current_.Get(); }),
        schedule_([this] { return current_.Get(); }, &shared_cpu_,
                  [this] { return shared_cpu_hz_.load(); }, &exporter_) {
    endpoints_.UseSharedCpuSampler(
        &shared_cpu_, [this] { return shared_cpu_hz_.load(); }, config.dwarf_unwinding);
  }

  // Both listeners, the schedule and /metrics; false with `error` set when a listener fails.
  bool Start(std::string* error) {
    const DaemonConfig config = current_.Get();
    server_ = StartServer(config, &endpoints_, error);
    if (!server_ && !config.listen.empty()) return false;
    // The CLI's way in: the same endpoints, with the caller's uid checked.
    control_ = StartControlSocket(config.socket_path, &endpoints_, error);
    if (!control_) {
      *error = "socket_path: " + *error;
      return false;
    }
    exporter_.Start();
    schedule_.Start();
    endpoints_.AddMetrics([this] { return Metrics(); });
    return true;
  }

  // Until SIGTERM or SIGINT: reloads on SIGHUP, pings the watchdog, keeps systemd's STATUS=.
  void Run(const sigset_t& signals) {
    LogInfo("profd daemon " + Status());
    SdNotify("READY=1\nSTATUS=" + Status());
    const std::optional<std::chrono::microseconds> watchdog = WatchdogInterval();
    const std::chrono::microseconds tick =
        watchdog ? std::min<std::chrono::microseconds>(*watchdog / 2, std::chrono::seconds(1))
                 : std::chrono::seconds(1);
    std::string last_status;
    while (true) {
      timespec timeout = {static_cast<time_t>(tick.count() / 1000000),
                          static_cast<long>(tick.count() % 1000000) * 1000};
      siginfo_t info;
      const int sig = sigtimedwait(&signals, &info, &timeout);
      if (sig == SIGTERM || sig == SIGINT) {
        SdNotify("STOPPING=1\nSTATUS=stopping");
        LogInfo(std::string("profd daemon: ") + strsignal(sig) + ", stopping");
        // Running profiles end now and are not written; their links and maps are released.
        if (server_) server_->Stop();
        control_->Stop();
        schedule_.Stop();
        exporter_.Stop();  // what is not delivered stays in the spool for the next start
        return;
      }
      if (sig == SIGHUP) {
        SdNotify("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(MonotonicMicros()));
        Reload();
        SdNotify("READY=1\nSTATUS=" + Status());
        continue;
      }
      if (watchdog) SdNotify("WATCHDOG=1");
      if (const std::string now = Status(); now != last_status) {
        SdNotify("STATUS=" + now);
        last_status = now;
      }
    }
  }

 private:
  Result<std::unique_ptr<StackCollector>> LoadSharedCpuSampler() {
    const DaemonConfig now = current_.Get();
    CpuSampler::Options options;
    options.all_processes = true;
    options.dwarf_unwinding = now.dwarf_unwinding;
    options.frequency_hz = now.frequency_hz;
    shared_cpu_hz_ = now.frequency_hz;
    return CpuSampler::Load(options);
  }

  // SIGHUP: the file read again; on any failure the running configuration and listeners stay.
  void Reload() {
    std::string error;
    DaemonConfig fresh;
    if (options_.config_path.empty()) {
      LogInfo("SIGHUP: started without --config, nothing to reload");
      return;
    }
    if (!LoadDaemonConfig(options_.config_path, ScheduleTypeNames(), &fresh, &error) ||
        !ApplyListenOverride(options_, &fresh, &error)) {
      LogError("reload failed, the running configuration stays: " + error);
      return;
    }
    const DaemonConfig old = current_.Get();
    bool ok = true;
    // The new socket first, alongside the old one, which goes only once the whole reload has
    // succeeded: on any failure the old socket stays and the new one is removed.
    std::unique_ptr<HttpServer> moved;
    if (fresh.socket_path != old.socket_path) {
      moved = StartControlSocket(fresh.socket_path, &endpoints_, &error);
      if (!moved) {
        LogError("reload failed, the running configuration stays: socket_path: " + error);
        ok = false;
      }
    }
    if (ok && (fresh.listen != old.listen || fresh.token_file != old.token_file ||
               fresh.limits.max_concurrent_requests != old.limits.max_concurrent_requests)) {
      // The same address cannot be bound twice: the old server goes first, and comes back if
      // the new one cannot start, on the port it had (the one it was given for ":0").
      DaemonConfig restore = old;
      const std::string any_port = ":0";
      if (server_ && server_->port() != 0 && restore.listen.ends_with(any_port))
        restore.listen.replace(restore.listen.size() - 1, 1, std::to_string(server_->port()));
      if (server_) server_->Stop();
      std::unique_ptr<HttpServer> fresh_server = StartServer(fresh, &endpoints_, &error);
      if (!fresh_server && !fresh.listen.empty()) {
        LogError("reload failed, the running configuration stays: " + error);
        fresh_server = StartServer(restore, &endpoints_, &error);
        ok = false;
      }
      std::lock_guard<std::mutex> lock(servers_mutex_);
      server_ = std::move(fresh_server);
    }
    if (ok && moved) {
      control_->Stop();
      std::lock_guard<std::mutex> lock(servers_mutex_);
      control_ = std::move(moved);
    }
    moved.reset();  // a failed reload's new socket
    if (ok) {
      current_.Set(fresh);
      // The sampler stays loaded between requests: a new frequency applies once it reloads.
      if (fresh.frequency_hz != old.frequency_hz) shared_cpu_.UnloadWhenIdle();
      LogInfo("configuration reloaded from " + options_.config_path);
    }
  }

  std::string Status() {
    return "serving " + ServingAddress(current_.Get(), server_.get()) +
           " and unix:" + control_->unix_path() + "; " + std::to_string(endpoints_.running()) +
           " profiles being collected, " + std::to_string(endpoints_.served()) + " served, " +
           std::to_string(schedule_.profiles_written()) + " stored by the schedule";
  }

  // The sampler's, the schedule's and the listeners' part of /metrics.
  std::string Metrics() {
    std::string out = shared_cpu_.MetricsText();
    out +=
        "# HELP profd_schedule_profiles_written_total Profiles the schedule stored.\n"
        "# TYPE profd_schedule_profiles_written_total counter\n"
        "profd_schedule_profiles_written_total " +
        std::to_string(schedule_.profiles_written()) +
        "\n# HELP profd_schedule_rounds_total Rounds of the schedule.\n"
        "# TYPE profd_schedule_rounds_total counter\nprofd_schedule_rounds_total " +
        std::to_string(schedule_.rounds()) + "\n" + exporter_.MetricsText();
    std::lock_guard<std::mutex> lock(servers_mutex_);
    std::string accepted =
        "# HELP profd_connections_total Connections served, by listener.\n"
        "# TYPE profd_connections_total counter\n";
    std::string refused =
        "# HELP profd_connections_refused_total Connections refused, by listener and why.\n"
        "# TYPE profd_connections_refused_total counter\n";
    for (const auto& [name, s] : {std::pair{"http", server_.get()}, {"socket", control_.get()}}) {
      if (!s) continue;
      const HttpServer::Stats st = s->stats();
      const std::string listener = std::string("{listener=\"") + name + "\"";
      accepted +=
          "profd_connections_total" + listener + "} " + std::to_string(st.connections) + "\n";
      for (const auto& [why, count] : {std::pair{"busy", st.rejected_busy},
                                       {"bad_request", st.bad_requests},
                                       {"unauthorized", st.unauthorized}})
        refused += "profd_connections_refused_total" + listener + ",why=\"" + why + "\"} " +
                   std::to_string(count) + "\n";
    }
    return out + accepted + refused;
  }

  const DaemonOptions options_;
  CurrentConfig current_;
  std::atomic<int> shared_cpu_hz_;
  SharedSampler shared_cpu_;
  PprofEndpoints endpoints_;
  PushExporter exporter_;  // before the schedule, which hands it profiles
  ProfileSchedule schedule_;
  std::mutex servers_mutex_;  // /metrics reads the servers' stats while SIGHUP may replace them
  std::unique_ptr<HttpServer> server_;
  std::unique_ptr<HttpServer> control_;
};

}  // namespace

int RunList(const DaemonOptions& options) {
  DaemonConfig config;
  std::string error;
  if (!LoadConfigOption(options, &config)) return kExitUsage;
  ProfileStore store(config.store.directory, std::chrono::seconds(0), 0);
  std::vector<StoredProfile> profiles = store.List(&error);
  if (!error.empty()) {
    LogError(error);
    return kExitFailed;
  }
  std::fputs(FormatStoreList(profiles).c_str(), stdout);
  return kExitOk;
}

int RunDaemon(const DaemonOptions& options) {
  DaemonConfig config;
  std::string error;
  if (!LoadConfigOption(options, &config)) return kExitUsage;
  if (!ApplyListenOverride(options, &config, &error)) {
    LogError(error);
    return kExitUsage;
  }
  if (std::string missing = CheckBpfPrerequisites(); !missing.empty()) {
    LogError(missing);
    return kExitFailed;
  }

  // Signals are taken by the main loop only: blocked here, before any thread starts, so every
  // thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&signals, s);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  if (!config.schedule.types.empty()) {
    // An unusable store directory is found now, not a minute later.
    ProfileStore store(config.store.directory, std::chrono::seconds(0), 0);
    if (!store.Init(&error)) {
      LogError("store.directory: " + error);
      return kExitFailed;
    }
  }

  Service service(options, config);
  if (!service.Start(&error)) {
    LogError(error);
    return kExitFailed;
  }
  service.Run(signals);
  return kExitOk;
}

}  // namespace profd

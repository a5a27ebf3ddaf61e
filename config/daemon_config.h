// The configuration of `profd --daemon`: its settings with their defaults, and the loader of the
// YAML file. The loader refuses what it does not understand (unknown key, wrong type, value out of
// range) with the file, line, column and dotted key, so a typo never silently becomes a default.
#ifndef PROFD_CONFIG_DAEMON_CONFIG_H
#define PROFD_CONFIG_DAEMON_CONFIG_H

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "service_name_rules.h"

namespace profd {

// Each default is also written out, with what it means, in config/profd.yaml; a test keeps the
// two equal. Ranges are the loader's checks.
struct DaemonConfig {
  // HTTP /debug/pprof: "HOST:PORT", "[IPV6]:PORT" or ":PORT" (every interface); "" = no HTTP.
  std::string listen = "127.0.0.1:6061";
  std::string socket_path = "/run/profd/profd.sock";  // the CLI's control socket; absolute
  // Absolute path of a file holding the bearer token HTTP clients must send. Required when listen
  // is not a loopback address.
  std::string token_file;
  int frequency_hz = 99;        // CPU samples per second per CPU, 1..10000
  bool dwarf_unwinding = true;  // key `unwind`: "dwarf" (true) or "fp"

  // Continuous profiling: every `interval`, one profile per target process and type.
  struct Schedule {
    std::chrono::nanoseconds interval = std::chrono::seconds(60);  // 1s..1d
    // The window of cpu and the other windowed types (allocs, block, mutex, threadcreate);
    // heap and goroutine are snapshots. More than 0, at most `interval`.
    std::chrono::nanoseconds cpu_seconds = std::chrono::seconds(10);
    // Canonical names (aliases offcpu and threads resolved), in the file's order, no repeats:
    // cpu, heap, allocs, block, mutex, goroutine, threadcreate. Empty = no schedule.
    std::vector<std::string> types = {"cpu"};
    bool operator==(const Schedule&) const = default;
  } schedule;

  // What the schedule profiles: every process, or the union of the lists.
  struct Targets {
    // In the file `all` defaults to true only when no list is given; all: true with a list is an
    // error, and so is all: false with none.
    bool all = true;
    std::vector<pid_t> pids;
    // fnmatch(3) globs matched against the command name (comm, at most 15 characters) and the
    // executable's file name; see ProcessNameMatches.
    std::vector<std::string> process_names;
    // cgroup v2 paths as /proc/PID/cgroup shows them ("/system.slice/nginx.service"; a leading
    // "/sys/fs/cgroup" is dropped) or systemd unit names ("nginx.service", .scope, .slice).
    std::vector<std::string> cgroups;
    bool operator==(const Targets&) const = default;
  } targets;

  // Where scheduled profiles are kept, and for how long.
  struct Store {
    std::string directory = "/var/lib/profd";                       // absolute
    std::chrono::nanoseconds max_age = std::chrono::hours(7 * 24);  // at least 1m
    uint64_t max_bytes = uint64_t{1} << 30;                         // at least 1MiB
    bool operator==(const Store&) const = default;
  } store;

  struct Limits {
    int max_concurrent_requests = 8;  // HTTP and socket profile requests at once, 1..1024
    // The longest ?seconds= (or CLI --seconds over the socket) a client may ask for, 1s..1d.
    std::chrono::nanoseconds max_seconds = std::chrono::seconds(300);
    // The most processes one scheduled round writes profiles for, per type, 1..65536; the rest
    // are left out of that round.
    int max_targets = 256;
    // Cumulative profiles (allocs, heap, block, mutex, threadcreate asked for without ?seconds):
    // how many target sets are tracked at once, 0..1024 (0: such requests are refused), and how
    // long one is kept once nobody asks for it, 1m..1d.
    int max_cumulative_profiles = 16;
    std::chrono::nanoseconds cumulative_idle_expiry = std::chrono::minutes(10);
    bool operator==(const Limits&) const = default;
  } limits;

  struct Heap {
    uint64_t sample_rate = 512 * 1024;  // mean bytes allocated between samples, 1..1TiB
    double max_overhead_percent = 3;    // allocator probes' budget, % of target CPU, (0, 100]
    bool operator==(const Heap&) const = default;
  } heap;

  struct Security {
    // Members of this group (by name; "" = none) may profile any process, as root may; others
    // only their own.
    std::string admin_group;
    // What callers other than root (and the bearer token) get of kernel frames: "names" (by name,
    // at stand-in addresses) or "none" (left out). Only root may read kernel addresses (KASLR).
    std::string kernel_frames = "names";
    bool operator==(const Security&) const = default;
  } security;

  // Push exporters (key `export`; several at once): every scheduled profile is also sent to
  // each, through the spool, on a thread of its own (the schedule never waits for a backend).
  struct Exporter {
    // "pyroscope": Grafana Pyroscope's push API (push.v1.PusherService/Push, Connect protocol,
    // binary protobuf over HTTP/1.1); "parca": Parca's WriteRaw through its HTTP/JSON gateway
    // (/api/profiles/writeraw); "otlp": OpenTelemetry's profiles signal over OTLP/HTTP
    // (/v1development/profiles, opentelemetry-proto v1.11.0, binary protobuf, gzip).
    std::string kind;
    // pyroscope only: "connect" (its push API, each profile with an id, labels as pairs) or
    // "ingest" (its HTTP ingest, POST /ingest?name=SERVICE{k=v,...}&from&until&format=pprof).
    std::string api = "connect";
    std::string url;                        // http:// or https://, the server's base URL
    std::string bearer_token_file;          // absolute; "" = none
    std::string basic_auth_user;            // with basic_auth_password_file; "" = none
    std::string basic_auth_password_file;   // absolute
    std::string tenant_id;                  // sent as X-Scope-OrgID (pyroscope, otlp); "" = none
    std::chrono::nanoseconds timeout = std::chrono::seconds(10);  // one push, 1s..5m
    bool operator==(const Exporter&) const = default;
  };
  std::vector<Exporter> exporters;

  // Where profiles wait until every exporter has them: bounded in bytes and age (the oldest go
  // first, counted on /metrics); kept across restarts.
  struct Spool {
    std::string directory = "/var/lib/profd/spool";                  // absolute
    uint64_t max_bytes = uint64_t{256} << 20;                        // at least 1MiB
    std::chrono::nanoseconds max_age = std::chrono::hours(24);       // at least 1m
    bool operator==(const Spool&) const = default;
  } spool;

  // The labels every sample and push carries.
  struct Labels {
    // Rules naming service_name, the first that matches wins (service_name_rules.h); a process
    // none matches gets the default (its systemd service, else its container or cgroup, else its
    // command name).
    std::vector<ServiceNameRule> service_name;
    bool operator==(const Labels&) const = default;
  } labels;

  struct Block {
    // Waits shorter than this are not counted, 0..60s.
    std::chrono::nanoseconds min_block = std::chrono::microseconds(10);
    bool operator==(const Block&) const = default;
  } block;

  bool operator==(const DaemonConfig&) const = default;
};

// A name schedule.types may hold and the type it stands for (aliases: another name); a non-empty
// `refusal` says why that type is no schedule's ("is answered on request, not kept on a
// schedule").
struct KnownProfileType {
  std::string name;
  std::string canonical;
  std::string refusal;
};

// Parses `yaml_text`; `source_name` (a path, or e.g. "<test>") starts every error message. Absent
// keys and sections keep their defaults; an empty document is DaemonConfig{}. On failure returns
// false, leaves `*config` unchanged (a bad reload keeps the running config) and sets `*error` to
// one line per problem (at most 20):
//   FILE:LINE:COLUMN: schedule.cpu_seconds: 2m is longer than schedule.interval (1m) ...
// LINE and COLUMN are 1-based and point at the value, or at the key when the key is the problem.
// `types` are the names schedule.types may hold (config/ knows no profile types: the daemon gives
// its type table's).
bool ParseDaemonConfig(const std::string& yaml_text, const std::string& source_name,
                       const std::vector<KnownProfileType>& types, DaemonConfig* config,
                       std::string* error);

// Reads the file at `path` and parses it as above; a file that cannot be read is an error too.
bool LoadDaemonConfig(const std::string& path, const std::vector<KnownProfileType>& types,
                      DaemonConfig* config, std::string* error);

// The config as YAML that ParseDaemonConfig reads back equal (no comments): for logging the
// effective configuration.
std::string DaemonConfigToYaml(const DaemonConfig& config);

// Whether a targets.process_names pattern selects a process: fnmatch(3) against its command name
// `comm` or the file name (after the last '/') of its executable `exe_path` ("" if unknown).
bool ProcessNameMatches(const std::string& pattern, const std::string& comm,
                        const std::string& exe_path);

}  // namespace profd

#endif  // PROFD_CONFIG_DAEMON_CONFIG_H

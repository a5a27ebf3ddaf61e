#include "daemon_config.h"

#include <fcntl.h>
#include <fnmatch.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/parser.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <sstream>
#include <string_view>

#include "listen_address.h"
#include "strict_yaml.h"
#include "units.h"
#include "utf8.h"

namespace profd {
namespace {

using std::chrono::nanoseconds;

// A config file is a few KiB; this stops /dev/zero, and bounds what YAML builds (its nodes take
// about 100 bytes per byte of a file of keys).
constexpr size_t kMaxFileBytes = 256 << 10;
constexpr pid_t kMaxPid = 4194304;         // PID_MAX_LIMIT on 64-bit kernels

// Reads the document into a DaemonConfig, collecting every problem rather than stopping at the
// first, so one run of the daemon shows all that is wrong with a file.
class ConfigReader : public StrictYamlReader {
 public:
  ConfigReader(std::string source, const std::vector<KnownProfileType>& types,
               DaemonConfig* config)
      : StrictYamlReader(std::move(source)), types_(types), config_(*config) {}

  void Read(const std::string& text) {
    YAML::Node document;  // null for an empty file, or only comments: the defaults
    if (!Load(text, &document)) return;
    try {
      ReadMap(Value{document, "", document.Mark()}, TopLevelFields());
    } catch (const YAML::Exception& e) {  // not expected: every node is checked before use
      Error(e.mark, "", std::string("cannot read: ") + e.what());
    }
    if (errors().empty()) CheckAcrossKeys();
  }

 private:
  std::vector<Field> TopLevelFields() {
    DaemonConfig& c = config_;
    return {
        {"listen", String(&c.listen,
                          [this](const Value& value, const std::string& text) {
                            ListenAddress address;
                            std::string error;
                            if (text.empty() || ParseListenAddress(text, &address, &error))
                              return true;
                            Error(value, error + "; \"\" turns HTTP off");
                            return false;
                          })},
        {"socket_path",
         String(&c.socket_path,
                [this](const Value& value, const std::string& text) {
                  if (!IsAbsolutePath(text)) {
                    Error(value, Quote(text) +
                                     " is not an absolute path; expected a path starting with /");
                    return false;
                  }
                  if (text.size() >= sizeof(sockaddr_un{}.sun_path)) {
                    Error(value, "is " + std::to_string(text.size()) +
                                     " bytes long; a Unix socket path has at most " +
                                     std::to_string(sizeof(sockaddr_un{}.sun_path) - 1));
                    return false;
                  }
                  return true;
                })},
        {"token_file", AbsolutePath(&c.token_file, /*may_be_empty=*/true)},
        {"frequency_hz", Integer(&c.frequency_hz, 1, 10000, "CPU samples per second per CPU")},
        {"unwind", [this](const Value& v) { ReadUnwind(v); }},
        {"schedule", [this](const Value& v) { ReadMap(v, ScheduleFields()); }},
        {"targets", [this](const Value& v) { ReadMap(v, TargetsFields()); }},
        {"store", [this](const Value& v) { ReadMap(v, StoreFields()); }},
        {"limits", [this](const Value& v) { ReadMap(v, LimitsFields()); }},
        {"heap", [this](const Value& v) { ReadMap(v, HeapFields()); }},
        {"block", [this](const Value& v) { ReadMap(v, BlockFields()); }},
        {"security", [this](const Value& v) { ReadMap(v, SecurityFields()); }},
        {"export", List<DaemonConfig::Exporter>(
                       &c.exporters, "[{kind: pyroscope, url: \"http://127.0.0.1:4040\"}]",
                       [this](const Value& value, DaemonConfig::Exporter* out) {
                         return ReadExporter(value, out);
                       })},
        {"spool", [this](const Value& v) { ReadMap(v, SpoolFields()); }},
        {"labels", [this](const Value& v) { ReadMap(v, LabelsFields()); }},
    };
  }

  std::vector<Field> LabelsFields() {
    return {
        {"service_name",
         List<ServiceNameRule>(&config_.labels.service_name,
                               "[{match_cgroup: \"/kubepods/.*/pod([^/]+)/\", value: \"pod-$1\"}]",
                               [this](const Value& value, ServiceNameRule* rule) {
                                 return ReadServiceNameRule(value, rule);
                               })},
    };
  }

  // {match_comm | match_exe | match_cgroup: REGEX, value: TEMPLATE}: one match key, a value.
  bool ReadServiceNameRule(const Value& value, ServiceNameRule* out) {
    const std::string allowed =
        "expected {match_comm, match_exe or match_cgroup: REGEX, value: NAME} (one match key; "
        "$1..$9 in NAME are the pattern's groups)";
    if (!value.node.IsMap()) {
      Error(value, allowed + ", got " + Describe(value.node));
      return false;
    }
    const size_t errors_before = errors().size();
    ServiceNameRule rule;
    std::vector<std::string> matches;
    auto match_field = [&](const char* what) {
      return [&, what](const Value& v) {
        if (!Scalar(v, allowed, &rule.pattern)) return;
        matches.push_back(what);
        rule.match = what;
      };
    };
    ReadMap(value, {{"match_comm", match_field("comm")},
                    {"match_exe", match_field("exe")},
                    {"match_cgroup", match_field("cgroup")},
                    {"value", [&](const Value& v) { Scalar(v, allowed, &rule.value); }}});
    if (errors().size() != errors_before) return false;
    if (matches.size() != 1) {
      Error(value, "has " + std::to_string(matches.size()) + " match keys; " + allowed);
      return false;
    }
    if (const std::string problem = ServiceNameRuleProblem(rule); !problem.empty()) {
      Error(value, problem + "; " + allowed);
      return false;
    }
    *out = std::move(rule);
    return true;
  }

  bool ReadExporter(const Value& value, DaemonConfig::Exporter* out) {
    const size_t errors_before = errors().size();
    if (!value.node.IsMap()) {
      Error(value, "expected an exporter, e.g. {kind: pyroscope, url: \"http://127.0.0.1:4040\"}, "
                   "got " + Describe(value.node));
      return false;
    }
    DaemonConfig::Exporter e;
    bool api_given = false;
    ReadMap(value,
            {
                {"kind", String(&e.kind,
                                [this](const Value& v, const std::string& text) {
                                  if (text == "pyroscope" || text == "parca" || text == "otlp")
                                    return true;
                                  Error(v, Quote(text) + " is not an exporter kind profd has; "
                                           "expected pyroscope, parca or otlp");
                                  return false;
                                })},
                {"api", String(&e.api,
                               [this, &api_given](const Value& v, const std::string& text) {
                                 api_given = true;
                                 if (text == "connect" || text == "ingest") return true;
                                 Error(v,
                                       Quote(text) +
                                           " is not a Pyroscope API; expected "
                                           "connect (its push API) or ingest (its HTTP /ingest)");
                                 return false;
                               })},
                {"url", String(&e.url,
                               [this](const Value& v, const std::string& text) {
                                 const bool scheme = text.rfind("http://", 0) == 0 ||
                                                     text.rfind("https://", 0) == 0;
                                 const size_t host = text.find("://") + 3;
                                 if (scheme && text.size() > host &&
                                     text.find_first_of("?# \t\r\n") == std::string::npos)
                                   return true;
                                 Error(v, Quote(text) + " is not a server URL; expected "
                                          "http://HOST[:PORT][/PATH] or https://..., without a "
                                          "query");
                                 return false;
                               })},
                {"bearer_token_file", AbsolutePath(&e.bearer_token_file, true)},
                {"basic_auth_user", String(&e.basic_auth_user,
                                           [this](const Value& v, const std::string& text) {
                                             if (text.find(':') == std::string::npos) return true;
                                             Error(v, "a basic-auth user name holds no ':'");
                                             return false;
                                           })},
                {"basic_auth_password_file", AbsolutePath(&e.basic_auth_password_file, true)},
                {"tenant_id", String(&e.tenant_id,
                                     [this](const Value& v, const std::string& text) {
                                       for (char ch : text)
                                         if (static_cast<unsigned char>(ch) < 0x21 || ch == 0x7f) {
                                           Error(v, "a tenant id is printable, without spaces");
                                           return false;
                                         }
                                       return true;
                                     })},
                {"timeout", Duration(&e.timeout, std::chrono::seconds(1), std::chrono::minutes(5),
                                     "how long one push may take")},
            });
    if (errors().size() != errors_before) return false;
    if (e.kind.empty() || e.url.empty()) {
      Error(value, "an exporter needs kind and url");
      return false;
    }
    if (e.basic_auth_user.empty() != e.basic_auth_password_file.empty()) {
      Error(value, "basic_auth_user and basic_auth_password_file go together");
      return false;
    }
    if (e.kind != "pyroscope" && api_given) {
      Error(value, "api is Pyroscope's (connect or ingest); a " + e.kind + " exporter has none");
      return false;
    }
    if (e.kind == "parca" && !e.tenant_id.empty()) {
      Error(value, "tenant_id (X-Scope-OrgID) is Pyroscope's; Parca has no tenants");
      return false;
    }
    if (!e.bearer_token_file.empty() && !e.basic_auth_user.empty()) {
      Error(value, "an exporter has a bearer token or basic auth, not both");
      return false;
    }
    *out = std::move(e);
    return true;
  }

  std::vector<Field> SpoolFields() {
    DaemonConfig::Spool& s = config_.spool;
    return {
        {"directory", AbsolutePath(&s.directory, /*may_be_empty=*/false)},
        {"max_bytes", ByteSize(&s.max_bytes, uint64_t{1} << 20, uint64_t{1} << 40,
                               "the most bytes of profiles waiting to be pushed")},
        {"max_age", Duration(&s.max_age, std::chrono::minutes(1), std::chrono::hours(24 * 30),
                             "how long a profile waits to be pushed")},
    };
  }

  void ReadUnwind(const Value& value) {
    const std::string allowed =
        "expected dwarf (unwind tables from .eh_frame, frame pointers where a binary has none) or "
        "fp (frame pointers only)";
    std::string text;
    if (!Scalar(value, allowed, &text)) return;
    if (text != "dwarf" && text != "fp") {
      Error(value, Quote(text) + " is not an unwinding mode; " + allowed);
      return;
    }
    config_.dwarf_unwinding = text == "dwarf";
  }

  std::vector<Field> ScheduleFields() {
    DaemonConfig::Schedule& s = config_.schedule;
    return {
        {"interval", Duration(&s.interval, std::chrono::seconds(1), std::chrono::hours(24),
                              "the time between scheduled rounds")},
        {"cpu_seconds", Duration(&s.cpu_seconds, nanoseconds(1), std::chrono::hours(24),
                                 "the window of each scheduled profile")},
        {"types", List<std::string>(&s.types, "[cpu, block]",
                                    [this](const Value& value, std::string* canonical) {
                                      return ReadProfileType(value, canonical);
                                    })},
    };
  }

  bool ReadProfileType(const Value& value, std::string* canonical) {
    std::string list;  // "cpu, block (alias offcpu), ..."
    for (const KnownProfileType& t : types_) {
      if (!t.refusal.empty() || t.canonical != t.name) continue;
      list += std::string(list.empty() ? "" : ", ") + t.name;
      for (const KnownProfileType& alias : types_)
        if (alias.canonical == t.name && alias.name != t.name) list += " (alias " + alias.name + ")";
    }
    const std::string allowed = "expected one of " + list;
    std::string text;
    if (!Scalar(value, allowed, &text)) return false;
    for (const KnownProfileType& t : types_) {
      if (text != t.name) continue;
      if (!t.refusal.empty()) {
        Error(value, t.name + " " + t.refusal + "; " + allowed);
        return false;
      }
      *canonical = t.canonical;
      return true;
    }
    Error(value, "unknown profile type " + Quote(text) + "; " + allowed);
    return false;
  }

  std::vector<Field> TargetsFields() {
    DaemonConfig::Targets& t = config_.targets;
    return {
        {"all", Boolean(&t.all, &all_given_)},
        {"pids", List<pid_t>(&t.pids, "[1234, 5678]",
                             [this](const Value& value, pid_t* pid) {
                               long long parsed;
                               if (!ParseInteger(value, 1, kMaxPid, "a process id", &parsed))
                                 return false;
                               *pid = static_cast<pid_t>(parsed);
                               return true;
                             })},
        {"process_names", List<std::string>(&t.process_names, "[nginx, \"postgres*\"]",
                                            [this](const Value& value, std::string* pattern) {
                                              return ReadProcessName(value, pattern);
                                            })},
        {"cgroups", List<std::string>(&t.cgroups, "[nginx.service, /system.slice/foo.service]",
                                      [this](const Value& value, std::string* cgroup) {
                                        return ReadCgroup(value, cgroup);
                                      })},
    };
  }

  bool ReadProcessName(const Value& value, std::string* pattern) {
    const std::string allowed =
        "expected a glob matched against the command name or the executable's file name (e.g. "
        "nginx, "
        "\"postgres*\")";
    if (!Scalar(value, allowed, pattern)) return false;
    if (pattern->empty()) {
      Error(value, "is empty; " + allowed);
      return false;
    }
    if (pattern->find('/') != std::string::npos) {
      Error(value,
            Quote(*pattern) + " contains a /; patterns match a name, not a path; " + allowed);
      return false;
    }
    return true;
  }

  bool ReadCgroup(const Value& value, std::string* cgroup) {
    const std::string allowed =
        "expected a cgroup v2 path as in /proc/PID/cgroup (e.g. /system.slice/nginx.service) or a "
        "systemd "
        "unit name ending in .service, .scope or .slice";
    std::string text;
    if (!Scalar(value, allowed, &text)) return false;
    if (text.empty()) {
      Error(value, "is empty; " + allowed);
      return false;
    }
    if (text[0] == '/') {
      std::string path = text;
      constexpr std::string_view kMount = "/sys/fs/cgroup";
      if (path == kMount || path.starts_with(std::string(kMount) + "/"))
        path = path.substr(kMount.size());
      while (path.size() > 1 && path.back() == '/') path.pop_back();
      if (path.empty()) path = "/";
      if (path.find("//") != std::string::npos || path.find("/./") != std::string::npos ||
          path.find("/../") != std::string::npos || path.ends_with("/.") || path.ends_with("/..")) {
        Error(value, Quote(text) + " is not a plain cgroup path (no //, . or ..); " + allowed);
        return false;
      }
      *cgroup = path;
      return true;
    }
    const bool unit_chars = std::all_of(text.begin(), text.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || std::strchr(":_.-@\\", c) != nullptr;
    });
    for (std::string_view suffix : {".service", ".scope", ".slice"}) {
      if (unit_chars && text.size() > suffix.size() && text.ends_with(suffix)) {
        *cgroup = text;
        return true;
      }
    }
    Error(value, Quote(text) + " is neither a cgroup path nor a systemd unit name; " + allowed);
    return false;
  }

  std::vector<Field> StoreFields() {
    DaemonConfig::Store& s = config_.store;
    return {
        {"directory", AbsolutePath(&s.directory, /*may_be_empty=*/false)},
        {"max_age", Duration(&s.max_age, std::chrono::minutes(1), std::chrono::hours(24 * 3650),
                             "how long a stored profile is kept")},
        {"max_bytes", ByteSize(&s.max_bytes, uint64_t{1} << 20, ~uint64_t{0},
                               "the most bytes the stored profiles may take")},
    };
  }

  std::vector<Field> LimitsFields() {
    DaemonConfig::Limits& l = config_.limits;
    return {
        {"max_concurrent_requests",
         Integer(&l.max_concurrent_requests, 1, 1024, "the most profile requests served at once")},
        {"max_seconds", Duration(&l.max_seconds, std::chrono::seconds(1), std::chrono::hours(24),
                                 "the longest window a client may ask for")},
        {"max_targets",
         Integer(&l.max_targets, 1, 65536, "the most processes one scheduled round profiles")},
        {"max_cumulative_profiles",
         Integer(&l.max_cumulative_profiles, 0, 1024,
                 "the most cumulative profiles (requests without ?seconds) tracked at once")},
        {"cumulative_idle_expiry",
         Duration(&l.cumulative_idle_expiry, std::chrono::minutes(1), std::chrono::hours(24),
                  "how long a cumulative profile nobody asks for is kept")},
    };
  }

  std::vector<Field> HeapFields() {
    DaemonConfig::Heap& h = config_.heap;
    return {
        {"sample_rate", ByteSize(&h.sample_rate, 1, uint64_t{1} << 40,
                                 "the mean bytes allocated between samples")},
        {"max_overhead_percent",
         [this, &h](const Value& value) {
           const std::string allowed =
               "expected the allocator probes' budget in percent of the target's CPU time, a "
               "number more than 0 and at most 100";
           std::string text;
           if (!Scalar(value, allowed, &text)) return;
           double parsed = 0;
           const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), parsed);
           if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(parsed)) {
             Error(value, Quote(text) + " is not a number; " + allowed);
             return;
           }
           if (!(parsed > 0 && parsed <= 100)) {
             Error(value, text + " is out of range; " + allowed);
             return;
           }
           h.max_overhead_percent = parsed;
         }},
    };
  }

  std::vector<Field> BlockFields() {
    return {
        {"min_block", Duration(&config_.block.min_block, nanoseconds(0), std::chrono::seconds(60),
                               "the shortest wait counted")},
    };
  }

  std::vector<Field> SecurityFields() {
    return {
        {"admin_group", String(&config_.security.admin_group,
                               [this](const Value& value, const std::string& text) {
                                 group entry;
                                 group* found = nullptr;
                                 std::vector<char> buffer(1 << 16);
                                 if (text.empty() ||
                                     (getgrnam_r(text.c_str(), &entry, buffer.data(), buffer.size(),
                                                 &found) == 0 &&
                                      found)) {
                                   return true;
                                 }
                                 Error(value, "there is no group named " + Quote(text) +
                                                  "; expected a group's name, or \"\" for none");
                                 return false;
                               })},
        {"kernel_frames", String(&config_.security.kernel_frames,
                                 [this](const Value& value, const std::string& text) {
                                   if (text == "names" || text == "none") return true;
                                   Error(value, Quote(text) +
                                                    " is not a kernel_frames mode; expected names "
                                                    "(kernel functions by name, no addresses) or "
                                                    "none (no kernel frames)");
                                   return false;
                                 })},
    };
  }

  // The mark of the first of `keys` given in the file (all checks below have one given).
  std::pair<std::string, YAML::Mark> FirstGiven(std::initializer_list<std::string> keys) {
    for (const std::string& key : keys)
      if (auto it = key_marks_.find(key); it != key_marks_.end()) return *it;
    return {*keys.begin(), YAML::Mark::null_mark()};
  }

  void CheckAcrossKeys() {
    const DaemonConfig& c = config_;
    if (c.schedule.cpu_seconds > c.schedule.interval) {
      const auto [key, mark] = FirstGiven({"schedule.cpu_seconds", "schedule.interval"});
      Error(mark, key,
            "schedule.cpu_seconds (" + FormatDuration(c.schedule.cpu_seconds) +
                ") is longer than schedule.interval (" + FormatDuration(c.schedule.interval) +
                "); the window must fit in the interval");
    }
    ListenAddress address;
    std::string ignored;
    if (!c.listen.empty() && ParseListenAddress(c.listen, &address, &ignored) &&
        !address.loopback && c.token_file.empty()) {
      const auto [key, mark] = FirstGiven({"listen", "token_file"});
      Error(mark, key,
            "listen " + Quote(c.listen) +
                " accepts connections from other hosts, so token_file must name a file holding "
                "the bearer token clients send; or listen on loopback (127.0.0.1:PORT, "
                "[::1]:PORT)");
    }
    const DaemonConfig::Targets& t = c.targets;
    std::vector<std::string> lists;
    if (!t.pids.empty()) lists.push_back("targets.pids");
    if (!t.process_names.empty()) lists.push_back("targets.process_names");
    if (!t.cgroups.empty()) lists.push_back("targets.cgroups");
    if (!all_given_) {
      config_.targets.all = lists.empty();
    } else if (t.all && !lists.empty()) {
      Error(key_marks_["targets.all"], "targets.all",
            "true selects every process, but " + Join(lists, " and ") +
                (lists.size() == 1 ? " is" : " are") +
                " given too; set all: false to profile only the listed targets, or remove " +
                (lists.size() == 1 ? "the list" : "the lists"));
    } else if (!t.all && lists.empty() && !c.schedule.types.empty()) {
      Error(key_marks_["targets.all"], "targets.all",
            "false, and no targets.pids, targets.process_names or targets.cgroups are given: the "
            "schedule has nothing to profile; list targets, set all: true, or turn the schedule "
            "off with schedule.types: []");
    }
  }

  const std::vector<KnownProfileType>& types_;
  DaemonConfig& config_;
  bool all_given_ = false;
};

}  // namespace

bool ParseDaemonConfig(const std::string& yaml_text, const std::string& source_name,
                       const std::vector<KnownProfileType>& types, DaemonConfig* config,
                       std::string* error) {
  DaemonConfig parsed;
  ConfigReader reader(source_name, types, &parsed);
  reader.Read(yaml_text);
  const std::vector<std::string>& errors = reader.errors();
  if (errors.empty()) {
    *config = std::move(parsed);
    return true;
  }
  error->clear();
  for (size_t i = 0; i < errors.size() && i < kMaxConfigErrors; ++i)
    *error += (i ? "\n" : "") + errors[i];
  if (errors.size() > kMaxConfigErrors)
    *error += "\n" + source_name + ": and more problems (only the first " +
              std::to_string(kMaxConfigErrors) + " are shown)";
  return false;
}

bool LoadDaemonConfig(const std::string& path, const std::vector<KnownProfileType>& types,
                      DaemonConfig* config, std::string* error) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *error = path + ": cannot open the configuration: " + std::strerror(errno);
    return false;
  }
  std::string text;
  char buffer[16384];
  ssize_t n;
  while ((n = ::read(fd, buffer, sizeof buffer)) > 0 && text.size() <= kMaxFileBytes)
    text.append(buffer, static_cast<size_t>(n));
  const int read_errno = errno;
  ::close(fd);
  if (n < 0) {
    *error = path + ": cannot read the configuration: " + std::strerror(read_errno);
    return false;
  }
  if (text.size() > kMaxFileBytes) {
    *error = path + ": larger than " + FormatByteSize(kMaxFileBytes) +
             "; is this the configuration file?";
    return false;
  }
  return ParseDaemonConfig(text, path, types, config, error);
}

bool ProcessNameMatches(const std::string& pattern, const std::string& comm,
                        const std::string& exe_path) {
  if (::fnmatch(pattern.c_str(), comm.c_str(), 0) == 0) return true;
  const std::string exe_name = exe_path.substr(exe_path.rfind('/') + 1);
  return !exe_name.empty() && ::fnmatch(pattern.c_str(), exe_name.c_str(), 0) == 0;
}

}  // namespace profd

#include "service/pprof_endpoints.h"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <optional>
#include <unordered_map>

#include "base/log.h"
#include "process/proc_files.h"
#include "process/process_table.h"
#include "profile_builder.h"
#include "profiles/kernel_frames.h"
#include "profiles/profile_collection.h"
#include "profiles/request_query.h"
#include "units.h"

namespace profd {

HttpResponse PprofErrorResponse(int status, const std::string& message) {
  HttpResponse response = TextResponse(status, message);
  response.headers.emplace_back("X-Go-Pprof", "1");
  return response;
}
namespace {

// A profile endpoint: a type with a description on the index page (cmdline has its own handler).
const ProfileTypeInfo* FindEndpoint(const std::string& name) {
  const ProfileTypeInfo* info = FindProfileEndpoint(name);
  return info && info->description ? info : nullptr;
}

HttpResponse TextResponse(const std::string& body) {
  HttpResponse response;
  response.headers = {{"Content-Type", "text/plain; charset=utf-8"},
                      {"X-Content-Type-Options", "nosniff"}};
  response.body = body;
  return response;
}

std::string HtmlEscape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// "root (uid 0)", or "uid 1234" for a uid without a name.
std::string DescribeUid(uid_t uid) {
  passwd entry;
  passwd* found = nullptr;
  char buffer[4096];
  if (getpwuid_r(uid, &entry, buffer, sizeof(buffer), &found) == 0 && found)
    return std::string(entry.pw_name) + " (uid " + std::to_string(uid) + ")";
  return "uid " + std::to_string(uid);
}

// Is `peer` in the group named `name`: its connection's gid, or its user's groups as the user
// database lists them (a TCP peer has no gid of its own).
bool InGroup(const ucred& peer, const std::string& name) {
  if (name.empty()) return false;
  group entry;
  group* found = nullptr;
  std::vector<char> buffer(1 << 16);
  if (getgrnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found) != 0 || !found)
    return false;
  const gid_t admin = entry.gr_gid;
  if (peer.gid == admin) return true;
  passwd user;
  passwd* user_found = nullptr;
  std::vector<char> user_buffer(1 << 16);
  if (getpwuid_r(peer.uid, &user, user_buffer.data(), user_buffer.size(), &user_found) != 0 ||
      !user_found)
    return false;
  int count = 64;
  std::vector<gid_t> groups(static_cast<size_t>(count));
  if (getgrouplist(user.pw_name, user.pw_gid, groups.data(), &count) < 0) {
    groups.resize(static_cast<size_t>(count));
    if (getgrouplist(user.pw_name, user.pw_gid, groups.data(), &count) < 0) return false;
  }
  groups.resize(static_cast<size_t>(count));
  return std::find(groups.begin(), groups.end(), admin) != groups.end();
}

}  // namespace

bool CallerMayProfile(const HttpRequest& request, const std::vector<pid_t>& pids,
                      const std::string& admin_group, int* status, std::string* message) {
  if (request.token_authenticated) return true;
  if (!request.peer) {
    *status = 403;
    *message =
        "profd cannot tell which user opened this connection, so it profiles nothing for it: "
        "connect from this host (loopback or the control socket), or send the bearer token";
    return false;
  }
  return PeerMayProfile(*request.peer, pids, status, message, admin_group);
}

bool PeerMayProfile(const ucred& peer, const std::vector<pid_t>& pids, int* status,
                    std::string* message, const std::string& admin_group) {
  if (peer.uid == 0 || InGroup(peer, admin_group)) return true;
  *status = 403;
  if (pids.empty()) {
    *message = "a profile of the whole host needs root (you are " + DescribeUid(peer.uid) +
               "): name your own processes with pid=PID; only root may profile other users' "
               "processes";
    return false;
  }
  // As the kernel decides who may ptrace whom: a set-user-ID program, or one that made itself
  // undumpable (its /proc directory is then root's), holds what its user must not read.
  for (pid_t pid : pids) {
    uid_t uids[4];
    struct stat st;
    if (!ReadProcessUids(pid, uids) || stat(("/proc/" + std::to_string(pid)).c_str(), &st) != 0) {
      *status = 404;
      *message = "no process with pid " + std::to_string(pid);
      return false;
    }
    const std::string whose = "pid " + std::to_string(pid) + " belongs to " + DescribeUid(uids[0]);
    if (uids[0] != peer.uid) {
      *message = whose + ", not to you (" + DescribeUid(peer.uid) +
                 "): only root may profile other users' processes";
      return false;
    }
    if (uids[1] != peer.uid || uids[2] != peer.uid || uids[3] != peer.uid) {
      *message = whose + " but runs with another user's privileges (effective uid " +
                 std::to_string(uids[1]) + ", saved " + std::to_string(uids[2]) +
                 "): only root may profile it";
      return false;
    }
    if (st.st_uid != peer.uid) {
      *message = whose +
                 " but is not dumpable (it keeps its memory from its own user, e.g. with "
                 "prctl(PR_SET_DUMPABLE, 0)): only root may profile it";
      return false;
    }
  }
  return true;
}

PprofEndpoints::PprofEndpoints(std::function<DaemonConfig()> config) : config_(std::move(config)) {}

void PprofEndpoints::Count(const std::string& type, const std::string& outcome) {
  std::lock_guard<std::mutex> lock(counts_mutex_);
  counts_[{type, outcome}]++;
}

HttpResponse PprofEndpoints::Handle(const HttpRequest& request, std::stop_token stop) {
  const std::string prefix = "/debug/pprof/";
  if (request.path == "/metrics") return Metrics();
  if (request.path == "/debug/pprof") {
    HttpResponse redirect;
    redirect.status = 301;
    redirect.headers = {{"Location", prefix}};
    return redirect;
  }
  if (request.path.rfind(prefix, 0) != 0)
    return PprofErrorResponse(404, "not found: profd serves /debug/pprof/ and /metrics");
  const std::string name = request.path.substr(prefix.size());
  if (name.empty()) return Index();
  if (name == "cmdline") return Cmdline(request);
  // What Go answers to a GET of /symbol: symbols are looked up by POST, which profd has no use for
  // (its profiles come symbolized).
  if (name == "symbol") return TextResponse("num_symbols: 1\n");
  if (name == "trace")
    return PprofErrorResponse(404, "profd has no execution tracer: use profile, block or mutex");
  if (!FindEndpoint(name)) return PprofErrorResponse(404, "Unknown profile");
  return Profile(name, request, stop);
}

HttpResponse PprofEndpoints::Index() const {
  std::string body =
      "<html>\n<head>\n<title>/debug/pprof/</title>\n</head>\n<body>\n/debug/pprof/\n"
      "<p>profd serves these profiles of any process on this host: add <code>?pid=PID</code> "
      "(without it, the whole host where the type allows, labelled by pid and comm).</p>\n"
      "<table>\n<thead><td>Profile</td><td>Description</td></thead>\n";
  for (const ProfileTypeInfo& e : ProfileTypes()) {
    if (!e.description) continue;
    body += std::string("<tr><td><a href=\"") + e.endpoint + "?debug=1\">" + e.endpoint +
            "</a></td><td>" + HtmlEscape(e.description) + (e.needs_pid ? " Needs ?pid=." : "") +
            "</td></tr>\n";
  }
  body +=
      "<tr><td><a href=\"cmdline\">cmdline</a></td><td>The command line of ?pid= (default: "
      "profd's own).</td></tr>\n</table>\n<p>go tool pprof "
      "http://HOST:PORT/debug/pprof/profile?pid=PID&amp;seconds=10</p>\n</body>\n</html>\n";
  HttpResponse response;
  response.headers = {{"Content-Type", "text/html; charset=utf-8"},
                      {"X-Content-Type-Options", "nosniff"}};
  response.body = body;
  return response;
}

HttpResponse PprofEndpoints::Cmdline(const HttpRequest& request) const {
  pid_t pid = getpid();  // as Go's handler, the server's own without a pid
  if (auto it = request.query.find("pid"); it != request.query.end()) {
    std::vector<pid_t> pids;
    std::string error;
    if (!ParsePids(it->second, &pids, &error)) return PprofErrorResponse(400, error);
    if (pids.size() != 1)
      return PprofErrorResponse(400, "invalid value for \"pid\": cmdline takes one pid");
    pid = pids[0];
  }
  int status;
  std::string message;
  if (!CallerMayProfile(request, {pid}, config_().security.admin_group, &status, &message))
    return PprofErrorResponse(status, message);
  const std::optional<std::string> cmdline = ReadCmdline(pid);
  if (!cmdline) return PprofErrorResponse(404, "no process with pid " + std::to_string(pid));
  return TextResponse(*cmdline);
}

HttpResponse PprofEndpoints::Profile(const std::string& name, const HttpRequest& request,
                                     std::stop_token stop) {
  const ProfileTypeInfo& endpoint = *FindEndpoint(name);
  const DaemonConfig config = config_();
  const std::string type_name = ProfileTypeName(endpoint.type);
  ProfileAsk ask;
  if (std::optional<HttpResponse> refused = ReadAsk(name, endpoint, request, config, &ask))
    return *refused;

  HttpResponse ok;
  ok.headers = {{"X-Content-Type-Options", "nosniff"}};
  if (ask.debug_text) {
    ok.headers.push_back({"Content-Type", "text/plain; charset=utf-8"});
  } else {
    ok.headers.push_back({"Content-Type", "application/octet-stream"});
    ok.headers.push_back({"Content-Disposition", "attachment; filename=\"" + name + "\""});
  }
  if (request.method == "HEAD") return ok;  // no profile is started for a HEAD

  // The limit on profiles collected at once: beyond it, a clear refusal, never a queue.
  if (running_.fetch_add(1) >= config.limits.max_concurrent_requests) {
    running_.fetch_sub(1);
    Count(type_name, "busy");
    return PprofErrorResponse(503,
                              "too many profile requests at once (limits."
                              "max_concurrent_requests: " +
                                  std::to_string(config.limits.max_concurrent_requests) +
                                  "); try again when one has finished");
  }
  // The slot is given back however the collection ends (an exception included), or the daemon
  // would refuse every request once max_concurrent_requests slots had leaked.
  struct RunningSlot {
    std::atomic<int>& running;
    ~RunningSlot() { running.fetch_sub(1); }
  } slot{running_};
  LogInfo(request.remote_address + ": " + name + " profile of " +
          (ask.profile.all_processes ? std::string("the host")
                                     : "pid " + request.query.at("pid")) +
          (!endpoint.has_window ? ""
           : ask.cumulative     ? " (cumulative)"
           : ask.profile.launched ? " of a launched command, to its exit (at most " +
                                        Seconds(ask.profile.seconds) + ")"
                                : " for " + Seconds(ask.profile.seconds)));
  CollectedProfile collected = Collect(ask, config, request, stop);
  served_.fetch_add(1);
  return Answer(name, request, config, ask.debug_text, &collected, std::move(ok));
}

std::optional<HttpResponse> PprofEndpoints::ReadAsk(const std::string& name,
                                                    const ProfileTypeInfo& endpoint,
                                                    const HttpRequest& request,
                                                    const DaemonConfig& config, ProfileAsk* ask) {
  const std::string type_name = ProfileTypeName(endpoint.type);
  ProfileRequest defaults;
  ApplyDaemonSettings(config, &defaults);
  Result<ProfileQuery> decoded = DecodeProfileQuery(
      request.query, endpoint, defaults,
      std::chrono::duration<double>(config.limits.max_seconds).count());
  if (!decoded) {
    Count(type_name, "bad_request");
    return PprofErrorResponse(400, decoded.error());
  }
  ask->profile = std::move(decoded->request);
  ask->cumulative = decoded->cumulative;
  ask->debug_text = decoded->debug_text;
  int status;
  std::string message;
  if (!CallerMayProfile(request, ask->profile.pids, config.security.admin_group, &status,
                        &message)) {
    Count(type_name, status == 403 ? "forbidden" : "not_found");
    LogInfo(request.remote_address + ": " + name + " profile refused: " + message);
    return PprofErrorResponse(status, message);
  }
  // Allowed because the targets are the caller's: they stay profiled only while they are (a
  // set-user-ID exec mid-window ends their part of it).
  if (!request.token_authenticated && request.peer && request.peer->uid != 0 &&
      !InGroup(*request.peer, config.security.admin_group))
    ask->profile.owner_uid = request.peer->uid;
  return std::nullopt;
}

CollectedProfile PprofEndpoints::Collect(const ProfileAsk& ask, const DaemonConfig& config,
                                         const HttpRequest& request, std::stop_token stop) {
  const ProfileRequest& profile = ask.profile;
  if (profile.launched) {
    // A command its CLI launched and holds: a 102 tells the CLI the collector is attached, and it
    // lets the command run. The window ends at the command's exit, or when the CLI shuts its side
    // of the connection (a second Ctrl-C); what was collected is answered even then.
    CollectionHooks hooks;
    hooks.attached = [&request] {
      if (request.send_informational) request.send_informational(102, {{"X-Profd-Attached", "1"}});
    };
    hooks.until_exit = true;
    const pid_t command = profile.pids.front();
    hooks.stop_requested = [&stop, command] {
      return stop.stop_requested() || !ProcessExists(command);
    };
    hooks.shared_symbolizer = shared_cpu_;
    return CollectProfile(profile, hooks);
  }
  if (ask.cumulative) {
    CumulativeProfiles::Limits limits;
    limits.max_tracked = config.limits.max_cumulative_profiles;
    limits.idle_expiry = config.limits.cumulative_idle_expiry;
    return cumulative_.Get(profile, limits, stop);
  }
  CollectionHooks hooks;
  hooks.stop_requested = [&stop] { return stop.stop_requested(); };
  hooks.abandon_when_stopped = true;  // the client went away, or the daemon is stopping
  // The shared sampler takes every process; only a collector of its own filters by owner.
  if (shared_cpu_ && profile.owner_uid < 0 && profile.frequency_hz == shared_cpu_frequency_() &&
      profile.dwarf_unwinding == shared_cpu_dwarf_) {
    hooks.shared_cpu = shared_cpu_;
    hooks.shared_cpu_frequency = shared_cpu_frequency_;
  }
  hooks.shared_symbolizer = shared_cpu_;
  return CollectProfile(profile, hooks);
}

HttpResponse PprofEndpoints::Answer(const std::string& name, const HttpRequest& request,
                                    const DaemonConfig& config, bool debug_text,
                                    CollectedProfile* collected_profile, HttpResponse ok) {
  CollectedProfile& collected = *collected_profile;
  const std::string type_name = ProfileTypeName(FindEndpoint(name)->type);
  // The outcome is also a header, so the CLI over the control socket can exit as it would have
  // itself: a 400 from the collection (a kernel thread's pid) is its exit 1, not a usage error.
  auto collection_error = [&](int status, const std::string& outcome, const std::string& message) {
    Count(type_name, outcome);
    HttpResponse response = PprofErrorResponse(status, message);
    response.headers.push_back({"X-Profd-Outcome", outcome});
    return response;
  };
  switch (collected.status) {
    case CollectedProfile::Status::kBadRequest:
      return collection_error(400, "bad_request", collected.error);
    case CollectedProfile::Status::kTargetMissing:
      return collection_error(404, "not_found", collected.error);
    case CollectedProfile::Status::kStopped:
      Count(type_name, "stopped");
      return PprofErrorResponse(503, "profd is stopping");
    case CollectedProfile::Status::kFailed:
      Count(type_name, "failed");
      LogWarning(name + " profile failed: " + collected.error);
      return PprofErrorResponse(500, "Could not enable " + name + " profiling: " + collected.error);
    case CollectedProfile::Status::kOk:
    case CollectedProfile::Status::kPartial:
      break;
  }
  const std::string outcome = collected.status == CollectedProfile::Status::kOk ? "ok" : "partial";
  Count(type_name, outcome);
  ok.headers.push_back({"X-Profd-Outcome", outcome});
  // Kernel addresses are for root alone, as in /proc/kallsyms (a uid has no CAP_SYSLOG).
  const perftools::profiles::Profile* served = &collected.builder->profile();
  perftools::profiles::Profile hidden;
  if (!request.token_authenticated && !(request.peer && request.peer->uid == 0)) {
    hidden = *served;
    HideKernelAddresses(&hidden, config.security.kernel_frames == "none" ? KernelFrames::kNone
                                                                         : KernelFrames::kNames);
    served = &hidden;
  }
  if (debug_text) {
    ok.body = FormatProfileText(name, *served);
  } else {
    if (std::string invalid = CheckValid(*served); !invalid.empty())
      LogError("internal error: the profile breaks pprof's rules (" + invalid + ")");
    ok.body = Gzip(served->SerializeAsString());
  }
  return ok;
}

HttpResponse PprofEndpoints::Metrics() const {
  std::string body =
      "# HELP profd_profile_requests_running Profile requests being collected now.\n"
      "# TYPE profd_profile_requests_running gauge\n"
      "profd_profile_requests_running " +
      std::to_string(running_.load()) +
      "\n# HELP profd_profile_requests_total Profile requests answered, by type and outcome.\n"
      "# TYPE profd_profile_requests_total counter\n";
  std::lock_guard<std::mutex> lock(counts_mutex_);
  for (const auto& [key, count] : counts_)
    body += "profd_profile_requests_total{type=\"" + key.first + "\",outcome=\"" + key.second +
            "\"} " + std::to_string(count) + "\n";
  body += cumulative_.Metrics();
  if (extra_metrics_) body += extra_metrics_();
  HttpResponse response;
  response.headers = {{"Content-Type", "text/plain; version=0.0.4; charset=utf-8"}};
  response.body = body;
  return response;
}

std::string FormatProfileText(const std::string& name,
                              const perftools::profiles::Profile& profile) {
  auto str = [&](int64_t index) -> const std::string& { return profile.string_table(index); };
  std::unordered_map<uint64_t, const perftools::profiles::Location*> locations;
  for (const auto& l : profile.location()) locations[l.id()] = &l;
  std::unordered_map<uint64_t, const perftools::profiles::Function*> functions;
  for (const auto& f : profile.function()) functions[f.id()] = &f;

  int column = 0;  // the default sample type, else the last
  for (int i = 0; i < profile.sample_type_size(); i++)
    if (profile.default_sample_type() &&
        profile.sample_type(i).type() == profile.default_sample_type())
      column = i;
  if (!profile.default_sample_type()) column = profile.sample_type_size() - 1;
  int64_t total = 0;
  for (const auto& s : profile.sample()) total += s.value(column);

  std::string out = name + " profile: total " + std::to_string(total) + " (" +
                    str(profile.sample_type(column).type()) + "/" +
                    str(profile.sample_type(column).unit()) + ")\n";
  for (const std::string& comment : [&] {
         std::vector<std::string> c;
         for (int64_t index : profile.comment()) c.push_back(str(index));
         return c;
       }())
    out += "# " + comment + "\n";
  char buffer[64];
  for (const auto& s : profile.sample()) {
    out += "\n";
    for (int i = 0; i < s.value_size(); i++) out += std::to_string(s.value(i)) + " ";
    out += "@";
    for (uint64_t id : s.location_id()) {
      std::snprintf(buffer, sizeof(buffer), " %#" PRIx64,
                    locations.count(id) ? locations[id]->address() : 0);
      out += buffer;
    }
    out += "\n";
    for (const auto& label : s.label())
      out += "# label " + str(label.key()) + "=" +
             (label.str() ? str(label.str()) : std::to_string(label.num())) + "\n";
    for (uint64_t id : s.location_id()) {
      const perftools::profiles::Location* l = locations.count(id) ? locations[id] : nullptr;
      if (!l) continue;
      std::snprintf(buffer, sizeof(buffer), "%#" PRIx64, l->address());
      if (l->line_size() == 0) out += std::string("#\t") + buffer + "\n";
      for (const auto& line : l->line()) {
        const perftools::profiles::Function* f =
            functions.count(line.function_id()) ? functions[line.function_id()] : nullptr;
        out += std::string("#\t") + buffer + "\t" + (f ? str(f->name()) : "?");
        if (f && f->filename())
          out += "\t" + str(f->filename()) + ":" + std::to_string(line.line());
        out += "\n";
      }
    }
  }
  return out;
}

}  // namespace profd

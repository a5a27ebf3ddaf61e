#include "profiles/request_query.h"

#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdlib>

#include "profiles/profile_collection.h"
#include "units.h"

namespace profd {

namespace {

// The shortest text that reads back as `value`.
std::string FormatNumber(double value) {
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return std::string(buffer, result.ptr);
}

}  // namespace

int WholeSeconds(double seconds) {
  // A hair below a whole number (from parsing "3") is that number, not one more.
  return std::max(1, static_cast<int>(std::ceil(seconds - 1e-9)));
}

std::string DaemonRequestTarget(const ProfileRequest& request) {
  std::string target = std::string("/debug/pprof/") + InfoOf(request.type).endpoint;
  std::string query;
  auto add = [&](const std::string& key, const std::string& value) {
    query += (query.empty() ? "?" : "&") + key + "=" + value;
  };
  if (!request.all_processes) {
    std::string pids;
    for (pid_t pid : request.pids) pids += (pids.empty() ? "" : ",") + std::to_string(pid);
    add("pid", pids);
  }
  // A launched command's window runs to its exit: seconds only when --seconds caps it.
  if (InfoOf(request.type).has_window && !(request.launched && request.seconds >= kMaxSeconds))
    add("seconds", std::to_string(WholeSeconds(request.seconds)));
  if (request.launched) {
    add("launch", "1");
    if (request.follow_forks) add("follow", "1");
    if (request.preload_sampler) add("preload", "1");
    if (request.heap_peak) add("peak", "1");
  }
  // Only settings the user changed: the rest are the daemon's (its configuration's defaults are
  // the CLI's), so requests can share its collectors.
  const ProfileRequest defaults;
  if (request.type == ProfileType::kCpu && request.frequency_hz != defaults.frequency_hz)
    add("frequency", std::to_string(request.frequency_hz));
  if (request.type == ProfileType::kBlock &&
      request.min_block_seconds != defaults.min_block_seconds)
    add("min_block",
        FormatDuration(std::chrono::nanoseconds(std::llround(request.min_block_seconds * 1e9))));
  if (request.type == ProfileType::kHeap || request.type == ProfileType::kAllocs) {
    // The preload sampler draws at the CLI's rate: the daemon must scale by the same.
    if (request.sample_rate_bytes != defaults.sample_rate_bytes || request.preload_sampler)
      add("sample_rate", std::to_string(request.sample_rate_bytes));
    if (request.max_overhead_percent != defaults.max_overhead_percent)
      add("max_overhead", FormatNumber(request.max_overhead_percent));
  }
  if (request.type != ProfileType::kCmdline && request.dwarf_unwinding != defaults.dwarf_unwinding)
    add("unwind", request.dwarf_unwinding ? "dwarf" : "fp");
  return target + query;
}

bool ParsePids(const std::string& text, std::vector<pid_t>* pids, std::string* error) {
  if (ParsePidList(text, pids, error)) return true;
  const std::string flag = "--pid: ";
  if (error->starts_with(flag)) error->erase(0, flag.size());
  *error = "invalid value for \"pid\": " + *error;
  return false;
}

Result<ProfileQuery> DecodeProfileQuery(const std::map<std::string, std::string>& query,
                                        const ProfileTypeInfo& endpoint,
                                        const ProfileRequest& defaults, double max_seconds) {
  ProfileQuery decoded;
  ProfileRequest& request = decoded.request;
  request = defaults;
  request.type = endpoint.type;
  std::string error;
  if (auto it = query.find("pid"); it != query.end()) {
    if (!ParsePids(it->second, &request.pids, &error)) return Error{error};
  } else if (endpoint.needs_pid) {
    return Error{std::string("the ") + endpoint.endpoint +
                 " profile needs ?pid=PID: it probes or stops the given processes, never the "
                 "whole host"};
  } else {
    request.all_processes = true;
  }
  if (!DecodeTuningParameters(query, &request, &error)) return Error{error};
  if (request.launched && (request.pids.size() != 1 || !endpoint.has_window))
    return Error{"launch=1 takes one pid (the launched command's) and a type with a window"};
  request.seconds = request.launched ? max_seconds : 30;
  decoded.cumulative = endpoint.cumulative && !request.launched && !query.count("seconds");
  if (auto it = query.find("seconds"); it != query.end()) {
    char* end = nullptr;
    const long long seconds = std::strtoll(it->second.c_str(), &end, 10);
    if (!it->second.empty() && *end == '\0' && seconds > 0)
      request.seconds = static_cast<double>(seconds);
    else if (endpoint.type != ProfileType::kCpu)  // Go's /profile alone takes its default then
      return Error{"invalid value for \"seconds\""};
  }
  if (request.seconds > max_seconds && endpoint.has_window)
    return Error{"profile duration exceeds server's limit (limits.max_seconds: " +
                 Seconds(max_seconds) + ")"};
  if (auto it = query.find("debug"); it != query.end())
    decoded.debug_text = it->second != "" && it->second != "0";
  return decoded;
}

bool DecodeTuningParameters(const std::map<std::string, std::string>& query,
                            ProfileRequest* profile, std::string* error) {
  auto find = [&](const char* key) -> const std::string* {
    auto it = query.find(key);
    return it == query.end() ? nullptr : &it->second;
  };
  auto invalid = [&](const char* key, const std::string& expected) {
    *error = std::string("invalid value for \"") + key + "\": expected " + expected;
    return false;
  };
  auto flag = [&](const char* key, bool* value) {
    const std::string* text = find(key);
    if (!text) return true;
    if (*text != "0" && *text != "1") return invalid(key, "0 or 1");
    *value = *text == "1";
    return true;
  };
  if (!flag("launch", &profile->launched) || !flag("follow", &profile->follow_forks) ||
      !flag("peak", &profile->heap_peak) || !flag("preload", &profile->preload_sampler))
    return false;
  if (!profile->launched &&
      (profile->follow_forks || profile->heap_peak || profile->preload_sampler)) {
    *error = "follow, peak and preload go with launch=1 (a command the CLI launched)";
    return false;
  }
  if (const std::string* text = find("frequency")) {
    char* end = nullptr;
    const long hz = std::strtol(text->c_str(), &end, 10);
    if (text->empty() || *end != '\0' || hz < 1 || hz > kMaxFrequencyHz)
      return invalid("frequency",
                     "samples per second per CPU, 1.." + std::to_string(kMaxFrequencyHz));
    profile->frequency_hz = static_cast<int>(hz);
  }
  if (const std::string* text = find("unwind")) {
    if (*text != "dwarf" && *text != "fp") return invalid("unwind", "dwarf or fp");
    profile->dwarf_unwinding = *text == "dwarf";
  }
  if (const std::string* text = find("min_block")) {
    std::chrono::nanoseconds duration;
    if (!ParseDuration(*text, &duration, nullptr) || duration.count() < 0 ||
        duration > std::chrono::seconds(60))
      return invalid("min_block", "a duration from 0 to 60s (e.g. 10us, 1ms)");
    profile->min_block_seconds = std::chrono::duration<double>(duration).count();
  }
  if (const std::string* text = find("sample_rate")) {
    uint64_t bytes;
    if (!ParseByteSize(*text, &bytes, nullptr) || bytes < 1 || bytes > (uint64_t{1} << 40))
      return invalid("sample_rate", "bytes between samples, 1 to 1TiB (e.g. 512KiB, 4096)");
    profile->sample_rate_bytes = bytes;
  }
  if (const std::string* text = find("max_overhead")) {
    char* end = nullptr;
    const double percent = std::strtod(text->c_str(), &end);
    if (text->empty() || *end != '\0' || !std::isfinite(percent) || !(percent > 0) || percent > 100)
      return invalid("max_overhead", "a percent in (0, 100]");
    profile->max_overhead_percent = percent;
  }
  return true;
}

}  // namespace profd

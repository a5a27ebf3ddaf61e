#include "profiles/top_table.h"

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <unordered_map>
#include <vector>

namespace profd {
namespace {

std::string TrimmedFixed(double v) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%.2f", v);
  std::string s = buffer;
  if (s.size() > 3 && s.compare(s.size() - 3, 3, ".00") == 0) s.resize(s.size() - 3);
  return s;
}

// pprof's measurement.Percentage: "  100%", "75.00%", "    0%".
std::string Percent(double part, double total) {
  const double ratio = total == 0 ? 0.0 : std::fabs(part / total) * 100;
  char buffer[32];
  if (ratio >= 99.95 && ratio <= 100.05)
    return "  100%";
  else if (ratio >= 1.0)
    std::snprintf(buffer, sizeof(buffer), "%5.2f%%", ratio);
  else
    std::snprintf(buffer, sizeof(buffer), "%5.2g%%", ratio);
  return buffer;
}

std::string Trim(const std::string& s) {
  const size_t first = s.find_first_not_of(' ');
  return first == std::string::npos ? s : s.substr(first);
}

}  // namespace

std::string FormatValue(int64_t value, const std::string& unit) {
  if (value == 0) return "0";
  const double v = static_cast<double>(value);
  const double magnitude = std::fabs(v);
  if (unit == "nanoseconds") {
    static const std::pair<double, const char*> kUnits[] = {
        {3600e9, "hrs"}, {60e9, "mins"}, {1e9, "s"}, {1e6, "ms"}, {1e3, "us"}, {1, "ns"}};
    for (const auto& [scale, name] : kUnits)
      if (magnitude >= scale) return TrimmedFixed(v / scale) + name;
  }
  if (unit == "bytes") {
    static const std::pair<double, const char*> kUnits[] = {
        {1099511627776.0, "TB"}, {1073741824.0, "GB"}, {1048576.0, "MB"}, {1024.0, "kB"}, {1, "B"}};
    for (const auto& [scale, name] : kUnits)
      if (magnitude >= scale) return TrimmedFixed(v / scale) + name;
  }
  return std::to_string(value);
}

std::string FormatTopTable(const perftools::profiles::Profile& profile, size_t max_rows) {
  const auto& strings = profile.string_table();
  auto str = [&](int64_t i) -> std::string {
    return i >= 0 && i < strings.size() ? strings[i] : std::string();
  };
  if (profile.sample_type_size() == 0) return "";
  int index = profile.sample_type_size() - 1;
  for (int i = 0; i < profile.sample_type_size(); i++)
    if (profile.default_sample_type() &&
        profile.sample_type(i).type() == profile.default_sample_type())
      index = i;
  const std::string unit = str(profile.sample_type(index).unit());

  std::unordered_map<uint64_t, std::string> function_names;
  for (const auto& f : profile.function()) function_names[f.id()] = str(f.name());
  std::unordered_map<uint64_t, std::vector<std::string>> location_functions;  // innermost first
  for (const auto& loc : profile.location()) {
    auto& names = location_functions[loc.id()];
    for (const auto& line : loc.line()) names.push_back(function_names[line.function_id()]);
    if (names.empty()) {
      char buffer[32];
      std::snprintf(buffer, sizeof(buffer), "%016" PRIx64, loc.address());
      names.push_back(buffer);
    }
  }

  std::map<std::string, int64_t> flat, cum;
  int64_t total = 0;
  for (const auto& sample : profile.sample()) {
    if (index >= sample.value_size()) continue;
    const int64_t v = sample.value(index);
    total += v;
    std::set<std::string> seen;
    for (int i = 0; i < sample.location_id_size(); i++) {
      const auto& names = location_functions[sample.location_id(i)];
      if (i == 0 && !names.empty()) flat[names.front()] += v;
      for (const auto& name : names)
        if (seen.insert(name).second) cum[name] += v;
    }
  }

  std::vector<std::string> rows;
  for (const auto& [name, v] : cum) rows.push_back(name);
  std::stable_sort(rows.begin(), rows.end(), [&](const std::string& a, const std::string& b) {
    if (flat[a] != flat[b]) return flat[a] > flat[b];
    return cum[a] > cum[b];
  });

  const size_t shown = std::min(rows.size(), max_rows);
  int64_t shown_flat = 0;
  for (size_t i = 0; i < shown; i++) shown_flat += flat[rows[i]];

  std::string out = "Showing nodes accounting for " + FormatValue(shown_flat, unit) + ", " +
                    Trim(Percent(shown_flat, total)) + " of " + FormatValue(total, unit) +
                    " total\n";
  if (shown < rows.size())
    out += "Showing top " + std::to_string(shown) + " nodes out of " + std::to_string(rows.size()) +
           "\n";
  char line[512];
  std::snprintf(line, sizeof(line), "%10s %6s %6s %10s %6s\n", "flat", "flat%", "sum%", "cum",
                "cum%");
  out += line;
  int64_t sum = 0;
  for (size_t i = 0; i < shown; i++) {
    const std::string& name = rows[i];
    sum += flat[name];
    std::snprintf(line, sizeof(line), "%10s %6s %6s %10s %6s  ",
                  FormatValue(flat[name], unit).c_str(), Percent(flat[name], total).c_str(),
                  Percent(sum, total).c_str(), FormatValue(cum[name], unit).c_str(),
                  Percent(cum[name], total).c_str());
    out += line + name + "\n";
  }
  return out;
}

}  // namespace profd

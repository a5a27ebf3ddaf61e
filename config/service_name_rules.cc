#include "service_name_rules.h"

#include <cctype>

namespace profd {
namespace {

// Expands `value` with `groups` (group 0 the whole match); false with `why` for a '$' that is
// not $0..$9 or $$, or a group beyond `group_count`.
bool Expand(const std::string& value, const std::smatch* groups, size_t group_count,
            std::string* out, std::string* why) {
  for (size_t i = 0; i < value.size(); i++) {
    if (value[i] != '$') {
      *out += value[i];
      continue;
    }
    const char next = i + 1 < value.size() ? value[i + 1] : '\0';
    i++;
    if (next == '$') {
      *out += '$';
    } else if (std::isdigit(static_cast<unsigned char>(next)) &&
               static_cast<size_t>(next - '0') <= group_count) {
      if (groups) *out += (*groups)[next - '0'].str();
    } else {
      *why = std::isdigit(static_cast<unsigned char>(next))
                 ? std::string("$") + next + " names a group the pattern does not have"
                 : "a '$' is followed by a group number 0-9 or another '$'";
      return false;
    }
  }
  return true;
}

}  // namespace

std::string ServiceNameRuleProblem(const ServiceNameRule& rule) {
  if (rule.match != "comm" && rule.match != "exe" && rule.match != "cgroup")
    return "matches comm, exe or cgroup, not " + rule.match;
  std::regex pattern;
  try {
    pattern = std::regex(rule.pattern, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    return "the pattern does not compile: " + std::string(e.what());
  }
  if (rule.value.empty()) return "the value (the name to give) is empty";
  std::string out, why;
  if (!Expand(rule.value, nullptr, pattern.mark_count(), &out, &why)) return why;
  return "";
}

ServiceNameRules::ServiceNameRules(const std::vector<ServiceNameRule>& rules) {
  for (const ServiceNameRule& rule : rules)
    if (ServiceNameRuleProblem(rule).empty())
      rules_.push_back({rule, std::regex(rule.pattern, std::regex::ECMAScript)});
}

namespace {
// Longer than any path the kernel gives (PATH_MAX): not matched, so no rule's cost grows with it.
constexpr size_t kMaxSubjectBytes = 4096;
}  // namespace

std::string ServiceNameRules::NameOf(const std::string& comm, const std::string& exe,
                                     const std::string& cgroup) const {
  for (const Compiled& c : rules_) {
    const std::string& subject = c.rule.match == "comm"  ? comm
                                 : c.rule.match == "exe" ? exe
                                                         : cgroup;
    // The subject is any process's (a user names their own executable and cgroup paths): a
    // pattern that backtracks too much on it makes the regex library throw, which is no match.
    std::smatch groups;
    try {
      if (subject.size() > kMaxSubjectBytes || !std::regex_search(subject, groups, c.pattern))
        continue;
    } catch (const std::regex_error&) {
      continue;
    }
    std::string name, why;
    if (Expand(c.rule.value, &groups, c.pattern.mark_count(), &name, &why) && !name.empty())
      return name;
  }
  return "";
}

}  // namespace profd

// Rules for the service_name label (config `labels.service_name`): each matches one of a
// process's command name, executable path or cgroup path with a regular expression, and names
// the service by a template of what it matched. The first rule that matches wins; a process no
// rule matches keeps the default name (process/process_labels.h).
#ifndef PROFD_CONFIG_SERVICE_NAME_RULES_H
#define PROFD_CONFIG_SERVICE_NAME_RULES_H

#include <regex>
#include <string>
#include <vector>

namespace profd {

struct ServiceNameRule {
  std::string match;    // what the pattern is searched in: "comm", "exe" or "cgroup"
  std::string pattern;  // an ECMAScript regular expression, searched (anchor it with ^ and $)
  // The name: text where $1..$9 are the pattern's groups, $0 the whole match and $$ a '$'.
  std::string value;
  bool operator==(const ServiceNameRule&) const = default;
};

// Why `rule` cannot be used (its pattern does not compile, its value is empty or names a group
// the pattern lacks, another '$'); "" when it can.
std::string ServiceNameRuleProblem(const ServiceNameRule& rule);

// The rules compiled once, for naming every process the daemon reads.
class ServiceNameRules {
 public:
  // Rules with a problem are left out (the config loader refuses them first).
  explicit ServiceNameRules(const std::vector<ServiceNameRule>& rules);

  // The first matching rule's name; "" when none matches (or its name came out empty).
  std::string NameOf(const std::string& comm, const std::string& exe,
                     const std::string& cgroup) const;

 private:
  struct Compiled {
    ServiceNameRule rule;
    std::regex pattern;
  };
  std::vector<Compiled> rules_;
};

}  // namespace profd

#endif  // PROFD_CONFIG_SERVICE_NAME_RULES_H

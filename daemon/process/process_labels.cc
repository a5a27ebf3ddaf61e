#include "process/process_labels.h"

#include <unistd.h>

#include <algorithm>
#include <functional>
#include <mutex>
#include <string_view>

namespace profd {
namespace {

// The first non-empty answer of `pick` for the components of a cgroup path, innermost first (a
// process's own cgroup is below its container's, its pod's and its slice's).
std::string InnermostMatch(const std::string& cgroup,
                           const std::function<std::string(std::string_view)>& pick) {
  size_t end = cgroup.size();
  while (end > 0) {
    const size_t start = cgroup.rfind('/', end - 1);
    const size_t from = start == std::string::npos ? 0 : start + 1;
    if (std::string found = pick(std::string_view(cgroup).substr(from, end - from)); !found.empty())
      return found;
    if (start == std::string::npos || start == 0) break;
    end = start;
  }
  return "";
}

bool IsContainerId(std::string_view text) {
  return text.size() == 64 && std::all_of(text.begin(), text.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// A cgroup component's container: the runtime's prefix ("docker-", "" for cgroupfs' bare id)
// and the id; false for anything else.
bool ContainerOf(std::string_view component, std::string_view* prefix, std::string_view* id) {
  if (component.ends_with(".scope")) component.remove_suffix(6);
  for (std::string_view runtime : {"docker-", "cri-containerd-", "crio-", "libpod-"}) {
    if (component.starts_with(runtime) && IsContainerId(component.substr(runtime.size()))) {
      *prefix = runtime;
      *id = component.substr(runtime.size());
      return true;
    }
  }
  *prefix = "";
  *id = component;
  return IsContainerId(component);  // cgroupfs: /docker/ID, /kubepods/.../ID
}

// A cgroup component that names no service: systemd's slices, login sessions and its own scope.
bool NamesNoService(std::string_view component) {
  return component.empty() || component.ends_with(".slice") ||
         (component.starts_with("session-") && component.ends_with(".scope")) ||
         component == "init.scope" || component.starts_with("user@");
}

std::mutex rules_mutex;
std::shared_ptr<const ServiceNameRules> rules_in_force;  // under rules_mutex

}  // namespace

std::string DefaultServiceName(const std::string& cgroup, const std::string& comm) {
  const std::string unit_or_container = InnermostMatch(cgroup, [](std::string_view component) {
    std::string_view prefix, id;
    if (ContainerOf(component, &prefix, &id))
      return std::string(prefix) + std::string(id.substr(0, 12));
    return component.ends_with(".service") && !component.starts_with("user@")
               ? std::string(component)
               : std::string();
  });
  if (!unit_or_container.empty()) return unit_or_container;
  const std::string_view last = std::string_view(cgroup).substr(cgroup.rfind('/') + 1);
  if (!cgroup.empty() && !NamesNoService(last)) return std::string(last);
  return comm.empty() ? "unknown" : comm;
}

void SetServiceNameRules(std::shared_ptr<const ServiceNameRules> rules) {
  std::lock_guard<std::mutex> lock(rules_mutex);
  rules_in_force = std::move(rules);
}

std::string ServiceNameOf(const std::string& cgroup, const std::string& comm,
                          const std::string& exe) {
  std::shared_ptr<const ServiceNameRules> rules;
  {
    std::lock_guard<std::mutex> lock(rules_mutex);
    rules = rules_in_force;
  }
  if (rules)
    if (std::string named = rules->NameOf(comm, exe, cgroup); !named.empty()) return named;
  return DefaultServiceName(cgroup, comm);
}

std::string ContainerIdOf(const std::string& cgroup) {
  return InnermostMatch(cgroup, [](std::string_view component) {
    std::string_view prefix, id;
    return ContainerOf(component, &prefix, &id) ? std::string(id) : std::string();
  });
}

std::string HostName() {
  char host[256] = {};
  return gethostname(host, sizeof(host) - 1) == 0 ? host : "";
}

}  // namespace profd

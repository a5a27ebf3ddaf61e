// The labels that say which service and container a process belongs to (service_name,
// container_id), read from its cgroup path, command name and executable: the same on the samples
// of every profile profd writes and on every push.
#ifndef PROFD_DAEMON_PROCESS_PROCESS_LABELS_H
#define PROFD_DAEMON_PROCESS_PROCESS_LABELS_H

#include <memory>
#include <string>

#include "service_name_rules.h"

namespace profd {

// The service_name profd gives a process no rule names, from its cgroup v2 path, innermost
// component first: a systemd service unit ("/system.slice/nginx.service" → "nginx.service"; a
// user's service manager user@UID.service is none) or a container ("docker-ID.scope" →
// "docker-0123456789ab", "/docker/ID" → "0123456789ab": the component, .scope dropped, its id cut
// to 12 as `docker ps` shows it; the container's own name is not in the cgroup). Else the
// innermost component itself unless it names no service (a slice, a login session
// session-N.scope, init.scope, the root). Else `comm`, else "unknown".
std::string DefaultServiceName(const std::string& cgroup, const std::string& comm);

// The daemon's rules (config labels.service_name), for every process read from now on; null for
// none. They are configuration read wherever a process is first captured (each collection's
// ProcessTable, the schedule's pushes), so they are set here once per load, not passed down.
void SetServiceNameRules(std::shared_ptr<const ServiceNameRules> rules);

// The process's service_name: the first rule that matches, else DefaultServiceName.
std::string ServiceNameOf(const std::string& cgroup, const std::string& comm,
                          const std::string& exe);

// The id (64 hex digits) of the container a process runs in, from its cgroup path as Docker,
// containerd (Kubernetes), CRI-O and Podman name them, with the systemd or the cgroupfs driver
// ("/system.slice/docker-ID.scope", ".../cri-containerd-ID.scope", ".../crio-ID.scope",
// ".../libpod-ID.scope", "/docker/ID", "/kubepods/burstable/podUID/ID"); "" when none. The
// runtimes' monitor processes (crio-conmon-ID, libpod-conmon-ID) are not in the container.
std::string ContainerIdOf(const std::string& cgroup);

// This host's name (the hostname label of samples and pushes); "" when it cannot be read.
std::string HostName();

}  // namespace profd

#endif  // PROFD_DAEMON_PROCESS_PROCESS_LABELS_H

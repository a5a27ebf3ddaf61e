// The labels naming a process's service and container, from made-up cgroup paths.
#include "process/process_labels.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace profd {
namespace {

TEST(ProcessLabels, ServiceNameIsTheInnermostSystemdService) {
  EXPECT_EQ(DefaultServiceName("/system.slice/nginx.service", "nginx"), "nginx.service");
  EXPECT_EQ(DefaultServiceName(
                "/user.slice/user-1000.slice/user@1000.service/app.slice/foo.service", "foo"),
            "foo.service");
  // A user's service manager is no service of its own; a session scope is none either.
  EXPECT_EQ(
      DefaultServiceName("/user.slice/user-1000.slice/user@1000.service/init.scope", "systemd"),
      "systemd");
  EXPECT_EQ(DefaultServiceName("/user.slice/user-0.slice/session-3.scope", "bash"), "bash");
  EXPECT_EQ(DefaultServiceName("/", "worker"), "worker");
  EXPECT_EQ(DefaultServiceName("", ""), "unknown");
  // A scope named so but without a whole id is no container; a transient scope is a cgroup.
  EXPECT_EQ(DefaultServiceName("/system.slice/docker-0123abcd.scope", "redis-server"),
            "docker-0123abcd.scope");
}

TEST(ProcessLabels, ContainerIdsFromEachRuntimesCgroups) {
  const std::string id(64, 'a');
  const std::string other = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  EXPECT_EQ(ContainerIdOf("/system.slice/docker-" + id + ".scope"), id);
  EXPECT_EQ(ContainerIdOf("/docker/" + id), id);
  EXPECT_EQ(ContainerIdOf("/kubepods.slice/kubepods-burstable.slice/"
                          "kubepods-burstable-pod0c5a1b2e_3d4f.slice/cri-containerd-" +
                          other + ".scope"),
            other);
  EXPECT_EQ(ContainerIdOf("/kubepods/burstable/pod0c5a1b2e-3d4f/" + other), other);
  EXPECT_EQ(ContainerIdOf("/kubepods.slice/kubepods-pod1.slice/crio-" + id + ".scope"), id);
  EXPECT_EQ(ContainerIdOf("/machine.slice/libpod-" + other + ".scope/container"), other);
  EXPECT_EQ(ContainerIdOf("/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + id +
                          ".scope"),
            id);
  // The runtimes' monitors, the host's own services, and ids of the wrong length are none.
  EXPECT_EQ(ContainerIdOf("/machine.slice/libpod-conmon-" + id + ".scope"), "");
  EXPECT_EQ(ContainerIdOf("/system.slice/crio-conmon-" + id + ".scope"), "");
  EXPECT_EQ(ContainerIdOf("/system.slice/nginx.service"), "");
  EXPECT_EQ(ContainerIdOf("/docker/" + id.substr(1)), "");
  EXPECT_EQ(ContainerIdOf("/docker/" + std::string(64, 'G')), "");
  EXPECT_EQ(ContainerIdOf(""), "");
  EXPECT_EQ(ContainerIdOf("/"), "");
}

TEST(ProcessLabels, ServiceNameOfAContainerOrACgroupBeforeTheCommand) {
  const std::string id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  EXPECT_EQ(DefaultServiceName("/system.slice/docker-" + id + ".scope", "redis-server"),
            "docker-0123456789ab");
  EXPECT_EQ(DefaultServiceName("/docker/" + id, "redis-server"), "0123456789ab");
  EXPECT_EQ(DefaultServiceName("/kubepods.slice/kubepods-burstable.slice/"
                               "kubepods-burstable-pod0c5a.slice/cri-containerd-" +
                                   id + ".scope",
                               "java"),
            "cri-containerd-0123456789ab");
  EXPECT_EQ(DefaultServiceName("/kubepods/besteffort/pod0c5a-1b2e/" + id, "java"), "0123456789ab");
  // A service inside a container (systemd in it) is the innermost, and names it.
  EXPECT_EQ(DefaultServiceName("/machine.slice/libpod-" + id + ".scope/system.slice/nginx.service",
                               "nginx"),
            "nginx.service");
  // A container in a service's cgroup (containerd's cgroupfs driver) is the container.
  EXPECT_EQ(DefaultServiceName("/system.slice/containerd.service/" + id, "sh"), "0123456789ab");
  // A cgroup of its own that is no unit: its last component.
  EXPECT_EQ(DefaultServiceName("/batch/nightly-report", "python3"), "nightly-report");
  EXPECT_EQ(DefaultServiceName("/system.slice/run-r2f9c.scope", "sleep"), "run-r2f9c.scope");
  // Slices, sessions, init.scope and the root name no service: the command does.
  EXPECT_EQ(DefaultServiceName("/user.slice", "bash"), "bash");
  EXPECT_EQ(DefaultServiceName("/init.scope", "systemd"), "systemd");
}

TEST(ProcessLabels, RulesFirstThenTheDefault) {
  SetServiceNameRules(std::make_shared<ServiceNameRules>(
      std::vector<ServiceNameRule>{{"cgroup", "^/kubepods/[^/]+/pod([0-9a-f-]+)/", "pod-$1"},
                                   {"exe", "^/opt/([a-z]+)/bin/", "$1"},
                                   {"comm", "^postgres", "postgresql"}}));
  EXPECT_EQ(ServiceNameOf("/kubepods/burstable/pod0c5a-1b2e/abc", "java", "/usr/bin/java"),
            "pod-0c5a-1b2e");
  EXPECT_EQ(ServiceNameOf("/system.slice/shop.service", "w", "/opt/shop/bin/w"), "shop");
  EXPECT_EQ(ServiceNameOf("/system.slice/postgresql@15-main.service", "postgres", "/usr/lib/pg"),
            "postgresql");
  EXPECT_EQ(ServiceNameOf("/system.slice/nginx.service", "nginx", "/usr/sbin/nginx"),
            "nginx.service");  // no rule matches: the default
  SetServiceNameRules(nullptr);
  EXPECT_EQ(ServiceNameOf("/system.slice/shop.service", "w", "/opt/shop/bin/w"), "shop.service");
}

}  // namespace
}  // namespace profd

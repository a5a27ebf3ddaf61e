#include "service/push_exporter.h"

#include <gtest/gtest.h>

#include "process/proc_files.h"
#include "pyroscope_push.pb.h"

namespace profd {
namespace {

TEST(PushExporter, ServiceNameIsTheInnermostSystemdService) {
  EXPECT_EQ(ServiceNameOf("/system.slice/nginx.service", "nginx"), "nginx.service");
  EXPECT_EQ(ServiceNameOf("/user.slice/user-1000.slice/user@1000.service/app.slice/foo.service",
                        "foo"),
            "foo.service");
  // A user's service manager is no service of its own; a session scope is none either.
  EXPECT_EQ(ServiceNameOf("/user.slice/user-1000.slice/user@1000.service/init.scope", "systemd"),
            "systemd");
  EXPECT_EQ(ServiceNameOf("/user.slice/user-0.slice/session-3.scope", "bash"), "bash");
  EXPECT_EQ(ServiceNameOf("/", "worker"), "worker");
  EXPECT_EQ(ServiceNameOf("", ""), "unknown");
  EXPECT_EQ(ServiceNameOf("/system.slice/docker-0123abcd.scope", "redis-server"), "redis-server");
}

TEST(PushExporter, ContainerIdsFromEachRuntimesCgroups) {
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

TEST(PushExporter, ProfileNamesAsPyroscopeNamesThem) {
  EXPECT_EQ(PyroscopeProfileName("cpu"), "process_cpu");
  EXPECT_EQ(PyroscopeProfileName("allocs"), "memory");
  EXPECT_EQ(PyroscopeProfileName("heap"), "memory");
  EXPECT_EQ(PyroscopeProfileName("block"), "block");
  EXPECT_EQ(PyroscopeProfileName("mutex"), "mutex");
  EXPECT_EQ(PyroscopeProfileName("goroutine"), "goroutine");
}

TEST(PushExporter, PushBodyHoldsTheProfileItsLabelsAndId) {
  ExportedProfile p;
  p.type = "cpu";
  p.pid = 42;
  p.comm = "a,b}c";  // Connect's labels are pairs: no delimiter to escape
  p.exe = "";        // unknown: left out
  p.service_name = "api.service";
  p.gzipped = std::string("\x1f\x8b\x08\x00", 4);
  pyroscope::PushRequest request;
  ASSERT_TRUE(request.ParseFromString(PyroscopePushBody(p, "host-1", "the-id")));
  ASSERT_EQ(request.series_size(), 1);
  const pyroscope::RawProfileSeries& series = request.series(0);
  std::vector<std::pair<std::string, std::string>> labels;
  for (const auto& label : series.labels()) labels.push_back({label.name(), label.value()});
  EXPECT_EQ(labels, (std::vector<std::pair<std::string, std::string>>{
                        {"__delta__", "false"},
                        {"__name__", "process_cpu"},
                        {"comm", "a,b}c"},
                        {"hostname", "host-1"},
                        {"pid", "42"},
                        {"service_name", "api.service"}}));
  ASSERT_EQ(series.samples_size(), 1);
  EXPECT_EQ(series.samples(0).raw_profile(), p.gzipped);
  EXPECT_EQ(series.samples(0).id(), "the-id");
}

TEST(PushExporter, ParcaBodyIsWriteRawJson) {
  ExportedProfile p;
  p.type = "allocs";
  p.pid = 7;
  p.comm = "say \"hi\"\n";  // escaped as JSON
  p.service_name = "api.service";
  p.gzipped = std::string("\x1f\x8b\x08", 3);
  EXPECT_EQ(ParcaWriteRawBody(p, "h"),
            "{\"series\":[{\"labels\":{\"labels\":[{\"name\":\"__name__\",\"value\":\"memory\"},"
            "{\"name\":\"comm\",\"value\":\"say \\\"hi\\\"\\n\"},{\"name\":\"hostname\",\"value\":\"h\"},"
            "{\"name\":\"pid\",\"value\":\"7\"},{\"name\":\"service_name\",\"value\":\"api.service\"}]},"
            "\"samples\":[{\"raw_profile\":\"H4sI\"}]}],\"normalized\":false}");
}

}  // namespace
}  // namespace profd

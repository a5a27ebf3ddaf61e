#include "service/push_exporter.h"

#include <gtest/gtest.h>

#include "pyroscope_push.pb.h"

namespace profd {
namespace {

TEST(PushExporter, ServiceNameIsTheInnermostSystemdService) {
  EXPECT_EQ(ServiceName("/system.slice/nginx.service", "nginx"), "nginx.service");
  EXPECT_EQ(ServiceName("/user.slice/user-1000.slice/user@1000.service/app.slice/foo.service",
                        "foo"),
            "foo.service");
  // A user's service manager is no service of its own; a session scope is none either.
  EXPECT_EQ(ServiceName("/user.slice/user-1000.slice/user@1000.service/init.scope", "systemd"),
            "systemd");
  EXPECT_EQ(ServiceName("/user.slice/user-0.slice/session-3.scope", "bash"), "bash");
  EXPECT_EQ(ServiceName("/", "worker"), "worker");
  EXPECT_EQ(ServiceName("", ""), "unknown");
  EXPECT_EQ(ServiceName("/system.slice/docker-0123abcd.scope", "redis-server"), "redis-server");
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

}  // namespace
}  // namespace profd

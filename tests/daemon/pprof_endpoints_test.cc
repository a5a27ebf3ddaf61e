#include "service/pprof_endpoints.h"

#include <gtest/gtest.h>

#include <string>

namespace profd {
namespace {

DaemonConfig TestConfig() { return DaemonConfig(); }

// Over the control socket, a caller other than root gets only its own processes.
TEST(PeerMayProfile, RootAnythingOthersTheirOwn) {
  int status = 0;
  std::string message;
  const ucred root{getpid(), 0, 0};
  EXPECT_TRUE(PeerMayProfile(root, {1}, &status, &message));
  EXPECT_TRUE(PeerMayProfile(root, {}, &status, &message));

  // pid 1 is root's; 65534 is nobody.
  const ucred nobody{getpid(), 65534, 65534};
  EXPECT_FALSE(PeerMayProfile(nobody, {1}, &status, &message));
  EXPECT_EQ(status, 403);
  EXPECT_NE(message.find("pid 1 belongs to root (uid 0), not to you"), std::string::npos)
      << message;
  EXPECT_NE(message.find("only root may profile other users' processes"), std::string::npos);
  EXPECT_FALSE(PeerMayProfile(nobody, {}, &status, &message));
  EXPECT_EQ(status, 403);
  EXPECT_NE(message.find("whole host needs root"), std::string::npos) << message;
  EXPECT_FALSE(PeerMayProfile(nobody, {4000000}, &status, &message));
  EXPECT_EQ(status, 404);

  // This test's own process is its user's.
  struct stat st;
  ASSERT_EQ(::stat("/proc/self", &st), 0);
  const ucred self{getpid(), getuid(), getgid()};
  EXPECT_TRUE(PeerMayProfile(self, {getpid()}, &status, &message)) << message;
  if (getuid() != 0) {
    EXPECT_FALSE(PeerMayProfile(self, {getpid(), 1}, &status, &message));
  }
}

TEST(PprofEndpoints, ControlSocketCallerIsCheckedBeforeAnythingIsCollected) {
  PprofEndpoints endpoints(TestConfig);
  HttpRequest request;
  request.method = "GET";
  request.peer = ucred{1234, 65534, 65534};
  request.path = "/debug/pprof/profile";
  request.query = {{"pid", "1"}, {"seconds", "1"}};
  HttpResponse response = endpoints.Handle(request, {});
  EXPECT_EQ(response.status, 403);
  EXPECT_NE(response.body.find("belongs to root (uid 0)"), std::string::npos) << response.body;
  request.query = {{"seconds", "1"}};
  EXPECT_EQ(endpoints.Handle(request, {}).status, 403);  // the whole host
  request.path = "/debug/pprof/cmdline";
  request.query = {{"pid", "1"}};
  EXPECT_EQ(endpoints.Handle(request, {}).status, 403);
  request.peer.reset();  // a caller the server could not tell: nothing but the open endpoints
  EXPECT_EQ(endpoints.Handle(request, {}).status, 403);
  request.token_authenticated = true;  // the bearer token acts as root
  EXPECT_EQ(endpoints.Handle(request, {}).status, 200);
  request.token_authenticated = false;

  // The CLI's settings, refused with net/http/pprof's message when out of range.
  request.peer = ucred{1234, 0, 0};
  request.path = "/debug/pprof/profile";
  for (const auto& [key, value] :
       std::vector<std::pair<std::string, std::string>>{{"frequency", "0"},
                                                        {"frequency", "10001"},
                                                        {"unwind", "lbr"},
                                                        {"min_block", "61s"},
                                                        {"sample_rate", "0"},
                                                        {"max_overhead", "101"}}) {
    request.query = {{"pid", std::to_string(getpid())}, {"seconds", "1"}, {key, value}};
    response = endpoints.Handle(request, {});
    EXPECT_EQ(response.status, 400) << key << "=" << value;
    EXPECT_EQ(response.body.rfind("invalid value for \"" + key + "\"", 0), 0u) << response.body;
  }
}

}  // namespace
}  // namespace profd

#include "service/sd_notify.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/unique_fd.h"

namespace profd {
namespace {

// Saves and restores the variables SdNotify and WatchdogInterval read, so tests do not leak them.
class SdNotifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : kNames) {
      const char* value = std::getenv(name);
      saved_.emplace_back(name, value ? std::optional<std::string>(value) : std::nullopt);
      ::unsetenv(name);
    }
  }
  void TearDown() override {
    for (const auto& [name, value] : saved_) {
      if (value) {
        ::setenv(name, value->c_str(), 1);
      } else {
        ::unsetenv(name);
      }
    }
    if (!socket_path_.empty()) ::unlink(socket_path_.c_str());
  }

  // Binds a datagram socket as systemd would; `name` is a path or "@abstract".
  UniqueFd Bind(const std::string& name) {
    UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    EXPECT_TRUE(fd.valid());
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    socklen_t len;
    if (name[0] == '@') {
      std::memcpy(addr.sun_path + 1, name.data() + 1, name.size() - 1);
      len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
    } else {
      std::memcpy(addr.sun_path, name.data(), name.size());
      len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size() + 1);
      socket_path_ = name;
    }
    EXPECT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), len), 0) << std::strerror(errno);
    return fd;
  }

  static std::string Receive(const UniqueFd& fd) {
    pollfd p{fd.get(), POLLIN, 0};
    if (::poll(&p, 1, 2000) != 1) return "(nothing received)";
    char buf[4096];
    const ssize_t n = ::recv(fd.get(), buf, sizeof(buf), 0);
    return n < 0 ? "(recv failed)" : std::string(buf, static_cast<size_t>(n));
  }

  static constexpr const char* kNames[] = {"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"};
  std::vector<std::pair<const char*, std::optional<std::string>>> saved_;
  std::string socket_path_;
};

TEST_F(SdNotifyTest, UnsetIsANoOp) {
  std::string error;
  EXPECT_FALSE(SdNotify("READY=1", &error));
  EXPECT_EQ(error, "");
  ::setenv("NOTIFY_SOCKET", "", 1);
  EXPECT_FALSE(SdNotify("READY=1", &error));
  EXPECT_EQ(error, "");
}

TEST_F(SdNotifyTest, SendsToAPathSocket) {
  const std::string path =
      ::testing::TempDir() + "profd-notify-" + std::to_string(::getpid()) + ".sock";
  ::unlink(path.c_str());
  UniqueFd receiver = Bind(path);
  ::setenv("NOTIFY_SOCKET", path.c_str(), 1);
  std::string error;
  EXPECT_TRUE(SdNotify("READY=1", &error)) << error;
  EXPECT_EQ(Receive(receiver), "READY=1");
  EXPECT_TRUE(SdNotify("STATUS=serving on 127.0.0.1:6061\nWATCHDOG=1", &error)) << error;
  EXPECT_EQ(Receive(receiver), "STATUS=serving on 127.0.0.1:6061\nWATCHDOG=1");
}

TEST_F(SdNotifyTest, SendsToAnAbstractSocket) {
  const std::string name = "@profd-notify-test-" + std::to_string(::getpid());
  UniqueFd receiver = Bind(name);
  ::setenv("NOTIFY_SOCKET", name.c_str(), 1);
  std::string error;
  EXPECT_TRUE(SdNotify("READY=1\nSTATUS=ready", &error)) << error;
  EXPECT_EQ(Receive(receiver), "READY=1\nSTATUS=ready");
}

TEST_F(SdNotifyTest, ErrorsAreReported) {
  std::string error;
  ::setenv("NOTIFY_SOCKET", "relative/path", 1);  // neither a path nor an abstract socket
  EXPECT_FALSE(SdNotify("READY=1", &error));
  EXPECT_NE(error.find("relative/path: Invalid argument"), std::string::npos) << error;

  error.clear();
  ::setenv("NOTIFY_SOCKET", "/nonexistent/profd/notify.sock", 1);
  EXPECT_FALSE(SdNotify("READY=1", &error));
  EXPECT_NE(error.find("/nonexistent/profd/notify.sock"), std::string::npos) << error;

  error.clear();
  ::setenv("NOTIFY_SOCKET", ("/" + std::string(200, 'x')).c_str(), 1);
  EXPECT_FALSE(SdNotify("READY=1", &error));
  EXPECT_NE(error.find("/xxx"), std::string::npos) << error;
}

TEST_F(SdNotifyTest, WatchdogInterval) {
  EXPECT_EQ(WatchdogInterval(), std::nullopt);
  ::setenv("WATCHDOG_USEC", "20000000", 1);
  EXPECT_EQ(WatchdogInterval(), std::chrono::seconds(20));
  ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
  EXPECT_EQ(WatchdogInterval(), std::chrono::seconds(20));
  // Inherited from a parent that systemd watches: not ours to ping.
  ::setenv("WATCHDOG_PID", std::to_string(::getpid() + 1).c_str(), 1);
  EXPECT_EQ(WatchdogInterval(), std::nullopt);
  ::setenv("WATCHDOG_PID", "x", 1);
  EXPECT_EQ(WatchdogInterval(), std::nullopt);
  ::unsetenv("WATCHDOG_PID");
  // (libsystemd's parser takes " 5", with its leading space, as 5.)
  for (const char* bad : {"0", "", "-5", "5s", "99999999999999999999999"}) {
    ::setenv("WATCHDOG_USEC", bad, 1);
    EXPECT_EQ(WatchdogInterval(), std::nullopt) << bad;
  }
}

}  // namespace
}  // namespace profd

#include "service/http_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>

#include "base/unique_fd.h"
#include "cli/daemon_client.h"
#include "cli/profile_command.h"
#include "profiles/request_query.h"
#include "service/control_socket.h"
#include "service/pprof_endpoints.h"
#include "service/tcp_peer_uid.h"

namespace profd {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

UniqueFd Connect(int port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  timeval timeout{5, 0};  // a test that would hang fails instead
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  return fd;
}

void SendText(const UniqueFd& fd, const std::string& text) {
  ASSERT_EQ(::send(fd.get(), text.data(), text.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(text.size()));
}

std::string ReadToEnd(const UniqueFd& fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd.get(), buf, sizeof(buf), 0)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

struct Reply {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

Reply ParseReply(const std::string& raw) {
  Reply reply;
  const size_t end = raw.find("\r\n\r\n");
  if (raw.compare(0, 9, "HTTP/1.1 ") != 0 || end == std::string::npos) return reply;
  reply.status = std::stoi(raw.substr(9, 3));
  size_t pos = raw.find("\r\n") + 2;
  while (pos < end) {
    const size_t eol = raw.find("\r\n", pos);
    const std::string line = raw.substr(pos, eol - pos);
    const size_t colon = line.find(':');
    std::string name = line.substr(0, colon);
    for (char& c : name) c = static_cast<char>(std::tolower(c));
    reply.headers[name] = line.substr(colon + 2);
    pos = eol + 2;
  }
  reply.body = raw.substr(end + 4);
  return reply;
}

Reply Exchange(int port, const std::string& request) {
  UniqueFd fd = Connect(port);
  SendText(fd, request);
  return ParseReply(ReadToEnd(fd));
}

Reply Get(int port, const std::string& target, const std::string& extra_headers = "") {
  return Exchange(port, "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra_headers +
                            "User-Agent: profd-test\r\n\r\n");
}

HttpResponse Text(int status, const std::string& body) {
  HttpResponse response;
  response.status = status;
  response.headers = {{"Content-Type", "text/plain"}};
  response.body = body;
  return response;
}

// A handler that echoes what it was given, answers /missing like net/http/pprof, and sleeps on
// /slow until stopped (or 30 s).
class HttpServerTest : public ::testing::Test {
 protected:
  void Start(HttpServerOptions options = {}) {
    server_ = std::make_unique<HttpServer>(std::move(options));
    std::string error;
    ASSERT_TRUE(server_->Listen("127.0.0.1:0", &error)) << error;
    ASSERT_GT(server_->port(), 0);
    EXPECT_TRUE(server_->loopback());
    server_->Serve([this](const HttpRequest& request, std::stop_token stop) {
      calls_++;
      if (request.path == "/missing") {
        return PprofErrorResponse(404, "Unknown profile: missing");
      }
      if (request.path == "/slow") {
        in_slow_++;
        const bool completed = SleepUnlessStopped(stop, std::chrono::seconds(30));
        slow_cut_short_ += completed ? 0 : 1;
        return Text(200, "slept");
      }
      if (request.path == "/bad-header") {
        HttpResponse response = Text(200, "x");
        response.headers.emplace_back("Content-Disposition", "attachment\r\nSet-Cookie: a=b");
        return response;
      }
      std::string body = request.method + " " + request.path + "\n";
      for (const auto& [key, value] : request.query) body += "q " + key + "=" + value + "\n";
      for (const auto& [key, value] : request.headers) body += "h " + key + "=" + value + "\n";
      return Text(200, body);
    });
  }

  void WaitForSlowHandlers(int count) {
    const Clock::time_point deadline = Clock::now() + std::chrono::seconds(5);
    while (in_slow_ < count && Clock::now() < deadline)
      std::this_thread::sleep_for(milliseconds(5));
    ASSERT_EQ(in_slow_, count);
  }

  int port() const { return server_->port(); }

  std::unique_ptr<HttpServer> server_;
  std::atomic<int> calls_{0};
  std::atomic<int> in_slow_{0};
  std::atomic<int> slow_cut_short_{0};
};

TEST_F(HttpServerTest, GetWithQueryDecoding) {
  Start();
  Reply reply =
      Get(port(), "/debug/pprof/a%20b?seconds=5&name=a%20b+c&slash=%2F&seconds=9&flag&=x");
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.headers["content-type"], "text/plain");
  EXPECT_EQ(reply.headers["connection"], "close");
  EXPECT_EQ(reply.headers["content-length"], std::to_string(reply.body.size()));
  EXPECT_EQ(reply.body,
            "GET /debug/pprof/a b\n"
            "q =x\n"
            "q flag=\n"
            "q name=a b c\n"
            "q seconds=5\n"
            "q slash=/\n"
            "h host=127.0.0.1\n"
            "h user-agent=profd-test\n");
}

TEST_F(HttpServerTest, HeadHasTheLengthButNoBody) {
  Start();
  Reply reply = Exchange(port(), "HEAD /x HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.headers["content-length"],
            std::to_string(std::string("HEAD /x\nh host=h\n").size()));
  EXPECT_EQ(reply.body, "");
}

TEST_F(HttpServerTest, HandlerErrorLikeNetHttpPprof) {
  Start();
  Reply reply = Get(port(), "/missing");
  EXPECT_EQ(reply.status, 404);
  EXPECT_EQ(reply.headers["content-type"], "text/plain; charset=utf-8");
  EXPECT_EQ(reply.headers["x-go-pprof"], "1");
  EXPECT_EQ(reply.headers["x-content-type-options"], "nosniff");
  EXPECT_EQ(reply.body, "Unknown profile: missing\n");
}

TEST_F(HttpServerTest, MalformedRequestsAre400AndNeverReachTheHandler) {
  Start();
  for (const char* request : {
           "GARBAGE\r\n\r\n",
           "GET /x HTTP/1.1\n\n",                                  // bare LF
           "GET /x  HTTP/1.1\r\nHost: h\r\n\r\n",                  // two spaces
           "GET x HTTP/1.1\r\nHost: h\r\n\r\n",                    // not a path
           "GET /x HTTP/1.1\r\n\r\n",                              // no Host
           "GET /x HTTP/1.1\r\nHost: h\r\nBad Header: v\r\n\r\n",  // space in a name
           "GET /x HTTP/1.1\r\nHost: h\r\nA : v\r\n\r\n",          // space before the colon
           "GET /x HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n",
           "GET /x HTTP/1.1\r\nHost: h\r\nHost: i\r\n\r\n",
           "GET /%zz HTTP/1.1\r\nHost: h\r\n\r\n",
           "GET /x?a=%4 HTTP/1.1\r\nHost: h\r\n\r\n",
           "GET /x%00 HTTP/1.1\r\nHost: h\r\n\r\n",
           "GET /x HTTP/1.1\r\nHost: h\r\nA: b\x01\r\n\r\n",
       }) {
    Reply reply = Exchange(port(), request);
    EXPECT_EQ(reply.status, 400) << request;
    EXPECT_EQ(reply.headers["connection"], "close") << request;
  }
  EXPECT_EQ(Exchange(port(), "GET /x HTTP/2.0\r\nHost: h\r\n\r\n").status, 505);
  EXPECT_EQ(calls_, 0);
  EXPECT_GE(server_->stats().bad_requests, 14u);
}

TEST_F(HttpServerTest, HeadTooLargeIs431) {
  Start();
  const std::string big =
      "GET /x HTTP/1.1\r\nHost: h\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n";
  UniqueFd fd = Connect(port());
  // The server answers after 16 KiB without reading the rest; the send may then fail.
  ::send(fd.get(), big.data(), big.size(), MSG_NOSIGNAL);
  EXPECT_EQ(ParseReply(ReadToEnd(fd)).status, 431);
  // Just under the limit is fine.
  const std::string fits =
      "GET /x HTTP/1.1\r\nHost: h\r\nX-Big: " + std::string(16000, 'a') + "\r\n\r\n";
  EXPECT_EQ(Exchange(port(), fits).status, 200);
  EXPECT_EQ(calls_, 1);
}

TEST_F(HttpServerTest, OnlyGetAndHead) {
  Start();
  Reply reply = Exchange(port(), "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc");
  EXPECT_EQ(reply.status, 405);
  EXPECT_EQ(reply.headers["allow"], "GET, HEAD");
  EXPECT_EQ(Exchange(port(), "DELETE /x HTTP/1.1\r\nHost: h\r\n\r\n").status, 405);
  EXPECT_EQ(calls_, 0);
}

TEST_F(HttpServerTest, InvalidResponseHeaderBecomes500) {
  Start();
  Reply reply = Get(port(), "/bad-header");
  EXPECT_EQ(reply.status, 500);
  EXPECT_EQ(reply.headers.count("set-cookie"), 0u);
}

TEST_F(HttpServerTest, SlowClientTimesOut) {
  HttpServerOptions options;
  options.head_timeout = milliseconds(200);
  Start(options);
  UniqueFd partial = Connect(port());
  SendText(partial, "GET /x HTTP/1.1\r\n");
  const Clock::time_point start = Clock::now();
  EXPECT_EQ(ParseReply(ReadToEnd(partial)).status, 408);
  UniqueFd silent = Connect(port());
  EXPECT_EQ(ReadToEnd(silent), "");  // an idle connection is just closed
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(2));
}

TEST_F(HttpServerTest, TooManyConnectionsAre503AtOnce) {
  HttpServerOptions options;
  options.max_connections = 1;
  Start(options);
  UniqueFd slow = Connect(port());
  SendText(slow, "GET /slow HTTP/1.1\r\nHost: h\r\n\r\n");
  WaitForSlowHandlers(1);

  const Clock::time_point start = Clock::now();
  Reply busy = Get(port(), "/x");
  EXPECT_LT(Clock::now() - start, milliseconds(500));
  EXPECT_EQ(busy.status, 503);
  EXPECT_NE(busy.body.find("too many connections"), std::string::npos) << busy.body;
  EXPECT_EQ(server_->stats().rejected_busy, 1u);

  // The client giving up cancels its request and frees the slot.
  slow.Reset();
  const Clock::time_point deadline = Clock::now() + std::chrono::seconds(5);
  while (slow_cut_short_ == 0 && Clock::now() < deadline)
    std::this_thread::sleep_for(milliseconds(5));
  EXPECT_EQ(slow_cut_short_, 1);
  int status = 0;
  while (status != 200 && Clock::now() < deadline) {
    status = Get(port(), "/x").status;
    if (status != 200) std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_EQ(status, 200);
}

TEST_F(HttpServerTest, BearerToken) {
  HttpServerOptions options;
  options.bearer_token = "s3cret-token";
  Start(options);
  Reply none = Get(port(), "/x");
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(none.headers["www-authenticate"], "Bearer");
  EXPECT_EQ(Get(port(), "/x", "Authorization: Bearer s3cret-tokeX\r\n").status, 401);
  EXPECT_EQ(Get(port(), "/x", "Authorization: Bearer s3cret\r\n").status, 401);
  EXPECT_EQ(Get(port(), "/x", "Authorization: Bearer s3cret-token-and-more\r\n").status, 401);
  EXPECT_EQ(Get(port(), "/x", "Authorization: Basic czNjcmV0LXRva2Vu\r\n").status, 401);
  EXPECT_EQ(Get(port(), "/x", "Authorization: s3cret-token\r\n").status, 401);
  EXPECT_EQ(calls_, 0);
  EXPECT_EQ(server_->stats().unauthorized, 6u);
  EXPECT_EQ(Get(port(), "/x", "Authorization: Bearer s3cret-token\r\n").status, 200);
  EXPECT_EQ(Get(port(), "/x", "authorization: bearer s3cret-token\r\n").status, 200);
  EXPECT_EQ(calls_, 2);
}

TEST_F(HttpServerTest, StopEndsSleepingHandlersWithinASecond) {
  Start();
  UniqueFd a = Connect(port());
  UniqueFd b = Connect(port());
  SendText(a, "GET /slow HTTP/1.1\r\nHost: h\r\n\r\n");
  SendText(b, "GET /slow HTTP/1.1\r\nHost: h\r\n\r\n");
  UniqueFd idle = Connect(port());  // still in the head timeout
  WaitForSlowHandlers(2);
  const Clock::time_point start = Clock::now();
  server_->Stop();
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(1));
  EXPECT_EQ(slow_cut_short_, 2);
  ReadToEnd(a);     // closed, not left hanging
  server_->Stop();  // idempotent
  // The port is closed.
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_NE(::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
}

TEST(HttpServer, ListenErrors) {
  HttpServer first;
  std::string error;
  ASSERT_TRUE(first.Listen("127.0.0.1:0", &error)) << error;
  HttpServer second;
  EXPECT_FALSE(second.Listen("127.0.0.1:" + std::to_string(first.port()), &error));
  EXPECT_NE(error.find("Address already in use"), std::string::npos) << error;
  EXPECT_FALSE(second.Listen("example.com:80", &error));
  EXPECT_NE(error.find("not resolved"), std::string::npos) << error;
  // Stop without Serve, and destruction after it, are fine.
  first.Stop();
}

TEST(HttpServer, ListensOnIpv6LoopbackWhenAvailable) {
  HttpServer server;
  std::string error;
  if (!server.Listen("[::1]:0", &error)) GTEST_SKIP() << "no IPv6 loopback: " << error;
  EXPECT_TRUE(server.loopback());
  EXPECT_GT(server.port(), 0);
}

TEST(ParseListenAddress, Forms) {
  ListenAddress a;
  std::string error;
  ASSERT_TRUE(ParseListenAddress("127.0.0.1:6061", &a, &error)) << error;
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, 6061);
  EXPECT_TRUE(a.loopback);
  ASSERT_TRUE(ParseListenAddress("[::1]:6061", &a, &error)) << error;
  EXPECT_EQ(a.host, "::1");
  EXPECT_TRUE(a.loopback);
  ASSERT_TRUE(ParseListenAddress(":6061", &a, &error)) << error;
  EXPECT_EQ(a.host, "");
  EXPECT_FALSE(a.loopback);
  ASSERT_TRUE(ParseListenAddress("localhost:0", &a, &error)) << error;
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_TRUE(a.loopback);
  ASSERT_TRUE(ParseListenAddress("10.1.2.3:80", &a, &error)) << error;
  EXPECT_FALSE(a.loopback);
  ASSERT_TRUE(ParseListenAddress("[::]:80", &a, &error)) << error;
  EXPECT_FALSE(a.loopback);
  for (const char* bad :
       {"", "6061", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:http",
        "::1:6061", "[::1]6061", "[x]:1", "300.1.1.1:80", "host.example:80"}) {
    EXPECT_FALSE(ParseListenAddress(bad, &a, &error)) << bad;
  }
}

TEST(SleepUnlessStopped, SleepsOrEndsEarly) {
  std::stop_source source;
  EXPECT_TRUE(SleepUnlessStopped(source.get_token(), milliseconds(10)));
  std::thread stopper([&] {
    std::this_thread::sleep_for(milliseconds(50));
    source.request_stop();
  });
  const Clock::time_point start = Clock::now();
  EXPECT_FALSE(SleepUnlessStopped(source.get_token(), std::chrono::seconds(30)));
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(2));
  stopper.join();
}

// The control socket: the same server on a Unix socket, the caller's credentials with each request.

sockaddr_un UnixAddress(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  return addr;
}

UniqueFd ConnectUnix(const std::string& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  const sockaddr_un addr = UnixAddress(path);
  EXPECT_EQ(::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)), 0)
      << path << ": " << std::strerror(errno);
  timeval timeout{5, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  return fd;
}

// A socket file nobody listens on any more, as a daemon that was killed leaves it.
void MakeStaleSocket(const std::string& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  const sockaddr_un addr = UnixAddress(path);
  ASSERT_EQ(::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)), 0);
}

class UnixSocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/profd-sock-test-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    dir_ = dir;
    path_ = dir_ + "/run/profd/profd.sock";  // the parent directories do not exist yet
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Serves the peer's credentials back, or sleeps on /slow until stopped.
  void Start(HttpServer* server) {
    std::string error;
    ASSERT_TRUE(server->Listen("unix:" + path_, &error)) << error;
    server->Serve([this](const HttpRequest& request, std::stop_token stop) {
      if (request.path == "/slow") {
        in_slow_++;
        slow_cut_short_ += SleepUnlessStopped(stop, std::chrono::seconds(30)) ? 0 : 1;
        return Text(200, "slept");
      }
      if (request.path == "/debug/pprof/cmdline")
        return PprofErrorResponse(404, "no process with pid 7");
      if (!request.peer) return Text(500, "no peer");
      return Text(200, "pid=" + std::to_string(request.peer->pid) +
                           " uid=" + std::to_string(request.peer->uid) +
                           " gid=" + std::to_string(request.peer->gid) + " from " +
                           request.remote_address + " " + request.target);
    });
  }

  Reply Get(const std::string& target) {
    UniqueFd fd = ConnectUnix(path_);
    SendText(fd, "GET " + target + " HTTP/1.1\r\nHost: localhost\r\n\r\n");
    return ParseReply(ReadToEnd(fd));
  }

  std::string dir_;
  std::string path_;
  std::atomic<int> in_slow_{0};
  std::atomic<int> slow_cut_short_{0};
};

TEST_F(UnixSocketTest, GetCarriesThePeersCredentials) {
  HttpServer server;
  Start(&server);
  EXPECT_EQ(server.unix_path(), path_);
  EXPECT_EQ(server.port(), 0);
  EXPECT_TRUE(server.loopback());
  struct stat st;
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0666u);  // anyone may connect; the uid decides the rest
  ASSERT_EQ(::stat((dir_ + "/run/profd").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0755u);

  Reply reply = Get("/debug/pprof/profile?pid=1");
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.body, "pid=" + std::to_string(getpid()) + " uid=" + std::to_string(getuid()) +
                            " gid=" + std::to_string(getgid()) +
                            " from unix:pid=" + std::to_string(getpid()) +
                            ",uid=" + std::to_string(getuid()) + " /debug/pprof/profile?pid=1");
}

// Both ways of finding a TCP client's uid: sock_diag, and /proc/net/tcp when netlink fails.
TEST(TcpPeerUid, SockDiagAndProcNetTcpNameTheClientSocketsOwner) {
  UniqueFd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  ASSERT_EQ(::listen(listener.get(), 4), 0);
  socklen_t length = sizeof(address);
  ::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&address), &length);
  UniqueFd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_EQ(::connect(client.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  sockaddr_storage peer{}, local{};
  socklen_t peer_length = sizeof(peer), local_length = sizeof(local);
  UniqueFd accepted(::accept(listener.get(), reinterpret_cast<sockaddr*>(&peer), &peer_length));
  ASSERT_TRUE(accepted.valid());
  ::getsockname(accepted.get(), reinterpret_cast<sockaddr*>(&local), &local_length);
  EXPECT_EQ(TcpPeerUid(local, peer), std::optional<uid_t>(getuid()));
  EXPECT_EQ(TcpPeerUidFromProc(local, peer), std::optional<uid_t>(getuid()));
  // The server's own socket is not the client's: the 4-tuple is taken the right way round.
  reinterpret_cast<sockaddr_in*>(&peer)->sin_port = htons(1);
  EXPECT_EQ(TcpPeerUid(local, peer), std::nullopt);
  EXPECT_EQ(TcpPeerUidFromProc(local, peer), std::nullopt);
}

// A loopback client is known by the uid owning its socket (no pid or gid over TCP).
TEST_F(UnixSocketTest, TcpRequestsCarryTheClientsUid) {
  HttpServer server;
  std::string error;
  ASSERT_TRUE(server.Listen("127.0.0.1:0", &error)) << error;
  EXPECT_EQ(server.unix_path(), "");
  server.Serve([](const HttpRequest& request, std::stop_token) {
    return Text(200, request.peer ? "uid=" + std::to_string(request.peer->uid) +
                                        " pid=" + std::to_string(request.peer->pid) + " " +
                                        request.remote_address
                                  : "none");
  });
  const std::string body = profd::Get(server.port(), "/x").body;
  EXPECT_EQ(body.substr(0, body.find(' ', 6)), "uid=" + std::to_string(getuid()) + " pid=0")
      << body;
  EXPECT_NE(body.find("(uid " + std::to_string(getuid()) + ")"), std::string::npos) << body;
}

TEST_F(UnixSocketTest, StaleSocketIsReplacedLiveOneRefused) {
  std::filesystem::create_directories(dir_ + "/run/profd");
  MakeStaleSocket(path_);
  HttpServer first;
  Start(&first);
  EXPECT_EQ(Get("/x").status, 200);

  HttpServer second;
  std::string error;
  EXPECT_FALSE(second.Listen("unix:" + path_, &error));
  EXPECT_EQ(error, "another profd daemon is listening on " + path_);
  second.Stop();  // must not remove the first server's socket
  EXPECT_EQ(Get("/x").status, 200);

  const std::string file = dir_ + "/not-a-socket";
  ASSERT_TRUE(std::filesystem::exists(dir_));
  { std::ofstream(file) << "x"; }
  HttpServer third;
  EXPECT_FALSE(third.Listen("unix:" + file, &error));
  EXPECT_NE(error.find("exists and is not a socket"), std::string::npos) << error;
  EXPECT_TRUE(std::filesystem::exists(file));
}

TEST_F(UnixSocketTest, StopRemovesTheSocketAndEndsHandlers) {
  HttpServer server;
  Start(&server);
  UniqueFd slow = ConnectUnix(path_);
  SendText(slow, "GET /slow HTTP/1.1\r\nHost: h\r\n\r\n");
  const Clock::time_point deadline = Clock::now() + std::chrono::seconds(5);
  while (in_slow_ == 0 && Clock::now() < deadline) std::this_thread::sleep_for(milliseconds(5));
  const Clock::time_point start = Clock::now();
  server.Stop();
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(1));
  EXPECT_EQ(slow_cut_short_, 1);
  EXPECT_FALSE(std::filesystem::exists(path_));
}

TEST_F(UnixSocketTest, StopLeavesASocketFileThatIsNoLongerItsOwn) {
  HttpServer server;
  Start(&server);
  ASSERT_EQ(::unlink(path_.c_str()), 0);
  MakeStaleSocket(path_);  // another daemon's, say
  server.Stop();
  EXPECT_TRUE(std::filesystem::exists(path_));
}

// The CLI's side: what it asks for, and what it makes of the answers.

TEST_F(UnixSocketTest, AskDaemonReadsTheAnswer) {
  HttpServer server;
  Start(&server);
  ProfileRequest request;
  request.pids = {1};
  request.seconds = 1;
  DaemonReply reply;
  ASSERT_EQ(AskDaemon(request, path_, {}, &reply), ClientResult::kDone) << reply.error;
  EXPECT_EQ(reply.status, 200);
  EXPECT_NE(reply.body.find(" /debug/pprof/profile?pid=1&seconds=1"), std::string::npos)
      << reply.body;
  EXPECT_EQ(reply.socket_path, path_);

  // An error answer comes back with its status and message.
  request.type = ProfileType::kCmdline;
  ASSERT_EQ(AskDaemon(request, path_, {}, &reply), ClientResult::kDone) << reply.error;
  EXPECT_EQ(reply.status, 404);
  EXPECT_EQ(reply.body, "no process with pid 7\n");
  EXPECT_EQ(ReportDaemonFailure(reply), kExitFailed);
}

TEST_F(UnixSocketTest, AskDaemonWithoutADaemon) {
  ProfileRequest request;
  request.pids = {1};
  DaemonReply reply;
  EXPECT_EQ(AskDaemon(request, path_, {}, &reply), ClientResult::kNoDaemon);  // no file
  std::filesystem::create_directories(dir_ + "/run/profd");
  MakeStaleSocket(path_);
  EXPECT_EQ(AskDaemon(request, path_, {}, &reply), ClientResult::kNoDaemon);  // ECONNREFUSED
  EXPECT_EQ(AskDaemon(request, "", {}, &reply), ClientResult::kNoDaemon);     // PROFD_SOCKET=""
  request.bpf_stats = true;  // measures the CLI's own programs
  HttpServer server;
  Start(&server);
  EXPECT_EQ(AskDaemon(request, path_, {}, &reply), ClientResult::kNoDaemon);
}

TEST(ReportDaemonFailure, ExitCodesAsWithoutTheDaemon) {
  DaemonReply reply;
  reply.status = 404;
  reply.body = "no process with pid 7\n";
  EXPECT_EQ(ReportDaemonFailure(reply), kExitFailed);
  reply.status = 400;  // a parameter the daemon refuses, e.g. seconds beyond its limit
  EXPECT_EQ(ReportDaemonFailure(reply), kExitUsage);
  reply.outcome = "bad_request";  // the collection's 400: a kernel thread's pid
  EXPECT_EQ(ReportDaemonFailure(reply), kExitFailed);
  reply = DaemonReply();
  reply.error = "connection lost";
  EXPECT_EQ(ReportDaemonFailure(reply), kExitFailed);
}

TEST_F(UnixSocketTest, AskDaemonStopsWaitingAndTheHandlerStopsToo) {
  HttpServer server;
  std::string error;
  ASSERT_TRUE(server.Listen("unix:" + path_, &error)) << error;
  std::atomic<bool> handler_stopped{false};
  server.Serve([&](const HttpRequest&, std::stop_token stop) {
    in_slow_++;
    handler_stopped = !SleepUnlessStopped(stop, std::chrono::seconds(30));
    return Text(200, "late");
  });
  ProfileRequest request;
  request.pids = {1};
  request.seconds = 30;
  std::atomic<int> progress_calls{0};
  CollectionHooks hooks;
  hooks.stop_requested = [&] { return in_slow_ > 0; };
  hooks.progress = [&](double, double) { progress_calls++; };
  hooks.abandon_when_stopped = true;
  DaemonReply reply;
  const Clock::time_point start = Clock::now();
  EXPECT_EQ(AskDaemon(request, path_, hooks, &reply), ClientResult::kDone);
  EXPECT_TRUE(reply.interrupted);
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(2));
  const Clock::time_point deadline = Clock::now() + std::chrono::seconds(5);
  while (!handler_stopped && Clock::now() < deadline) std::this_thread::sleep_for(milliseconds(5));
  EXPECT_TRUE(handler_stopped);
  EXPECT_EQ(ReportDaemonFailure(reply), kExitFailed);
}

// A launched command's exchange: the handler's 102 reaches hooks.attached before the final answer,
// and stopping shuts the client's sending side only, so the handler's stop token fires and its
// answer (what was collected) is still read.
TEST_F(UnixSocketTest, InformationalAnswerAndAHalfCloseThatKeepsTheAnswer) {
  HttpServer server;
  std::string error;
  ASSERT_TRUE(server.Listen("unix:" + path_, &error)) << error;
  std::atomic<bool> handler_stopped{false};
  server.Serve([&](const HttpRequest& request, std::stop_token stop) {
    EXPECT_TRUE(request.send_informational(102, {{"X-Profd-Attached", "1"}}));
    EXPECT_FALSE(request.send_informational(200, {}));  // only 1xx goes ahead of the answer
    EXPECT_FALSE(request.send_informational(102, {{"X-Bad", "a\r\nInjected: 1"}}));
    handler_stopped = !SleepUnlessStopped(stop, std::chrono::seconds(30));
    return Text(200, "collected so far");
  });
  ProfileRequest request;
  request.pids = {1};
  request.launched = true;
  std::atomic<int> attached{0};
  CollectionHooks hooks;
  hooks.attached = [&] { attached++; };
  hooks.stop_requested = [&] { return attached > 0; };  // a second Ctrl-C once it runs
  DaemonReply reply;
  UniqueFd fd;
  ASSERT_EQ(ConnectToDaemon(path_, &fd, &reply), ClientResult::kDone);
  ASSERT_TRUE(fd.valid()) << reply.error;
  const Clock::time_point start = Clock::now();
  ExchangeWithDaemon(std::move(fd), request, hooks, &reply);
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(5));
  EXPECT_EQ(attached, 1);
  EXPECT_TRUE(handler_stopped);
  EXPECT_FALSE(reply.interrupted);
  EXPECT_EQ(reply.status, 200) << reply.error;
  EXPECT_EQ(reply.body, "collected so far");
}

}  // namespace
}  // namespace profd

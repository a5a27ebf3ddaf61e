#include "service/tcp_peer_uid.h"

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <poll.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "base/unique_fd.h"

namespace profd {
namespace {

// One endpoint, IPv4-mapped IPv6 turned into IPv4: the client's socket is then an AF_INET one.
struct Endpoint {
  int family = 0;
  unsigned char address[16] = {};  // 4 bytes for AF_INET
  uint16_t port = 0;               // network byte order
};

bool ToEndpoint(const sockaddr_storage& storage, Endpoint* out) {
  if (storage.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&storage);
    out->family = AF_INET;
    std::memcpy(out->address, &in->sin_addr, 4);
    out->port = in->sin_port;
    return true;
  }
  if (storage.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&storage);
    out->port = in6->sin6_port;
    if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
      out->family = AF_INET;
      std::memcpy(out->address, in6->sin6_addr.s6_addr + 12, 4);
    } else {
      out->family = AF_INET6;
      std::memcpy(out->address, in6->sin6_addr.s6_addr, 16);
    }
    return true;
  }
  return false;
}

std::optional<uid_t> FromSockDiag(const Endpoint& client_src, const Endpoint& client_dst) {
  UniqueFd fd(::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
  if (!fd.valid()) return std::nullopt;
  struct {
    nlmsghdr header;
    inet_diag_req_v2 request;
  } message{};
  message.header.nlmsg_len = sizeof(message);
  message.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  message.header.nlmsg_flags = NLM_F_REQUEST;  // no NLM_F_DUMP: the one socket of this 4-tuple
  message.header.nlmsg_seq = 1;
  inet_diag_req_v2& r = message.request;
  r.sdiag_family = static_cast<__u8>(client_src.family);
  r.sdiag_protocol = IPPROTO_TCP;
  r.idiag_states = ~0u;
  r.id.idiag_sport = client_src.port;
  r.id.idiag_dport = client_dst.port;
  std::memcpy(r.id.idiag_src, client_src.address, sizeof(client_src.address));
  std::memcpy(r.id.idiag_dst, client_dst.address, sizeof(client_dst.address));
  r.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
  r.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(fd.get(), &message, sizeof(message), 0, reinterpret_cast<sockaddr*>(&kernel),
               sizeof(kernel)) != static_cast<ssize_t>(sizeof(message)))
    return std::nullopt;
  // The kernel answers at once; the poll only guards against waiting forever.
  pollfd p{fd.get(), POLLIN, 0};
  if (::poll(&p, 1, 1000) != 1) return std::nullopt;
  alignas(nlmsghdr) char buffer[8192];
  const ssize_t n = ::recv(fd.get(), buffer, sizeof(buffer), 0);
  if (n <= 0) return std::nullopt;
  auto* header = reinterpret_cast<nlmsghdr*>(buffer);
  for (int left = static_cast<int>(n); NLMSG_OK(header, left); header = NLMSG_NEXT(header, left)) {
    if (header->nlmsg_type != SOCK_DIAG_BY_FAMILY) return std::nullopt;  // NLMSG_ERROR: not found
    if (header->nlmsg_len < NLMSG_LENGTH(sizeof(inet_diag_msg))) return std::nullopt;
    const auto* reply = static_cast<const inet_diag_msg*>(NLMSG_DATA(header));
    if (reply->id.idiag_sport != client_src.port || reply->id.idiag_dport != client_dst.port)
      continue;
    return static_cast<uid_t>(reply->idiag_uid);
  }
  return std::nullopt;
}

// "0100007F:1F90" as /proc/net/tcp prints 127.0.0.1:8080: the address as the kernel's 32-bit
// words in host order, the port in host order.
std::string ProcNetAddress(const Endpoint& e) {
  std::string out;
  char word[16];
  const int words = e.family == AF_INET ? 1 : 4;
  for (int i = 0; i < words; i++) {
    uint32_t value;
    std::memcpy(&value, e.address + 4 * i, 4);
    std::snprintf(word, sizeof(word), "%08X", value);
    out += word;
  }
  std::snprintf(word, sizeof(word), ":%04X", ntohs(e.port));
  return out + word;
}

std::optional<uid_t> FromProc(const Endpoint& client_src, const Endpoint& client_dst) {
  std::ifstream in(client_src.family == AF_INET ? "/proc/net/tcp" : "/proc/net/tcp6");
  const std::string local = ProcNetAddress(client_src);
  const std::string remote = ProcNetAddress(client_dst);
  std::string line;
  std::getline(in, line);  // the header
  while (std::getline(in, line)) {
    // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid ...
    std::istringstream fields(line);
    std::string slot, src, dst, state, queues, timer, retransmits;
    unsigned long uid;
    if (!(fields >> slot >> src >> dst >> state >> queues >> timer >> retransmits >> uid)) continue;
    if (src == local && dst == remote) return static_cast<uid_t>(uid);
  }
  return std::nullopt;
}

}  // namespace

std::optional<uid_t> TcpPeerUid(const sockaddr_storage& local, const sockaddr_storage& peer) {
  Endpoint ours, theirs;
  if (!ToEndpoint(local, &ours) || !ToEndpoint(peer, &theirs) || ours.family != theirs.family)
    return std::nullopt;
  // The client's socket: from the peer's address and port, to ours.
  if (auto uid = FromSockDiag(theirs, ours)) return uid;
  return FromProc(theirs, ours);
}

std::optional<uid_t> TcpPeerUidFromProc(const sockaddr_storage& local,
                                        const sockaddr_storage& peer) {
  Endpoint ours, theirs;
  if (!ToEndpoint(local, &ours) || !ToEndpoint(peer, &theirs) || ours.family != theirs.family)
    return std::nullopt;
  return FromProc(theirs, ours);
}

}  // namespace profd

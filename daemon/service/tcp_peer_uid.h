// Who is on the other end of a loopback TCP connection: the kernel records the uid that created
// every TCP socket, so the client's socket (the one from the peer's address and port to ours)
// names the local user that connected, as SO_PEERCRED does for a Unix socket.
#ifndef PROFD_DAEMON_SERVICE_TCP_PEER_UID_H
#define PROFD_DAEMON_SERVICE_TCP_PEER_UID_H

#include <sys/socket.h>
#include <sys/types.h>

#include <optional>
#include <string>

namespace profd {

// The uid owning the TCP socket whose source is `peer` and destination `local` (our side of an
// accepted connection, from getsockname and accept): asked of sock_diag (NETLINK_INET_DIAG), else
// read from /proc/net/tcp and tcp6. nullopt when neither knows it (the client closed already, or
// it is on another host). IPv4-mapped IPv6 addresses are looked up as IPv4.
std::optional<uid_t> TcpPeerUid(const sockaddr_storage& local, const sockaddr_storage& peer);

// The same, from /proc/net/tcp and tcp6 only (exposed for tests).
std::optional<uid_t> TcpPeerUidFromProc(const sockaddr_storage& local,
                                        const sockaddr_storage& peer);

}  // namespace profd

#endif  // PROFD_DAEMON_SERVICE_TCP_PEER_UID_H

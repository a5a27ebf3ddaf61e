// The daemon's HTTP listen address, parsed once for the configuration's checks and for the server
// that binds it.
#ifndef PROFD_CONFIG_LISTEN_ADDRESS_H
#define PROFD_CONFIG_LISTEN_ADDRESS_H

#include <cstdint>
#include <string>

namespace profd {

struct ListenAddress {
  std::string host;  // numeric: "127.0.0.1" or "::1"; "" for every interface
  uint16_t port = 0;
  bool loopback = false;  // only this host can connect
};

// Parses "127.0.0.1:6061", "[::1]:6061", "localhost:6061" or ":6061" (every interface, IPv6 and
// IPv4). Other host names are refused rather than resolved. Port 0 picks a free port. False with
// `error` saying what is wrong with `text`.
bool ParseListenAddress(const std::string& text, ListenAddress* address, std::string* error);

}  // namespace profd

#endif  // PROFD_CONFIG_LISTEN_ADDRESS_H

#include "listen_address.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <charconv>

namespace profd {

bool ParseListenAddress(const std::string& text, ListenAddress* address, std::string* error) {
  const std::string quoted = "\"" + text + "\"";
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos) {
    *error = quoted + " is not a listen address; expected HOST:PORT, [IPV6]:PORT or :PORT";
    return false;
  }
  const std::string port = text.substr(colon + 1);
  std::string host = text.substr(0, colon);
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value > 65535) {
    *error = quoted + ": the port must be a number from 0 to 65535";
    return false;
  }
  ListenAddress parsed;
  parsed.port = static_cast<uint16_t>(value);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
    in6_addr in6;
    if (::inet_pton(AF_INET6, host.c_str(), &in6) != 1) {
      *error = quoted + ": " + host + " is not an IPv6 address";
      return false;
    }
    parsed.loopback =
        IN6_IS_ADDR_LOOPBACK(&in6) || (IN6_IS_ADDR_V4MAPPED(&in6) && in6.s6_addr[12] == 127);
  } else if (host == "localhost") {
    host = "127.0.0.1";
    parsed.loopback = true;
  } else if (!host.empty()) {
    in_addr in;
    if (::inet_pton(AF_INET, host.c_str(), &in) != 1) {
      *error = quoted + ": " + host +
               " is not an IPv4 address (write IPv6 as [::1]:PORT; host names other than "
               "localhost are not resolved)";
      return false;
    }
    parsed.loopback = (ntohl(in.s_addr) >> 24) == 127;
  }
  parsed.host = host;
  *address = parsed;
  return true;
}

}  // namespace profd

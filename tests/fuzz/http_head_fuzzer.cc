// The HTTP request head parser every connection's first bytes go through (before any
// authentication): request line, percent-decoded path and query, headers.
#include <cstdint>
#include <string>
#include <string_view>

#include "service/http_server.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view head(reinterpret_cast<const char*>(data), size);
  profd::HttpRequest request;
  int status = 0;
  std::string error;
  (void)profd::ParseHttpRequestHead(head, &request, &status, &error);
  std::string decoded;
  (void)profd::PercentDecode(head, true, &decoded);
  return 0;
}

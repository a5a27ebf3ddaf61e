// A /debug/pprof query string as the endpoints decode it: the head parser splits and decodes it,
// then ?pid= and the tuning parameters (frequency, unwind, min_block, sample_rate, max_overhead)
// are parsed as a profile request would parse them, and the whole query for every endpoint.
#include <cstdint>
#include <string>

#include "cli/cli.h"
#include "profiles/request_query.h"
#include "service/http_server.h"
#include "service/pprof_endpoints.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string query(reinterpret_cast<const char*>(data), size);
  const std::string head = "GET /debug/pprof/profile?" + query + " HTTP/1.1\r\nHost: x\r\n\r\n";
  profd::HttpRequest request;
  int status = 0;
  std::string error;
  if (!profd::ParseHttpRequestHead(head, &request, &status, &error)) return 0;
  if (auto it = request.query.find("pid"); it != request.query.end()) {
    std::vector<pid_t> pids;
    (void)profd::ParsePids(it->second, &pids, &error);
  }
  profd::ProfileRequest profile;
  (void)profd::DecodeTuningParameters(request.query, &profile, &error);
  for (const profd::ProfileTypeInfo& endpoint : profd::ProfileTypes())
    (void)profd::DecodeProfileQuery(request.query, endpoint, profd::ProfileRequest(), 300);
  return 0;
}

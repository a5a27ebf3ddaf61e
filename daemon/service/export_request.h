// What each push exporter kind sends and how its server answers: the body (made when a profile
// is spooled), the path and headers (at each push), and what an HTTP answer means. Everything else
// (spool, delivery thread, backoff, refusals, /metrics) is push_exporter's and the same for all.
//
// kind pyroscope: Grafana Pyroscope's push API, POST URL/push.v1.PusherService/Push (Connect
// protocol, binary protobuf over HTTP/1.1; proto/pyroscope_push.proto). Chosen over its older
// /ingest because each profile carries its id (RawSample.id) for recognising a retried push, and
// labels go as name/value pairs (ingest's `app{k=v,...}` cannot carry a ',' or '}' in a value).
// kind pyroscope with api ingest: Pyroscope's HTTP ingest, POST URL/ingest?name=SERVICE{k=v,...}
// &from=UNIX&until=UNIX&format=pprof&spyName=profd with the gzipped pprof as the body (no id: a
// retried push after a lost answer may be stored twice).
// kind parca: Parca's ProfileStoreService.WriteRaw through its HTTP/JSON gateway, POST
// URL/api/profiles/writeraw.
// kind otlp: OpenTelemetry's profiles signal over OTLP/HTTP, POST URL/v1development/profiles, an
// ExportProfilesServiceRequest of opentelemetry-proto v1.11.0 (proto/otlp/) in binary protobuf,
// gzip-compressed. The collector's answers follow the OTLP/HTTP spec: 429, 502, 503 and 504 may
// pass (Retry-After honoured); any other error is final; a 200 may report a partial success.
#ifndef PROFD_DAEMON_SERVICE_EXPORT_REQUEST_H
#define PROFD_DAEMON_SERVICE_EXPORT_REQUEST_H

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "otlp_profile.h"

namespace profd {

// One scheduled profile of one process, as the exporters send it.
struct ExportedProfile {
  std::string type;  // a profile type name: cpu, allocs, heap, ...
  pid_t pid = 0;
  std::string comm;
  std::string exe;           // the executable's path, "" if unknown
  std::string service_name;  // ServiceNameOf (process/process_labels.h)
  std::string container_id;  // ContainerIdOf
  std::chrono::system_clock::time_point start, end;
  std::string gzipped;  // the pprof profile
};

// Pyroscope's profile name for a type (its __name__ label): process_cpu, memory, block, mutex,
// goroutine, threadcreate.
std::string PyroscopeProfileName(const std::string& type);

// The labels a profile is pushed with: service_name, __name__, __delta__ (false: profd's
// profiles are windows, not cumulative), hostname, pid, comm, exe, container_id (when in one);
// sorted by name.
std::vector<std::pair<std::string, std::string>> PushLabels(const ExportedProfile& profile,
                                                            const std::string& hostname);

// Pyroscope's PushRequest (binary protobuf) holding one profile with its labels and id.
std::string PyroscopePushBody(const ExportedProfile& profile, const std::string& hostname,
                              const std::string& id);

// Parca's WriteRawRequest as its HTTP gateway reads it (JSON; the profile in base64) holding one
// profile with the same labels (Parca's RawSample has no id).
std::string ParcaWriteRawBody(const ExportedProfile& profile, const std::string& hostname);

// The same labels under OpenTelemetry's semantic-convention names, as resource attributes:
// service.name, host.name, process.pid, process.executable.name (the executable's base name, else
// comm), process.executable.path, container.id (when in one).
std::vector<OtlpAttribute> OtlpResourceAttributes(const ExportedProfile& profile,
                                                  const std::string& hostname);

// The OTLP request holding the profile, serialized and gzip-compressed as it is sent; its
// profile_id comes from `id` (a UUID). "" with `why` set when there is nothing to send:
// "no_samples" (a collector drops such a request unread) or "not_pprof".
std::string OtlpExportBody(const ExportedProfile& profile, const std::string& hostname,
                           const std::string& id, std::string* why);

// What goes on the wire for an exporter's kind and api: "pyroscope" (Connect push),
// "pyroscope_ingest", "parca" or "otlp". The functions below take it.
std::string ExportWire(const std::string& kind, const std::string& api);

// Pyroscope's ingest query for the profile (from "?"): name is the service name (the characters
// Pyroscope refuses in it as '_') with the other push labels in braces (',' and '}' in a value as
// '_': the format has no escape); from and until in Unix seconds; format=pprof; spyName=profd.
// With format=pprof Pyroscope takes the whole name as service_name and __name__ from the
// profile's sample types, so no ".cpu"-style suffix is added.
std::string PyroscopeIngestQuery(const ExportedProfile& profile, const std::string& hostname);

// The body spooled for an exporter of `wire`; "" with `why` set when nothing is to be sent.
std::string ExportBody(const std::string& wire, const ExportedProfile& profile,
                       const std::string& hostname, const std::string& id, std::string* why);
// The query string spooled with it (from "?"); "" for all but pyroscope_ingest.
std::string ExportQuery(const std::string& wire, const ExportedProfile& profile,
                        const std::string& hostname);

// The path after the exporter's URL and the request headers of `wire` (auth not included).
struct ExportRoute {
  std::string path;
  std::vector<std::string> headers;
};
ExportRoute RouteOf(const std::string& wire);

// What a server's HTTP answer (status and the start of its body) means.
struct ExportAnswer {
  enum Outcome { kDelivered, kRetry, kRefused } outcome = kRetry;
  std::string cause;   // for profd_export_failed_total: http_5xx, http_429, http_4xx, ...
  std::string detail;  // for the log: the server's reason
  int64_t rejected_profiles = 0;  // otlp: a partial success dropped these
  std::string warning;            // otlp: a partial success's message
};
ExportAnswer ReadAnswer(const std::string& wire, long status, const std::string& body);

}  // namespace profd

#endif  // PROFD_DAEMON_SERVICE_EXPORT_REQUEST_H

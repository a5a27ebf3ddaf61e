// Converts a pprof profile (perftools.profiles.Profile) into OpenTelemetry's profiles signal: an
// OTLP ExportProfilesServiceRequest as opentelemetry-proto v1.11.0 defines it (proto/otlp/).
//
// The conversion keeps everything profd's profiles hold, so the original pprof bytes are not sent
// along (Profile.original_payload stays unset): the request would double in size for nothing.
//   - one OTLP Profile per pprof sample type (OTLP has one sample type a Profile), the default
//     sample type first, since viewers show profiles[0] by default;
//   - period, period type, time and duration on each;
//   - mappings (build id as process.executable.build_id.gnu, pprof's has_* flags as the pprof.*
//     semantic-convention attributes), locations with their inline lines innermost first,
//     functions, all in the request's one ProfilesDictionary;
//   - each sample's stack (leaf first) as a Stack, its labels as sample attributes under the
//     same keys (numeric labels as integers, with their unit), its value for that type;
//   - comments, drop_frames and keep_frames as pprof.profile.* attributes of each Profile.
// A sample whose value for a type is zero is left out of that type's Profile.
#ifndef PROFD_PROTO_OTLP_PROFILE_H
#define PROFD_PROTO_OTLP_PROFILE_H

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "otlp/profiles_service.pb.h"
#include "profile.pb.h"

namespace profd {

// A resource attribute: a string or an integer (process.pid).
struct OtlpAttribute {
  std::string key;
  std::variant<std::string, int64_t> value;
};

struct OtlpScope {
  std::string name;     // e.g. "profd"
  std::string version;  // e.g. "0.1.0"
};

// The request holding `pprof` (which CheckValid accepts) as one resource with `resource`'s
// attributes and one scope. `profile_id` is 16 bytes: the first Profile carries it, the i-th
// carries it with its last byte xor i, so a retried request repeats the same ids.
opentelemetry::proto::collector::profiles::v1development::ExportProfilesServiceRequest PprofToOtlp(
    const perftools::profiles::Profile& pprof, const std::vector<OtlpAttribute>& resource,
    const OtlpScope& scope, const std::string& profile_id);

// How many samples `request` holds over all its profiles (a collector drops a request of none).
uint64_t OtlpSampleCount(
    const opentelemetry::proto::collector::profiles::v1development::ExportProfilesServiceRequest&
        request);

}  // namespace profd

#endif  // PROFD_PROTO_OTLP_PROFILE_H

// One codec for a profile request as a /debug/pprof/ query: the CLI's daemon client encodes it,
// the endpoints decode it (Go's pid and seconds there, with net/http/pprof's rules; the settings
// beyond Go's here).
#ifndef PROFD_DAEMON_PROFILES_REQUEST_QUERY_H
#define PROFD_DAEMON_PROFILES_REQUEST_QUERY_H

#include <map>
#include <string>

#include "base/result.h"
#include "profiles/profile_request.h"

namespace profd {

// The request `request` becomes, e.g. "/debug/pprof/profile?pid=1234&seconds=3&frequency=199".
// --seconds is rounded up to whole seconds (at least 1), as net/http/pprof takes them. Settings
// that matter to the type and differ from the CLI's defaults (--frequency, --unwind, --min-block,
// --sample-rate, --max-overhead) are passed as parameters; the others are left to the daemon's
// configuration, whose defaults are the CLI's.
std::string DaemonRequestTarget(const ProfileRequest& request);

// What a /debug/pprof/ query asks of its endpoint's type.
struct ProfileQuery {
  ProfileRequest request;
  bool cumulative = false;  // no ?seconds for a type that can be: since the first such request
  bool debug_text = false;  // ?debug=1
};

// Decodes a query as net/http/pprof reads it, over `defaults` (the daemon's settings): ?pid= (a
// list; without it the whole host where the type allows), whole ?seconds (/profile falls back to 30
// on a bad value, the others refuse it; at most `max_seconds`; a launched command's window runs to
// its exit, at most `max_seconds` without ?seconds), ?debug, and the settings beyond Go's
// (DecodeTuningParameters). An error is the 400's message, naming the parameter.
Result<ProfileQuery> DecodeProfileQuery(const std::map<std::string, std::string>& query,
                                        const ProfileTypeInfo& endpoint,
                                        const ProfileRequest& defaults, double max_seconds);

// ?pid=: "1234" or "1234,5678" (repeats dropped, at most kMaxPidsPerRequest); false with `error`
// the message for the client.
bool ParsePids(const std::string& text, std::vector<pid_t>* pids, std::string* error);

// The settings beyond Go's (frequency, unwind, min_block, sample_rate, max_overhead, and a launched
// command's launch, follow, preload, peak) from a decoded query into `request`, as the CLI's flags
// take them; false with `error` naming the parameter and what it takes.
bool DecodeTuningParameters(const std::map<std::string, std::string>& query,
                            ProfileRequest* request, std::string* error);

// Seconds as a request sends them: whole, rounded up, at least 1.
int WholeSeconds(double seconds);

}  // namespace profd

#endif  // PROFD_DAEMON_PROFILES_REQUEST_QUERY_H

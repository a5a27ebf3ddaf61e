// One codec for a profile request as a /debug/pprof/ query: the CLI's daemon client encodes it,
// the endpoints decode it (Go's pid and seconds there, with net/http/pprof's rules; the settings
// beyond Go's here).
#ifndef PROFD_DAEMON_PROFILES_REQUEST_QUERY_H
#define PROFD_DAEMON_PROFILES_REQUEST_QUERY_H

#include <map>
#include <string>

#include "profiles/profile_request.h"

namespace profd {

// The request `request` becomes, e.g. "/debug/pprof/profile?pid=1234&seconds=3&frequency=199".
// --seconds is rounded up to whole seconds (at least 1), as net/http/pprof takes them. Settings
// that matter to the type and differ from the CLI's defaults (--frequency, --unwind, --min-block,
// --sample-rate, --max-overhead) are passed as parameters; the others are left to the daemon's
// configuration, whose defaults are the CLI's.
std::string DaemonRequestTarget(const ProfileRequest& request);

// The settings beyond Go's (frequency, unwind, min_block, sample_rate, max_overhead) from a
// decoded query into `request`, as the CLI's flags take them; false with `error` naming the
// parameter and what it takes.
bool DecodeTuningParameters(const std::map<std::string, std::string>& query,
                            ProfileRequest* request, std::string* error);

// Seconds as a request sends them: whole, rounded up, at least 1.
int WholeSeconds(double seconds);

}  // namespace profd

#endif  // PROFD_DAEMON_PROFILES_REQUEST_QUERY_H

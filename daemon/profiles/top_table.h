// The table `go tool pprof -top` prints (flat, flat%, sum%, cum, cum%, name), computed from a
// profile, so a user without Go gets the answer at once.
#ifndef PROFD_DAEMON_PROFILES_TOP_TABLE_H
#define PROFD_DAEMON_PROFILES_TOP_TABLE_H

#include <string>

#include "profile.pb.h"

namespace profd {

// Rows by function (inlined functions count as their own), largest flat first. Uses the profile's
// default sample type, else the last one.
std::string FormatTopTable(const perftools::profiles::Profile& profile, size_t max_rows);

// pprof's way of printing a value of `unit` ("nanoseconds" → "1.50s", "bytes" → "12MB", counts
// plain).
std::string FormatValue(int64_t value, const std::string& unit);

}  // namespace profd

#endif  // PROFD_DAEMON_PROFILES_TOP_TABLE_H

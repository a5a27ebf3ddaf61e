// Durations and byte sizes as people write them in flags and in the config file. This is the one
// parser of both, so "10us" or "1GiB" means the same wherever profd reads it.
#ifndef PROFD_CONFIG_UNITS_H
#define PROFD_CONFIG_UNITS_H

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace profd {

// Parses a duration: a plain number of seconds ("30", "1.5", "1e-3") or numbers with units, summed
// as in Go ("10us", "500ms", "2m", "1h30m", "7d"). Units: ns, us (or µs), ms, s, m, h, d. A sign
// may lead ("-5s"): callers check the range. Whitespace around the text and between a number and
// its unit is allowed. Rounds to whole nanoseconds. False, with `error` (if not null) saying why,
// when malformed or beyond ±292 years. Accepts everything the CLI's ParseDuration(text, double*)
// does.
bool ParseDuration(std::string_view text, std::chrono::nanoseconds* duration, std::string* error);

// Parses a byte size: a whole number with an optional unit, "4096", "512KiB", "1GiB", "100MB".
// Units (any letter case): B; K, KB, KiB; M, MB, MiB; G, GB, GiB; T, TB, TiB — all powers of 1024,
// as the CLI's --sample-rate has always read them. False, with `error` (if not null) saying why,
// when malformed or above 2^64-1.
bool ParseByteSize(std::string_view text, uint64_t* bytes, std::string* error);

// The shortest exact form in one unit, which ParseDuration reads back unchanged: "7d", "90s",
// "10us", "1500ms", "0s", "-5s".
std::string FormatDuration(std::chrono::nanoseconds duration);

// The largest binary unit that divides exactly, else bytes: "1GiB", "512KiB", "1000", "0".
std::string FormatByteSize(uint64_t bytes);

}  // namespace profd

#endif  // PROFD_CONFIG_UNITS_H

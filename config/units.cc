#include "units.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>

namespace profd {
namespace {

constexpr char kDurationForms[] =
    "a number of seconds, or numbers with units ns, us, ms, s, m, h, d (e.g. 30, 1.5, 500ms, "
    "1h30m, 7d)";
constexpr char kSizeForms[] =
    "a whole number of bytes, or one with a unit B, KiB, MiB, GiB, TiB (K/KB, M/MB, G/GB, T/TB "
    "are the same powers of 1024), e.g. 4096, 512KiB, 1GiB";

struct Unit {
  std::string_view name;
  int64_t nanoseconds;
};
// Largest first: FormatDuration picks the first that divides exactly ("us" before "µs").
constexpr Unit kDurationUnits[] = {
    {"d", 86400'000'000'000},
    {"h", 3600'000'000'000},
    {"m", 60'000'000'000},
    {"s", 1'000'000'000},
    {"ms", 1'000'000},
    {"us", 1'000},
    {"µs", 1'000},  // U+00B5 MICRO SIGN, as Go writes it
    {"μs", 1'000},  // U+03BC GREEK SMALL LETTER MU, which looks the same
    {"ns", 1},
};

bool IsSpace(char c) { return c == ' ' || c == '\t'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
// Unit names are letters; bytes >= 0x80 let "µs" through to the lookup.
bool IsUnitChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || static_cast<unsigned char>(c) >= 0x80;
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && IsSpace(text.front())) text.remove_prefix(1);
  while (!text.empty() && IsSpace(text.back())) text.remove_suffix(1);
  return text;
}

bool Fail(std::string* error, const std::string& message) {
  if (error) *error = message;
  return false;
}

}  // namespace

bool ParseDuration(std::string_view text, std::chrono::nanoseconds* duration, std::string* error) {
  const std::string quoted = "\"" + std::string(text) + "\"";
  // strtod needs a NUL-terminated string; it also gives the CLI's forms (exponents) for free.
  const std::string trimmed(Trim(text));
  if (trimmed.empty())
    return Fail(error, "empty duration; expected " + std::string(kDurationForms));
  const char* p = trimmed.c_str();
  const char* const end = p + trimmed.size();
  // As in Go the sign covers the whole sum: "-1h30m" is -90 minutes.
  bool negative = false;
  if (*p == '+' || *p == '-') negative = *p++ == '-';
  // Exact in 128 bits: whole numbers of any unit stay exact up to the int64 limit, so every
  // FormatDuration result reads back unchanged.
  __int128 total_ns = 0;
  constexpr __int128 kLimit = std::numeric_limits<int64_t>::max();
  const std::string too_long = quoted + " is too long (the limit is 292 years)";
  bool first = true;
  while (p < end) {
    if (!IsDigit(*p) && *p != '.')
      return Fail(error, quoted + " is not a duration; expected " + kDurationForms);
    char* number_end = nullptr;
    const double value = std::strtod(p, &number_end);
    if (number_end == p || !std::isfinite(value))
      return Fail(error, quoted + " is not a duration; expected " + kDurationForms);
    const std::string_view number(p, number_end - p);
    p = number_end;
    while (p < end && IsSpace(*p)) ++p;
    const char* unit_begin = p;
    while (p < end && IsUnitChar(*p)) ++p;
    const std::string_view unit(unit_begin, p - unit_begin);
    int64_t scale = 0;
    if (unit.empty()) {
      if (!first || p != end)
        return Fail(error, quoted + " has a number without a unit; expected " + kDurationForms);
      scale = 1'000'000'000;  // a plain number is seconds
    } else {
      for (const Unit& u : kDurationUnits)
        if (unit == u.name) scale = u.nanoseconds;
      if (scale == 0)
        return Fail(error, quoted + ": unknown unit \"" + std::string(unit) + "\"; expected " +
                               kDurationForms);
    }
    uint64_t whole = 0;
    if (std::all_of(number.begin(), number.end(), IsDigit)) {
      if (std::from_chars(number.data(), number.data() + number.size(), whole).ec != std::errc() ||
          whole > static_cast<uint64_t>(kLimit))
        return Fail(error, too_long);
      total_ns += static_cast<__int128>(whole) * scale;
    } else {
      const long double ns = static_cast<long double>(value) * scale;
      if (ns > static_cast<long double>(kLimit)) return Fail(error, too_long);
      total_ns += std::llround(ns);
    }
    if (total_ns > kLimit) return Fail(error, too_long);
    while (p < end && IsSpace(*p)) ++p;
    first = false;
  }
  *duration = std::chrono::nanoseconds(static_cast<int64_t>(negative ? -total_ns : total_ns));
  return true;
}

bool ParseByteSize(std::string_view text, uint64_t* bytes, std::string* error) {
  const std::string quoted = "\"" + std::string(text) + "\"";
  const std::string_view trimmed = Trim(text);
  size_t digits = 0;
  while (digits < trimmed.size() && IsDigit(trimmed[digits])) ++digits;
  if (digits == 0) return Fail(error, quoted + " is not a byte size; expected " + kSizeForms);
  uint64_t value = 0;
  if (std::from_chars(trimmed.data(), trimmed.data() + digits, value).ec != std::errc())
    return Fail(error, quoted + " is too large (the limit is 2^64-1 bytes)");
  std::string_view rest = trimmed.substr(digits);
  while (!rest.empty() && IsSpace(rest.front())) rest.remove_prefix(1);
  std::string unit(rest);
  for (char& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  int shift = -1;
  if (unit.empty() || unit == "b") shift = 0;
  const char prefixes[] = "kmgt";
  for (int i = 0; i < 4; ++i) {
    const std::string p(1, prefixes[i]);
    if (unit == p || unit == p + "b" || unit == p + "ib") shift = 10 * (i + 1);
  }
  if (shift < 0)
    return Fail(error,
                quoted + ": unknown unit \"" + std::string(rest) + "\"; expected " + kSizeForms);
  if (value > (std::numeric_limits<uint64_t>::max() >> shift))
    return Fail(error, quoted + " is too large (the limit is 2^64-1 bytes)");
  *bytes = value << shift;
  return true;
}

std::string FormatDuration(std::chrono::nanoseconds duration) {
  const int64_t ns = duration.count();
  if (ns == 0) return "0s";
  // Unsigned, so that the most negative value has a magnitude too.
  const uint64_t magnitude = ns < 0 ? 0 - static_cast<uint64_t>(ns) : static_cast<uint64_t>(ns);
  const std::string sign = ns < 0 ? "-" : "";
  for (const Unit& u : kDurationUnits) {
    const uint64_t unit = static_cast<uint64_t>(u.nanoseconds);
    if (magnitude % unit == 0) return sign + std::to_string(magnitude / unit) + std::string(u.name);
  }
  return sign + std::to_string(magnitude) + "ns";  // not reached: ns divides everything
}

std::string FormatByteSize(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"TiB", "GiB", "MiB", "KiB"};
  if (bytes == 0) return "0";
  for (int i = 0; i < 4; ++i) {
    const int shift = 10 * (4 - i);
    if (bytes % (uint64_t{1} << shift) == 0) return std::to_string(bytes >> shift) + kUnits[i];
  }
  return std::to_string(bytes);
}

}  // namespace profd

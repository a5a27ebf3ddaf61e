#include "units.h"

#include <gtest/gtest.h>

#include <chrono>
#include <limits>

namespace profd {
namespace {

using namespace std::chrono_literals;
using std::chrono::nanoseconds;

nanoseconds Duration(const std::string& text) {
  nanoseconds d{-12345};
  std::string error;
  EXPECT_TRUE(ParseDuration(text, &d, &error)) << text << ": " << error;
  return d;
}

std::string DurationError(const std::string& text) {
  nanoseconds d{-12345};
  std::string error;
  EXPECT_FALSE(ParseDuration(text, &d, &error)) << text;
  EXPECT_EQ(d, nanoseconds{-12345}) << text << ": untouched on failure";
  EXPECT_FALSE(error.empty()) << text;
  return error;
}

TEST(ConfigUnits, DurationPlainNumbersAreSeconds) {
  EXPECT_EQ(Duration("30"), 30s);
  EXPECT_EQ(Duration("1.5"), 1500ms);
  EXPECT_EQ(Duration("0"), 0s);
  EXPECT_EQ(Duration("0.25"), 250ms);
  EXPECT_EQ(Duration("1e-3"), 1ms);
  EXPECT_EQ(Duration("0.3"), 300ms);  // rounded, not truncated to 299999999ns
}

TEST(ConfigUnits, DurationUnits) {
  EXPECT_EQ(Duration("7ns"), 7ns);
  EXPECT_EQ(Duration("10us"), 10us);
  EXPECT_EQ(Duration("10µs"), 10us);  // U+00B5, as Go prints it
  EXPECT_EQ(Duration("10μs"), 10us);  // U+03BC
  EXPECT_EQ(Duration("500ms"), 500ms);
  EXPECT_EQ(Duration("10s"), 10s);
  EXPECT_EQ(Duration("2m"), 2min);
  EXPECT_EQ(Duration("1h"), 1h);
  EXPECT_EQ(Duration("7d"), 7 * 24h);
  EXPECT_EQ(Duration("1.5h"), 90min);
  EXPECT_EQ(Duration("0.5ms"), 500us);
}

TEST(ConfigUnits, DurationSumsSignsAndSpaces) {
  EXPECT_EQ(Duration("1h30m"), 90min);
  EXPECT_EQ(Duration("1d12h"), 36h);
  EXPECT_EQ(Duration("1m 30s"), 90s);
  EXPECT_EQ(Duration("10 s"), 10s);
  EXPECT_EQ(Duration("  5s "), 5s);
  EXPECT_EQ(Duration("-5s"), -5s);
  EXPECT_EQ(Duration("-1h30m"), -90min);  // the sign covers the sum, as in Go
  EXPECT_EQ(Duration("+2m"), 2min);
  EXPECT_EQ(Duration(".5s"), 500ms);
}

// Everything the CLI's ParseDuration(text, double*) accepts must parse the same here.
TEST(ConfigUnits, DurationAcceptsTheCliForms) {
  for (const char* text : {"30", "1.5", "20us", "500ms", "10s", "2m", "1h", "0", "1e2", "-1"}) {
    nanoseconds d;
    std::string error;
    EXPECT_TRUE(ParseDuration(text, &d, &error)) << text << ": " << error;
  }
  EXPECT_EQ(Duration("1e2"), 100s);
  EXPECT_EQ(Duration("20us"), 20us);
}

TEST(ConfigUnits, DurationRejectsMalformed) {
  EXPECT_NE(DurationError("").find("empty"), std::string::npos);
  EXPECT_NE(DurationError("   ").find("empty"), std::string::npos);
  DurationError("abc");
  DurationError("s");
  DurationError("nan");
  DurationError("inf");
  DurationError("-inf");
  DurationError("1e999");
  DurationError("1.2.3");
  DurationError("--5s");
  DurationError("1h30");  // a number without a unit is only seconds when alone
  DurationError("5s 3");
  DurationError("1h-30m");
  EXPECT_EQ(DurationError("10x"),
            "\"10x\": unknown unit \"x\"; expected a number of seconds, or numbers with units ns, "
            "us, ms, s, m, h, d (e.g. 30, 1.5, 500ms, 1h30m, 7d)");
  EXPECT_NE(DurationError("10sec").find("unknown unit \"sec\""), std::string::npos);
  EXPECT_NE(DurationError("10M").find("unknown unit \"M\""), std::string::npos);
  EXPECT_NE(DurationError("300y").find("unknown unit"), std::string::npos);
  EXPECT_NE(DurationError("200000d").find("too long"), std::string::npos);
}

TEST(ConfigUnits, FormatDurationRoundTrips) {
  EXPECT_EQ(FormatDuration(0s), "0s");
  EXPECT_EQ(FormatDuration(7 * 24h), "7d");
  EXPECT_EQ(FormatDuration(90min), "90m");
  EXPECT_EQ(FormatDuration(90s), "90s");
  EXPECT_EQ(FormatDuration(1500ms), "1500ms");
  EXPECT_EQ(FormatDuration(10us), "10us");
  EXPECT_EQ(FormatDuration(1001ns), "1001ns");
  EXPECT_EQ(FormatDuration(-5s), "-5s");
  for (nanoseconds d : {nanoseconds(0), nanoseconds(1), nanoseconds(999), nanoseconds(10'000),
                        nanoseconds(std::chrono::hours(24 * 3650)), nanoseconds(-42),
                        nanoseconds(std::numeric_limits<int64_t>::max() / 2)})
    EXPECT_EQ(Duration(FormatDuration(d)), d) << FormatDuration(d);
  EXPECT_EQ(FormatDuration(nanoseconds::min()), "-9223372036854775808ns");
}

uint64_t Size(const std::string& text) {
  uint64_t bytes = 12345;
  std::string error;
  EXPECT_TRUE(ParseByteSize(text, &bytes, &error)) << text << ": " << error;
  return bytes;
}

std::string SizeError(const std::string& text) {
  uint64_t bytes = 12345;
  std::string error;
  EXPECT_FALSE(ParseByteSize(text, &bytes, &error)) << text;
  EXPECT_EQ(bytes, 12345u) << text << ": untouched on failure";
  EXPECT_FALSE(error.empty()) << text;
  return error;
}

TEST(ConfigUnits, ByteSizes) {
  EXPECT_EQ(Size("0"), 0u);
  EXPECT_EQ(Size("4096"), 4096u);
  EXPECT_EQ(Size("4096B"), 4096u);
  EXPECT_EQ(Size("512KiB"), 512u * 1024);
  EXPECT_EQ(Size("512K"), 512u * 1024);
  EXPECT_EQ(Size("512KB"), 512u * 1024);
  EXPECT_EQ(Size("512kb"), 512u * 1024);
  EXPECT_EQ(Size("100MB"), 100u << 20);  // powers of 1024, as the CLI's --sample-rate
  EXPECT_EQ(Size("1MiB"), 1u << 20);
  EXPECT_EQ(Size("1GiB"), uint64_t{1} << 30);
  EXPECT_EQ(Size("2G"), uint64_t{2} << 30);
  EXPECT_EQ(Size("1TiB"), uint64_t{1} << 40);
  EXPECT_EQ(Size("1 GiB"), uint64_t{1} << 30);
  EXPECT_EQ(Size(" 7 "), 7u);
  EXPECT_EQ(Size("18446744073709551615"), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(Size("16777215TiB"), uint64_t{16777215} << 40);
}

TEST(ConfigUnits, ByteSizeRejectsMalformed) {
  SizeError("");
  SizeError("KiB");
  SizeError("-1");
  SizeError("+1");
  SizeError("1.5GiB");
  SizeError("0x10");
  EXPECT_EQ(SizeError("12XB"),
            "\"12XB\": unknown unit \"XB\"; expected a whole number of bytes, or one with a unit "
            "B, KiB, MiB, GiB, TiB (K/KB, M/MB, G/GB, T/TB are the same powers of 1024), e.g. "
            "4096, 512KiB, 1GiB");
  SizeError("1 GiB x");
  EXPECT_NE(SizeError("18446744073709551616").find("too large"), std::string::npos);
  EXPECT_NE(SizeError("16777216TiB").find("too large"), std::string::npos);
}

TEST(ConfigUnits, FormatByteSizeRoundTrips) {
  EXPECT_EQ(FormatByteSize(0), "0");
  EXPECT_EQ(FormatByteSize(1000), "1000");
  EXPECT_EQ(FormatByteSize(512 * 1024), "512KiB");
  EXPECT_EQ(FormatByteSize(uint64_t{1} << 30), "1GiB");
  EXPECT_EQ(FormatByteSize(uint64_t{3} << 40), "3TiB");
  EXPECT_EQ(FormatByteSize(1536), "1536");  // not "1.5KiB": exact forms only
  EXPECT_EQ(FormatByteSize(3 << 10), "3KiB");
  for (uint64_t bytes : {uint64_t{0}, uint64_t{1}, uint64_t{1} << 20, uint64_t{123456789},
                         std::numeric_limits<uint64_t>::max()})
    EXPECT_EQ(Size(FormatByteSize(bytes)), bytes);
}

}  // namespace
}  // namespace profd

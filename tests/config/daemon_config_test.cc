#include "daemon_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>

#include "listen_address.h"
#include "profiles/profile_types.h"
#include "service_name_rules.h"
#include "utf8.h"

namespace profd {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kShippedConfig[] = PROFD_CONFIG_SOURCE_DIR "/profd.yaml";

DaemonConfig Parse(const std::string& yaml) {
  DaemonConfig config;
  std::string error;
  EXPECT_TRUE(ParseDaemonConfig(yaml, "test.yaml", ScheduleTypeNames(), &config, &error)) << error;
  return config;
}

// The error for `yaml`, after checking that the config passed in was left as it was.
std::string ParseError(const std::string& yaml) {
  DaemonConfig config;
  config.frequency_hz = 1234;  // as if a running config were being reloaded
  std::string error;
  EXPECT_FALSE(ParseDaemonConfig(yaml, "test.yaml", ScheduleTypeNames(), &config, &error)) << yaml;
  EXPECT_EQ(config.frequency_hz, 1234) << "a failed parse must leave the config unchanged";
  return error;
}

// Field by field, so a difference names its field.
void ExpectSameConfig(const DaemonConfig& a, const DaemonConfig& b) {
  EXPECT_EQ(a.listen, b.listen);
  EXPECT_EQ(a.socket_path, b.socket_path);
  EXPECT_EQ(a.token_file, b.token_file);
  EXPECT_EQ(a.security.kernel_frames, b.security.kernel_frames);
  EXPECT_EQ(a.frequency_hz, b.frequency_hz);
  EXPECT_EQ(a.dwarf_unwinding, b.dwarf_unwinding);
  EXPECT_EQ(a.schedule.interval, b.schedule.interval);
  EXPECT_EQ(a.schedule.cpu_seconds, b.schedule.cpu_seconds);
  EXPECT_EQ(a.schedule.types, b.schedule.types);
  EXPECT_EQ(a.targets.all, b.targets.all);
  EXPECT_EQ(a.targets.pids, b.targets.pids);
  EXPECT_EQ(a.targets.process_names, b.targets.process_names);
  EXPECT_EQ(a.targets.cgroups, b.targets.cgroups);
  EXPECT_EQ(a.store.directory, b.store.directory);
  EXPECT_EQ(a.store.max_age, b.store.max_age);
  EXPECT_EQ(a.store.max_bytes, b.store.max_bytes);
  EXPECT_EQ(a.limits.max_concurrent_requests, b.limits.max_concurrent_requests);
  EXPECT_EQ(a.limits.max_seconds, b.limits.max_seconds);
  EXPECT_EQ(a.limits.max_targets, b.limits.max_targets);
  EXPECT_EQ(a.limits.max_cumulative_profiles, b.limits.max_cumulative_profiles);
  EXPECT_EQ(a.limits.cumulative_idle_expiry, b.limits.cumulative_idle_expiry);
  EXPECT_EQ(a.heap.sample_rate, b.heap.sample_rate);
  EXPECT_EQ(a.heap.max_overhead_percent, b.heap.max_overhead_percent);
  EXPECT_EQ(a.block.min_block, b.block.min_block);
  EXPECT_TRUE(a.exporters == b.exporters);
  EXPECT_EQ(a.spool.directory, b.spool.directory);
  EXPECT_EQ(a.spool.max_bytes, b.spool.max_bytes);
  EXPECT_EQ(a.spool.max_age, b.spool.max_age);
  EXPECT_TRUE(a.labels.service_name == b.labels.service_name);
  EXPECT_TRUE(a == b) << "operator== disagrees with the fields: is a new field missing above?";
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(DaemonConfigDefaults, AreTheDocumentedValues) {
  const DaemonConfig c;
  EXPECT_EQ(c.listen, "127.0.0.1:6061");
  EXPECT_EQ(c.socket_path, "/run/profd/profd.sock");
  EXPECT_EQ(c.token_file, "");
  EXPECT_EQ(c.frequency_hz, 99);
  EXPECT_TRUE(c.dwarf_unwinding);
  EXPECT_EQ(c.schedule.interval, 60s);
  EXPECT_EQ(c.schedule.cpu_seconds, 10s);
  EXPECT_EQ(c.schedule.types, std::vector<std::string>{"cpu"});
  EXPECT_TRUE(c.targets.all);
  EXPECT_TRUE(c.targets.pids.empty());
  EXPECT_TRUE(c.targets.process_names.empty());
  EXPECT_TRUE(c.targets.cgroups.empty());
  EXPECT_EQ(c.store.directory, "/var/lib/profd");
  EXPECT_EQ(c.store.max_age, 7 * 24h);
  EXPECT_EQ(c.store.max_bytes, uint64_t{1} << 30);
  EXPECT_EQ(c.limits.max_concurrent_requests, 8);
  EXPECT_EQ(c.limits.max_seconds, 300s);
  EXPECT_EQ(c.limits.max_targets, 256);
  EXPECT_EQ(c.limits.max_cumulative_profiles, 16);
  EXPECT_EQ(c.limits.cumulative_idle_expiry, 10min);
  EXPECT_EQ(c.heap.sample_rate, 524288u);
  EXPECT_EQ(c.heap.max_overhead_percent, 3.0);
  EXPECT_EQ(c.block.min_block, 10us);
  EXPECT_TRUE(c.exporters.empty());
  EXPECT_EQ(c.spool.directory, "/var/lib/profd/spool");
  EXPECT_EQ(c.spool.max_bytes, uint64_t{256} << 20);
  EXPECT_EQ(c.spool.max_age, 24h);
}

TEST(DaemonConfigDefaults, EmptyFilesAndSectionsKeepThem) {
  for (const char* yaml : {"", "\n", "# only a comment\n", "---\n", "~\n",
                           "schedule:\ntargets:\nstore:\nlimits:\nheap:\nblock:\n",
                           "schedule: {}\ntargets:\n  # pids: [1]\n"})
    ExpectSameConfig(Parse(yaml), DaemonConfig{});
}

TEST(DaemonConfigShippedFile, LoadsAsTheDefaults) {
  DaemonConfig config;
  config.frequency_hz = 1;  // must be overwritten
  std::string error;
  ASSERT_TRUE(LoadDaemonConfig(kShippedConfig, ScheduleTypeNames(), &config, &error)) << error;
  ExpectSameConfig(config, DaemonConfig{});
}

// Every key is in the shipped file, and has a comment line right above it.
TEST(DaemonConfigShippedFile, ShowsAndDocumentsEveryKey) {
  const std::string shipped = ReadFile(kShippedConfig);
  ASSERT_FALSE(shipped.empty());
  std::stringstream keys(DaemonConfigToYaml(DaemonConfig{}));
  std::string line;
  int count = 0;
  while (std::getline(keys, line)) {
    const std::string key_line = line.substr(0, line.find(':') + 1);  // "  interval:"
    const size_t at = shipped.find("\n" + key_line);
    ASSERT_NE(at, std::string::npos) << key_line << " is not in " << kShippedConfig;
    const size_t previous = shipped.rfind('\n', at - 1);
    const std::string above = shipped.substr(previous + 1, at - previous - 1);
    EXPECT_THAT(above, ::testing::MatchesRegex(" *#.*")) << key_line << " has no comment above";
    ++count;
  }
  EXPECT_EQ(count, 39);  // 5 keys, 10 sections and their 24 keys (export's list is empty)
}

TEST(DaemonConfig, FullCustomConfig) {
  const DaemonConfig c = Parse(R"(
listen: "[::1]:7070"
socket_path: /tmp/profd-test/ctl.sock
token_file: /etc/profd/token
frequency_hz: 199
unwind: fp
schedule:
  interval: 2m
  cpu_seconds: 1m30s
  types: [cpu, offcpu, mutex, threads, allocs]
targets:
  all: false
  pids: [1234, 5678]
  process_names: [nginx, "postgres*"]
  cgroups:
    - nginx.service
    - /system.slice/foo.service/
    - /sys/fs/cgroup/user.slice
store:
  directory: /srv/profiles
  max_age: 36h
  max_bytes: 100MB
limits:
  max_concurrent_requests: 32
  max_seconds: 30m
  max_targets: 1000
  max_cumulative_profiles: 0
  cumulative_idle_expiry: 1h
heap:
  sample_rate: 4096
  max_overhead_percent: 12.5
block:
  min_block: 1ms
)");
  EXPECT_EQ(c.listen, "[::1]:7070");
  EXPECT_EQ(c.socket_path, "/tmp/profd-test/ctl.sock");
  EXPECT_EQ(c.token_file, "/etc/profd/token");
  EXPECT_EQ(c.frequency_hz, 199);
  EXPECT_FALSE(c.dwarf_unwinding);
  EXPECT_EQ(c.schedule.interval, 2min);
  EXPECT_EQ(c.schedule.cpu_seconds, 90s);
  EXPECT_EQ(c.schedule.types,
            (std::vector<std::string>{"cpu", "block", "mutex", "goroutine", "allocs"}));
  EXPECT_FALSE(c.targets.all);
  EXPECT_EQ(c.targets.pids, (std::vector<pid_t>{1234, 5678}));
  EXPECT_EQ(c.targets.process_names, (std::vector<std::string>{"nginx", "postgres*"}));
  EXPECT_EQ(c.targets.cgroups, (std::vector<std::string>{
                                   "nginx.service", "/system.slice/foo.service", "/user.slice"}));
  EXPECT_EQ(c.store.directory, "/srv/profiles");
  EXPECT_EQ(c.store.max_age, 36h);
  EXPECT_EQ(c.store.max_bytes, 100u << 20);
  EXPECT_EQ(c.limits.max_concurrent_requests, 32);
  EXPECT_EQ(c.limits.max_seconds, 30min);
  EXPECT_EQ(c.limits.max_targets, 1000);
  EXPECT_EQ(c.limits.max_cumulative_profiles, 0);
  EXPECT_EQ(c.limits.cumulative_idle_expiry, 1h);
  EXPECT_EQ(c.heap.sample_rate, 4096u);
  EXPECT_EQ(c.heap.max_overhead_percent, 12.5);
  EXPECT_EQ(c.block.min_block, 1ms);

  // And back through DaemonConfigToYaml unchanged.
  ExpectSameConfig(Parse(DaemonConfigToYaml(c)), c);
}

TEST(DaemonConfig, ToYamlRoundTripsAwkwardValues) {
  DaemonConfig c;
  c.listen = "";
  c.token_file = "/a path/with: colon";
  c.schedule.types = {};
  c.schedule.cpu_seconds = 1500ms;
  c.targets.all = false;
  c.targets.process_names = {"*nginx*", "[a-z]*", "x?y", "true", "123"};
  c.heap.max_overhead_percent = 0.1;
  c.block.min_block = 0s;
  c.store.max_bytes = (uint64_t{1} << 20) + 1;
  ExpectSameConfig(Parse(DaemonConfigToYaml(c)), c);
  ExpectSameConfig(Parse(DaemonConfigToYaml(DaemonConfig{})), DaemonConfig{});
}

TEST(DaemonConfig, DurationsAndSizesInEveryForm) {
  const DaemonConfig c = Parse(
      "schedule: {interval: 90, cpu_seconds: 1.5}\n"
      "store: {max_age: 1d12h, max_bytes: 1073741824}\n"
      "block: {min_block: 0}\n"
      "heap: {sample_rate: \"512 KiB\", max_overhead_percent: 100}\n");
  EXPECT_EQ(c.schedule.interval, 90s);
  EXPECT_EQ(c.schedule.cpu_seconds, 1500ms);
  EXPECT_EQ(c.store.max_age, 36h);
  EXPECT_EQ(c.store.max_bytes, uint64_t{1} << 30);
  EXPECT_EQ(c.block.min_block, 0s);
  EXPECT_EQ(c.heap.sample_rate, 512u * 1024);
  EXPECT_EQ(c.heap.max_overhead_percent, 100.0);
}

TEST(DaemonConfig, TargetListsWithoutAllTurnAllOff) {
  const DaemonConfig c = Parse("targets:\n  pids: [42]\n");
  EXPECT_FALSE(c.targets.all);
  EXPECT_EQ(c.targets.pids, std::vector<pid_t>{42});
  EXPECT_TRUE(Parse("targets:\n  all: yes\n").targets.all);
  // No targets is fine when nothing is scheduled: HTTP and the socket still serve requests.
  EXPECT_FALSE(Parse("schedule: {types: []}\ntargets: {all: false}\n").targets.all);
  // Commented-out list items leave an empty list.
  EXPECT_TRUE(Parse("targets:\n  pids:\n  # - 1\n").targets.all);
}

TEST(DaemonConfig, ListenAddresses) {
  EXPECT_EQ(Parse("listen: \"\"\n").listen, "");
  EXPECT_EQ(Parse("listen: localhost:1\n").listen, "localhost:1");
  EXPECT_EQ(Parse("listen: 127.1.2.3:0\n").listen, "127.1.2.3:0");
  EXPECT_EQ(Parse("listen: 0.0.0.0:6061\ntoken_file: /t\n").listen, "0.0.0.0:6061");
  EXPECT_EQ(Parse("listen: :6061\ntoken_file: /t\n").listen, ":6061");

  ListenAddress parsed;
  std::string error;
  for (const char* address :
       {"127.0.0.1:6061", "[::1]:1", "localhost:80", "[::ffff:127.0.0.1]:9"}) {
    EXPECT_TRUE(ParseListenAddress(address, &parsed, &error)) << address << ": " << error;
    EXPECT_TRUE(parsed.loopback) << address;
  }
  for (const char* address : {"0.0.0.0:6061", ":6061", "[::]:6061", "10.1.2.3:80"}) {
    EXPECT_TRUE(ParseListenAddress(address, &parsed, &error)) << address << ": " << error;
    EXPECT_FALSE(parsed.loopback) << address;
  }
  for (const char* address : {"6061", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1",
                              "example.com:80", "[::1:80", "[zz]:1"})
    EXPECT_FALSE(ParseListenAddress(address, &parsed, &error)) << address;
}

TEST(DaemonConfig, ProcessNamePatterns) {
  EXPECT_TRUE(ProcessNameMatches("nginx", "nginx", "/usr/sbin/nginx"));
  EXPECT_TRUE(ProcessNameMatches("post*", "postgres", ""));
  EXPECT_TRUE(ProcessNameMatches("[pq]ostgres", "postgres", ""));
  // comm is cut at 15 characters; the executable's name is not.
  EXPECT_TRUE(ProcessNameMatches("very-long-program-name", "very-long-progr",
                                 "/opt/bin/very-long-program-name"));
  EXPECT_FALSE(ProcessNameMatches("nginx", "nginx: worker", "/usr/sbin/nginx-debug"));
  EXPECT_FALSE(ProcessNameMatches("bin", "sh", "/usr/bin/sh"));  // the name, not the path
  EXPECT_FALSE(ProcessNameMatches("x", "", ""));
}

TEST(DaemonConfigFile, MissingFileIsAnErrorNamingIt) {
  DaemonConfig config;
  std::string error;
  EXPECT_FALSE(LoadDaemonConfig("/nonexistent/profd.yaml", ScheduleTypeNames(), &config, &error));
  EXPECT_EQ(error,
            "/nonexistent/profd.yaml: cannot open the configuration: No such file or directory");
  EXPECT_FALSE(LoadDaemonConfig("/", ScheduleTypeNames(), &config, &error));
  EXPECT_THAT(error, HasSubstr("Is a directory"));
}

TEST(DaemonConfigFile, ErrorsNameThePath) {
  char path[] = "/tmp/profd-config-test-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  const std::string text = "schedule:\n  interval: 1m\n  cpu_seconds: 2m\n";
  ASSERT_EQ(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  close(fd);
  DaemonConfig config;
  std::string error;
  EXPECT_FALSE(LoadDaemonConfig(path, ScheduleTypeNames(), &config, &error));
  EXPECT_THAT(error, StartsWith(std::string(path) + ":3:3: schedule.cpu_seconds: "));
  unlink(path);
}

// --- Errors: each names file:line:column, the dotted key, and what is allowed. ---

TEST(DaemonConfigErrors, YamlSyntax) {
  EXPECT_EQ(ParseError("listen: 127.0.0.1:6061\nschedule:\n  types: [cpu, heap\n"),
            "test.yaml:4:1: YAML syntax error: end of sequence flow not found");
  EXPECT_EQ(ParseError("a: 1\n  b: 2\n"), "test.yaml:2:4: YAML syntax error: illegal map value");
}

TEST(DaemonConfigErrors, YamlSyntaxHints) {
  EXPECT_EQ(ParseError("frequency_hz: 99\nlisten: [::1]:6061\n"),
            "test.yaml:2:14: YAML syntax error: end of map not found (a value starting with [ is "
            "a YAML list: quote an IPv6 address, e.g. listen: \"[::1]:6061\")");
  EXPECT_EQ(ParseError("targets:\n  process_names:\n    - *nginx\n"),
            "test.yaml:3:7: YAML syntax error: the referenced anchor is not defined (a value "
            "starting with * is an alias in YAML: quote a glob, e.g. \"*nginx*\")");
}

TEST(DaemonConfigErrors, UnknownKeySuggestsTheClosest) {
  EXPECT_EQ(ParseError("schedule:\n  interval: 30s\n  intreval: 30s\n"),
            "test.yaml:3:3: schedule.intreval: unknown key; did you mean schedule.interval? "
            "(schedule takes the keys interval, cpu_seconds, types)");
  EXPECT_EQ(ParseError("\nfrequencyhz: 99\n"),
            "test.yaml:2:1: frequencyhz: unknown key; did you mean frequency_hz? (the top level "
            "takes the keys listen, socket_path, token_file, frequency_hz, unwind, schedule, "
            "targets, store, limits, heap, block, security, export, spool, labels)");
  EXPECT_THAT(ParseError("store:\n  max-bytes: 1GiB\n"),
              StartsWith("test.yaml:2:3: store.max-bytes: unknown key; did you mean "
                         "store.max_bytes? "));
}

TEST(DaemonConfigErrors, UnknownKeyWithNothingClose) {
  EXPECT_EQ(ParseError("limits:\n  max_concurrent_requests: 8\n  timeout: 5s\n"),
            "test.yaml:3:3: limits.timeout: unknown key (limits takes the keys "
            "max_concurrent_requests, max_seconds, max_targets, max_cumulative_profiles, "
            "cumulative_idle_expiry)");
  EXPECT_THAT(ParseError("interval: 30s\n"),
              StartsWith("test.yaml:1:1: interval: unknown key (the top level takes the keys "));
}

TEST(DaemonConfigErrors, DuplicateKey) {
  EXPECT_EQ(ParseError("heap:\n  sample_rate: 1KiB\n  sample_rate: 2KiB\n"),
            "test.yaml:3:3: heap.sample_rate: is given twice (first on line 2)");
}

TEST(DaemonConfigErrors, WrongTypes) {
  EXPECT_EQ(ParseError("frequency_hz: fast\n"),
            "test.yaml:1:15: frequency_hz: \"fast\" is not a whole number; expected CPU samples "
            "per second per CPU, a whole number from 1 to 10000");
  EXPECT_EQ(ParseError("listen: 127.0.0.1:6061\nschedule: 5\n"),
            "test.yaml:2:11: schedule: expected a mapping (key: value lines), got \"5\"; "
            "schedule takes the keys interval, cpu_seconds, types");
  EXPECT_EQ(ParseError("targets:\n  all: false\n  pids: 1234\n"),
            "test.yaml:3:9: targets.pids: expected a list, e.g. [1234, 5678], got \"1234\"");
  EXPECT_EQ(ParseError("socket_path: [a, b]\n"),
            "test.yaml:1:14: socket_path: got a list; expected a string (quote a string that "
            "starts with [ or {)");
  EXPECT_EQ(ParseError("targets:\n  all: maybe\n"),
            "test.yaml:2:8: targets.all: \"maybe\" is not a boolean; expected true or false");
  EXPECT_EQ(ParseError("heap:\n  max_overhead_percent: lots\n"),
            "test.yaml:2:25: heap.max_overhead_percent: \"lots\" is not a number; expected the "
            "allocator probes' budget in percent of the target's CPU time, a number more than 0 "
            "and at most 100");
  EXPECT_EQ(ParseError("unwind: frame-pointers\n"),
            "test.yaml:1:9: unwind: \"frame-pointers\" is not an unwinding mode; expected dwarf "
            "(unwind tables from .eh_frame, frame pointers where a binary has none) or fp (frame "
            "pointers only)");
  EXPECT_EQ(ParseError("[1, 2]\n"),
            "test.yaml:1:1: expected a mapping (key: value lines), got a list; the top level takes "
            "the keys listen, socket_path, token_file, frequency_hz, unwind, schedule, targets, "
            "store, limits, heap, block, security, export, spool, labels");
  EXPECT_EQ(ParseError("frequency_hz: 99.5\n"),
            "test.yaml:1:15: frequency_hz: \"99.5\" is not a whole number; expected CPU samples "
            "per second per CPU, a whole number from 1 to 10000");
}

TEST(DaemonConfigErrors, MissingValue) {
  // An empty value points at its key: the parser's mark for it is on the next line.
  EXPECT_EQ(ParseError("listen:\nfrequency_hz: 99\n"),
            "test.yaml:1:1: listen: has no value; expected a string");
  EXPECT_EQ(ParseError("targets:\n  all: false\n  pids: [1, ~]\n"),
            "test.yaml:3:3: targets.pids[1]: has no value; expected a process id, a whole number "
            "from 1 to 4194304");
}

TEST(DaemonConfigErrors, BadDurationsAndSizes) {
  EXPECT_EQ(ParseError("schedule:\n  interval: 5x\n"),
            "test.yaml:2:13: schedule.interval: \"5x\": unknown unit \"x\"; expected a number of "
            "seconds, or numbers with units ns, us, ms, s, m, h, d (e.g. 30, 1.5, 500ms, 1h30m, "
            "7d)");
  EXPECT_EQ(ParseError("store:\n  max_bytes: lots\n"),
            "test.yaml:2:14: store.max_bytes: \"lots\" is not a byte size; expected a whole number "
            "of bytes, or one with a unit B, KiB, MiB, GiB, TiB (K/KB, M/MB, G/GB, T/TB are the "
            "same powers of 1024), e.g. 4096, 512KiB, 1GiB");
}

TEST(DaemonConfigErrors, OutOfRange) {
  EXPECT_EQ(ParseError("frequency_hz: 20000\n"),
            "test.yaml:1:15: frequency_hz: 20000 is out of range; expected CPU samples per second "
            "per CPU, a whole number from 1 to 10000");
  EXPECT_EQ(ParseError("frequency_hz: 99999999999999999999\n"),
            "test.yaml:1:15: frequency_hz: 99999999999999999999 is out of range; expected CPU "
            "samples per second per CPU, a whole number from 1 to 10000");
  EXPECT_EQ(ParseError("schedule:\n  interval: 2d\n"),
            "test.yaml:2:13: schedule.interval: 2d is out of range; expected the time between "
            "scheduled rounds, a duration from 1s to 1d (e.g. 30s, 500ms, 10us, 2m, 1h, 7d; a "
            "plain number is seconds)");
  EXPECT_THAT(ParseError("schedule:\n  cpu_seconds: 0s\n"),
              StartsWith("test.yaml:2:16: schedule.cpu_seconds: 0s is out of range; expected the "
                         "window of each scheduled profile, a duration from 1ns to 1d "));
  EXPECT_THAT(ParseError("block:\n  min_block: 61s\n"),
              StartsWith("test.yaml:2:14: block.min_block: 61s is out of range; expected the "
                         "shortest wait counted, a duration from 0s to 1m "));
  EXPECT_THAT(ParseError("block:\n  min_block: -1us\n"),
              StartsWith("test.yaml:2:14: block.min_block: -1us is out of range;"));
  EXPECT_EQ(ParseError("store:\n  max_bytes: 1KiB\n"),
            "test.yaml:2:14: store.max_bytes: 1KiB is out of range; expected the most bytes the "
            "stored profiles may take, a size from 1MiB to 18446744073709551615 bytes (e.g. 4096, "
            "512KiB, 100MB, 1GiB)");
  EXPECT_THAT(ParseError("heap:\n  max_overhead_percent: 0\n"),
              StartsWith("test.yaml:2:25: heap.max_overhead_percent: 0 is out of range;"));
  EXPECT_THAT(ParseError("heap:\n  sample_rate: 0\n"),
              StartsWith("test.yaml:2:16: heap.sample_rate: 0 is out of range;"));
  EXPECT_THAT(ParseError("limits:\n  max_seconds: 25h\n"),
              StartsWith("test.yaml:2:16: limits.max_seconds: 25h is out of range;"));
  EXPECT_THAT(ParseError("limits:\n  max_concurrent_requests: 0\n"),
              StartsWith("test.yaml:2:28: limits.max_concurrent_requests: 0 is out of range;"));
  EXPECT_THAT(ParseError("targets:\n  pids: [1, 0]\n"),
              StartsWith("test.yaml:2:13: targets.pids[1]: 0 is out of range; expected a process "
                         "id, a whole number from 1 to 4194304"));
}

TEST(DaemonConfigErrors, BadStrings) {
  EXPECT_EQ(ParseError("listen: example.com:80\n"),
            "test.yaml:1:9: listen: \"example.com:80\": example.com is not an IPv4 address (write "
            "IPv6 as [::1]:PORT; host names other than localhost are not resolved); \"\" turns "
            "HTTP off");
  EXPECT_EQ(ParseError("store:\n  directory: profiles\n"),
            "test.yaml:2:14: store.directory: \"profiles\" is not an absolute path; expected a "
            "path starting with /");
  EXPECT_EQ(ParseError("socket_path: /" + std::string(107, 'x') + "\n"),
            "test.yaml:1:14: socket_path: is 108 bytes long; a Unix socket path has at most 107");
  EXPECT_THAT(ParseError("targets:\n  process_names: [/usr/bin/nginx]\n"),
              StartsWith("test.yaml:2:19: targets.process_names[0]: \"/usr/bin/nginx\" contains "
                         "a /; patterns match a name, not a path"));
  EXPECT_EQ(ParseError("targets:\n  cgroups:\n    - nginx\n"),
            "test.yaml:3:7: targets.cgroups[0]: \"nginx\" is neither a cgroup path nor a systemd "
            "unit name; expected a cgroup v2 path as in /proc/PID/cgroup (e.g. "
            "/system.slice/nginx.service) or a systemd unit name ending in .service, .scope or "
            ".slice");
  EXPECT_THAT(ParseError("targets:\n  cgroups: [/a/../b]\n"),
              StartsWith("test.yaml:2:13: targets.cgroups[0]: \"/a/../b\" is not a plain cgroup "
                         "path"));
}

TEST(DaemonConfigErrors, UnknownProfileType) {
  EXPECT_EQ(ParseError("schedule:\n  types: [cpu, hepa]\n"),
            "test.yaml:2:16: schedule.types[1]: unknown profile type \"hepa\"; expected one of "
            "cpu, heap, allocs, block (alias offcpu), mutex, goroutine (alias threads), "
            "threadcreate");
  EXPECT_THAT(ParseError("schedule:\n  types:\n    - cpu\n    - cmdline\n"),
              StartsWith("test.yaml:4:7: schedule.types[1]: cmdline is answered on request, not "
                         "kept on a schedule; expected one of cpu, "));
  EXPECT_EQ(ParseError("schedule:\n  types: [cpu, gpu, cpu]\n"),
            "test.yaml:2:16: schedule.types[1]: unknown profile type \"gpu\"; expected one of "
            "cpu, heap, allocs, block (alias offcpu), mutex, goroutine (alias threads), "
            "threadcreate\n"
            "test.yaml:2:21: schedule.types[2]: \"cpu\" repeats schedule.types[0]");
  // An alias and its name are the same type.
  EXPECT_EQ(ParseError("schedule:\n  types: [block, offcpu]\n"),
            "test.yaml:2:18: schedule.types[1]: \"offcpu\" repeats schedule.types[0]");
}

TEST(DaemonConfigErrors, CpuSecondsLongerThanInterval) {
  EXPECT_EQ(ParseError("schedule:\n  interval: 1m\n  cpu_seconds: 2m\n"),
            "test.yaml:3:3: schedule.cpu_seconds: schedule.cpu_seconds (2m) is longer than "
            "schedule.interval (1m); the window must fit in the interval");
  // With only the interval given, the default window (10s) is what does not fit.
  EXPECT_THAT(ParseError("\nschedule:\n  interval: 5s\n"),
              StartsWith("test.yaml:3:3: schedule.interval: schedule.cpu_seconds (10s) is longer "
                         "than schedule.interval (5s)"));
  EXPECT_EQ(Parse("schedule:\n  interval: 10s\n").schedule.interval, 10s);  // equal fits
}

TEST(DaemonConfigErrors, TokenFileRequiredOffLoopback) {
  const std::string expected =
      "test.yaml:2:1: listen: listen \"0.0.0.0:6061\" accepts connections from other hosts, so "
      "token_file must name a file holding the bearer token clients send; or listen on loopback "
      "(127.0.0.1:PORT, [::1]:PORT)";
  EXPECT_EQ(ParseError("frequency_hz: 99\nlisten: 0.0.0.0:6061\n"), expected);
  EXPECT_EQ(ParseError("frequency_hz: 99\nlisten: 0.0.0.0:6061\ntoken_file: \"\"\n"), expected);
  EXPECT_THAT(ParseError("listen: \"[::]:6061\"\n"), StartsWith("test.yaml:1:1: listen: "));
  EXPECT_EQ(Parse("listen: \"[::1]:6061\"\n").token_file, "");
}

TEST(DaemonConfigErrors, AllConflictsWithLists) {
  EXPECT_EQ(ParseError("targets:\n  all: true\n  pids: [1]\n  cgroups: [a.service]\n"),
            "test.yaml:2:3: targets.all: true selects every process, but targets.pids and "
            "targets.cgroups are given too; set all: false to profile only the listed targets, or "
            "remove the lists");
  EXPECT_EQ(ParseError("targets:\n  all: false\n"),
            "test.yaml:2:3: targets.all: false, and no targets.pids, targets.process_names or "
            "targets.cgroups are given: the schedule has nothing to profile; list targets, set "
            "all: true, or turn the schedule off with schedule.types: []");
}

TEST(DaemonConfigErrors, SecondDocument) {
  EXPECT_EQ(ParseError("listen: \"\"\n---\nlisten: \"\"\n"),
            "test.yaml:3:1: a second YAML document (after ---); the configuration is a single "
            "document");
}

// Found by tests/fuzz/config_fuzzer: yaml-cpp 0.7's LoadAll never returned on these (each turn
// another null document), so a SIGHUP with such a file hung the reload and ate the memory.
TEST(DaemonConfigErrors, MalformedStreamsEndInsteadOfLooping) {
  for (const char* text : {",\n  c\n", ",", "- !+(.,.)", ",isten: 1\nschedule:\n  ma\n"}) {
    DaemonConfig config;
    std::string error;
    ParseDaemonConfig(text, "test.yaml", ScheduleTypeNames(), &config, &error);  // returns: an error or the defaults
    EXPECT_EQ(config.frequency_hz, DaemonConfig{}.frequency_hz) << text;
  }
}

TEST(DaemonConfigErrors, AllProblemsAreReportedOnePerLine) {
  EXPECT_EQ(ParseError("frequency_hz: 0\nschedule:\n  types: [gpu]\nunwnd: fp\n"),
            "test.yaml:1:15: frequency_hz: 0 is out of range; expected CPU samples per second per "
            "CPU, a whole number from 1 to 10000\n"
            "test.yaml:3:11: schedule.types[0]: unknown profile type \"gpu\"; expected one of cpu, "
            "heap, allocs, block (alias offcpu), mutex, goroutine (alias threads), threadcreate\n"
            "test.yaml:4:1: unwnd: unknown key; did you mean unwind? (the top level takes the "
            "keys listen, socket_path, token_file, frequency_hz, unwind, schedule, targets, store, "
            "limits, heap, block, security, export, spool, labels)");
  std::string many;
  for (int i = 0; i < 25; ++i) many += "k" + std::to_string(i) + ": 1\n";
  const std::string error = ParseError(many);
  EXPECT_EQ(std::count(error.begin(), error.end(), '\n'), 20);
  EXPECT_THAT(error,
              ::testing::EndsWith("\ntest.yaml: and more problems (only the first 20 are shown)"));
}

// What YAML would call "unknown escape character" or "bad file", said in words, with where.
TEST(DaemonConfigErrors, NotTextAndTooDeepAreSaidInWords) {
  EXPECT_EQ(ParseError(std::string("listen: \"127.0.0.1:6061\"\nfrequency_hz: 9\0"
                                   "9\n",
                                   42)),
            "test.yaml:2:16: a NUL byte (0x00): a configuration file is text; is this the "
            "configuration file?");
  EXPECT_EQ(ParseError("store:\n  directory: /var/lib/pro\xFF"
                       "fd\n"),
            "test.yaml:2:26: byte 0xFF is not UTF-8: the configuration is read as UTF-8 text; save "
            "it as UTF-8");
  EXPECT_EQ(ParseError("\xE2\x82"),
            "test.yaml:1:1: byte 0xE2 is not UTF-8: the configuration is "
            "read as UTF-8 text; save it as UTF-8");
  const std::string deep =
      ParseError("schedule: " + std::string(20000, '[') + std::string(20000, ']') + "\n");
  EXPECT_THAT(deep, ::testing::HasSubstr("lists or mappings nested"));
  EXPECT_THAT(deep, ::testing::HasSubstr("the configuration nests at most 3 levels"));
  EXPECT_THAT(deep, ::testing::Not(::testing::HasSubstr("bad file")));
  EXPECT_EQ(ParseError("listen: \"caf\xC3\xA9\"\n").find("not UTF-8"), std::string::npos);
}

// The reader stops after the first problems: 100,000 unknown keys cost what their YAML costs.
TEST(DaemonConfigErrors, ManyProblemsStopAfterTheFirstTwenty) {
  std::string many;
  for (int i = 0; i < 100000; ++i) many += "k" + std::to_string(i) + ": 1\n";
  const auto start = std::chrono::steady_clock::now();
  const std::string error = ParseError(many);
  // Not a timing claim (those are in bench/): a bound only work quadratic in the keys (10^10
  // steps) would pass, which a loaded 2-core host or a sanitizer build never comes near.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(60));
  EXPECT_EQ(std::count(error.begin(), error.end(), '\n'), 20);
  EXPECT_THAT(error, ::testing::EndsWith("and more problems (only the first 20 are shown)"));
}

TEST(Utf8, FirstInvalidUtf8) {
  EXPECT_EQ(FirstInvalidUtf8(""), std::string::npos);
  EXPECT_EQ(FirstInvalidUtf8("caf\xC3\xA9"), std::string::npos);
  EXPECT_EQ(FirstInvalidUtf8("ab\x80"), 2u);
  EXPECT_EQ(FirstInvalidUtf8("a\xED\xA0\x80"), 1u);  // a surrogate
  EXPECT_EQ(FirstInvalidUtf8("a\xF0\x9F\x98"), 1u);  // truncated
}

TEST(DaemonConfig, Exporters) {
  const DaemonConfig c = Parse(R"(
export:
  - kind: pyroscope
    url: https://profiles.example.com/base/
    tenant_id: fleet-a
    bearer_token_file: /etc/profd/token
    timeout: 30s
  - kind: pyroscope
    api: ingest
    url: http://127.0.0.1:4040
    basic_auth_user: "123456"
    basic_auth_password_file: /etc/profd/password
  - kind: parca
    url: http://127.0.0.1:7070
  - kind: otlp
    url: http://127.0.0.1:4318
    tenant_id: fleet-b
spool:
  directory: /srv/spool
  max_bytes: 1GiB
  max_age: 2d
)");
  ASSERT_EQ(c.exporters.size(), 4u);
  EXPECT_EQ(c.exporters[2].kind, "parca");
  EXPECT_EQ(c.exporters[3].kind, "otlp");
  EXPECT_EQ(c.exporters[3].url, "http://127.0.0.1:4318");
  EXPECT_EQ(c.exporters[3].tenant_id, "fleet-b");
  EXPECT_EQ(c.exporters[0].url, "https://profiles.example.com/base/");
  EXPECT_EQ(c.exporters[0].tenant_id, "fleet-a");
  EXPECT_EQ(c.exporters[0].bearer_token_file, "/etc/profd/token");
  EXPECT_EQ(c.exporters[0].timeout, 30s);
  EXPECT_EQ(c.exporters[1].basic_auth_user, "123456");
  EXPECT_EQ(c.exporters[1].timeout, 10s);
  EXPECT_EQ(c.exporters[0].api, "connect");  // the default
  EXPECT_EQ(c.exporters[1].api, "ingest");
  EXPECT_EQ(c.spool.directory, "/srv/spool");
  EXPECT_EQ(c.spool.max_bytes, uint64_t{1} << 30);
  EXPECT_EQ(c.spool.max_age, 48h);
  // Written out and read back the same.
  ExpectSameConfig(Parse(DaemonConfigToYaml(c)), c);
}

TEST(DaemonConfig, ServiceNameRules) {
  const DaemonConfig c = Parse(R"(
labels:
  service_name:
    - match_cgroup: "^/kubepods/[^/]+/pod([0-9a-f-]+)/"
      value: pod-$1
    - match_exe: "/opt/([a-z]+)/bin/"
      value: "$1 $$"
    - match_comm: "^postgres"
      value: postgresql
)");
  ASSERT_EQ(c.labels.service_name.size(), 3u);
  EXPECT_EQ(c.labels.service_name[0],
            (ServiceNameRule{"cgroup", "^/kubepods/[^/]+/pod([0-9a-f-]+)/", "pod-$1"}));
  EXPECT_EQ(c.labels.service_name[1].match, "exe");
  EXPECT_EQ(c.labels.service_name[2].value, "postgresql");
  ExpectSameConfig(Parse(DaemonConfigToYaml(c)), c);
}

TEST(DaemonConfigErrors, BadServiceNameRules) {
  auto rule = [](const std::string& text) {
    return ParseError("labels:\n  service_name:\n    - " + text + "\n");
  };
  EXPECT_THAT(rule("{value: x}"), HasSubstr("has 0 match keys"));
  EXPECT_THAT(rule("{match_comm: a, match_exe: b, value: x}"), HasSubstr("has 2 match keys"));
  EXPECT_THAT(rule("{match_comm: \"(\", value: x}"), HasSubstr("the pattern does not compile"));
  EXPECT_THAT(rule("{match_comm: a}"), HasSubstr("the value (the name to give) is empty"));
  EXPECT_THAT(rule("{match_comm: \"(a)\", value: $2}"),
              HasSubstr("$2 names a group the pattern does not have"));
  EXPECT_THAT(rule("{match_comm: a, value: \"$x\"}"), HasSubstr("followed by a group number"));
  EXPECT_THAT(rule("{match_pid: a, value: x}"), HasSubstr("match_pid"));
  EXPECT_THAT(rule("nginx"), HasSubstr("expected {match_comm, match_exe or match_cgroup"));
}

TEST(ServiceNameRules, FirstMatchWinsWithGroups) {
  const ServiceNameRules rules({{"cgroup", "/pod([0-9a-f]+)/", "pod-$1"},
                                {"exe", "^/opt/([a-z]+)/", "$1"},
                                {"comm", "^(x*)$", "$1"},  // an empty name: not a match
                                {"comm", ".", "$$$0"}});
  EXPECT_EQ(rules.NameOf("w", "/usr/bin/w", "/kubepods/burstable/pod12ab/c0ffee"), "pod-12ab");
  EXPECT_EQ(rules.NameOf("w", "/opt/shop/bin/w", "/system.slice/x.service"), "shop");
  EXPECT_EQ(rules.NameOf("", "", "/"), "");
  EXPECT_EQ(rules.NameOf("worker", "", "/"), "$w");
}

TEST(DaemonConfigErrors, BadExporters) {
  EXPECT_THAT(ParseError("export:\n  - kind: otel\n    url: http://x\n"),
              HasSubstr("\"otel\" is not an exporter kind profd has; expected pyroscope, parca or otlp"));
  EXPECT_THAT(ParseError("export:\n  - kind: parca\n    url: http://x\n    tenant_id: t\n"),
              HasSubstr("Parca has no tenants"));
  EXPECT_THAT(ParseError("export:\n  - kind: pyroscope\n    url: ftp://x\n"),
              HasSubstr("is not a server URL"));
  EXPECT_THAT(ParseError("export:\n  - kind: pyroscope\n    url: http://x/?a=1\n"),
              HasSubstr("is not a server URL"));
  EXPECT_THAT(ParseError("export:\n  - kind: pyroscope\n"), HasSubstr("needs kind and url"));
  EXPECT_THAT(ParseError("export:\n  - kind: pyroscope\n    url: http://x\n    api: http\n"),
              HasSubstr("\"http\" is not a Pyroscope API; expected connect"));
  EXPECT_THAT(ParseError("export:\n  - kind: otlp\n    url: http://x\n    api: connect\n"),
              HasSubstr("api is Pyroscope's (connect or ingest); a otlp exporter has none"));
  EXPECT_THAT(ParseError("export:\n  - kind: pyroscope\n    url: http://x\n    urll: y\n"),
              HasSubstr("urll"));
  EXPECT_THAT(ParseError("export:\n  - kind: pyroscope\n    url: http://x\n"
                         "    basic_auth_user: u\n"),
              HasSubstr("basic_auth_user and basic_auth_password_file go together"));
  EXPECT_THAT(ParseError("export:\n  - kind: pyroscope\n    url: http://x\n"
                         "    bearer_token_file: /t\n    basic_auth_user: u\n"
                         "    basic_auth_password_file: /p\n"),
              HasSubstr("not both"));
  EXPECT_THAT(ParseError("export:\n  - kind: pyroscope\n    url: http://x\n"
                         "    bearer_token_file: token\n"),
              HasSubstr("absolute"));
  EXPECT_THAT(ParseError("export:\n  - kind: pyroscope\n    url: http://x\n"
                         "    tenant_id: a b\n"),
              HasSubstr("tenant id"));
  EXPECT_THAT(ParseError("export: pyroscope\n"), HasSubstr("expected a list"));
  EXPECT_THAT(ParseError("export:\n  - pyroscope\n"), HasSubstr("expected an exporter"));
  EXPECT_THAT(ParseError("spool:\n  max_bytes: 1KiB\n"), HasSubstr("out of range"));
}

TEST(DaemonConfigErrors, KernelFramesIsNamesOrNone) {
  EXPECT_EQ(DaemonConfig{}.security.kernel_frames, "names");
  EXPECT_EQ(Parse("security:\n  kernel_frames: none\n").security.kernel_frames, "none");
  EXPECT_EQ(ParseError("security:\n  kernel_frames: full\n"),
            "test.yaml:2:18: security.kernel_frames: \"full\" is not a kernel_frames mode; "
            "expected names (kernel functions by name, no addresses) or none (no kernel frames)");
}

}  // namespace
}  // namespace profd

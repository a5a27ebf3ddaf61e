#include "cli/cli.h"

#include <gtest/gtest.h>

#include <vector>

namespace profd {
namespace {

CliOptions Parse(std::vector<const char*> args, std::string* err) {
  args.insert(args.begin(), "profd");
  std::string out;
  return ParseCommandLine(static_cast<int>(args.size()), args.data(), &out, err);
}

TEST(ParsePidList, ParsesCommaSeparated) {
  std::vector<pid_t> pids;
  std::string error;
  ASSERT_TRUE(ParsePidList("1234,5678", &pids, &error));
  EXPECT_EQ(pids, (std::vector<pid_t>{1234, 5678}));
  EXPECT_FALSE(ParsePidList("12x", &pids, &error));
  EXPECT_NE(error.find("12x"), std::string::npos);
  EXPECT_FALSE(ParsePidList("-5", &pids, &error));
  EXPECT_FALSE(ParsePidList("0", &pids, &error));
  EXPECT_FALSE(ParsePidList("1,,2", &pids, &error));
}

// A repeated pid is one target: it would otherwise be stopped and reported once per repeat.
TEST(ParsePidList, RepeatsAreOneAndTheCountIsBounded) {
  std::vector<pid_t> pids;
  std::string error;
  ASSERT_TRUE(ParsePidList("7,5,7,7,5,9", &pids, &error));
  EXPECT_EQ(pids, (std::vector<pid_t>{7, 5, 9}));
  std::string many;
  for (size_t i = 1; i <= kMaxPidsPerRequest; i++) many += std::to_string(i) + ",";
  ASSERT_TRUE(ParsePidList(many + "1,2", &pids, &error)) << error;
  EXPECT_EQ(pids.size(), kMaxPidsPerRequest);
  EXPECT_FALSE(ParsePidList(many + "100000", &pids, &error));
  EXPECT_NE(error.find("more than 256"), std::string::npos) << error;
  CliOptions options = Parse({"--pid", "42,42,42", "-t", "goroutine"}, &error);
  EXPECT_EQ(options.request.pids, (std::vector<pid_t>{42}));
}

TEST(ProfileType, NamesAndAliases) {
  ProfileType t;
  ASSERT_TRUE(ParseProfileType("offcpu", &t));
  EXPECT_EQ(t, ProfileType::kBlock);
  ASSERT_TRUE(ParseProfileType("threads", &t));
  EXPECT_EQ(t, ProfileType::kGoroutine);
  EXPECT_FALSE(ParseProfileType("cpux", &t));
  EXPECT_EQ(ProfileTypeName(ProfileType::kThreadCreate), "threadcreate");
}

TEST(ParseCommandLine, LaunchFollowsTheCommandsProcessesUnlessItsProbesArePerProcess) {
  std::string err;
  CliOptions o = Parse({"--type", "cpu", "--", "make", "-j2"}, &err);
  ASSERT_EQ(o.mode, CliOptions::Mode::kLaunch) << err;
  EXPECT_EQ(o.command, (std::vector<std::string>{"make", "-j2"}));
  EXPECT_TRUE(o.request.follow_forks);
  o = Parse({"--type", "block", "--no-follow", "--", "make"}, &err);
  ASSERT_EQ(o.mode, CliOptions::Mode::kLaunch) << err;
  EXPECT_FALSE(o.request.follow_forks);
  o = Parse({"--type", "allocs", "--", "./prog"}, &err);  // uprobes on one process
  ASSERT_EQ(o.mode, CliOptions::Mode::kLaunch) << err;
  EXPECT_FALSE(o.request.follow_forks);
  Parse({"--type", "heap", "--follow", "--", "./prog"}, &err);
  EXPECT_NE(err.find("--no-follow"), std::string::npos) << err;
  Parse({"--follow", "--no-follow", "--", "./prog"}, &err);
  EXPECT_NE(err.find("exclude each other"), std::string::npos) << err;
  Parse({"--pid", "12", "--follow"}, &err);
  EXPECT_NE(err.find("go with a command"), std::string::npos) << err;
}

TEST(ParseCommandLine, SeveralTypesGoWithACommand) {
  std::string err;
  CliOptions o = Parse({"--type", "cpu,allocs,cpu,offcpu", "--", "./prog"}, &err);
  ASSERT_EQ(o.mode, CliOptions::Mode::kLaunch) << err;
  EXPECT_EQ(o.launch_types, (std::vector<ProfileType>{ProfileType::kCpu, ProfileType::kAllocs,
                                                      ProfileType::kBlock}));
  EXPECT_EQ(o.request.type, ProfileType::kCpu);
  Parse({"--type", "cpu,heap", "--pid", "12"}, &err);
  EXPECT_NE(err.find("go with a command"), std::string::npos) << err;
  Parse({"--type", "cpu,nope", "--", "./prog"}, &err);
  EXPECT_NE(err.find("'nope'"), std::string::npos) << err;
  Parse({"--type", "cpu,goroutine", "--", "./prog"}, &err);
  EXPECT_NE(err.find("read at one moment"), std::string::npos) << err;
}

TEST(ParseCommandLine, FullCpuRequest) {
  std::string err;
  CliOptions o = Parse({"--pid", "1234,5678", "--type", "cpu", "--seconds", "10", "-o", "out.pb.gz",
                        "--frequency", "199"},
                       &err);
  EXPECT_EQ(o.mode, CliOptions::Mode::kProfile) << err;
  EXPECT_EQ(o.request.pids, (std::vector<pid_t>{1234, 5678}));
  EXPECT_EQ(o.request.type, ProfileType::kCpu);
  EXPECT_DOUBLE_EQ(o.request.seconds, 10);
  EXPECT_EQ(o.request.frequency_hz, 199);
  EXPECT_EQ(o.output, "out.pb.gz");
}

TEST(ParseCommandLine, Defaults) {
  std::string err;
  CliOptions o = Parse({"--all"}, &err);
  EXPECT_EQ(o.mode, CliOptions::Mode::kProfile) << err;
  EXPECT_TRUE(o.request.all_processes);
  EXPECT_EQ(o.request.type, ProfileType::kCpu);
  EXPECT_DOUBLE_EQ(o.request.seconds, 30);
  EXPECT_EQ(o.request.frequency_hz, 99);
  EXPECT_TRUE(o.request.dwarf_unwinding);
  o = Parse({"--all", "--unwind", "fp"}, &err);
  EXPECT_FALSE(o.request.dwarf_unwinding);
}

struct BadCase {
  std::vector<const char*> args;
  const char* message;  // a part the error must contain
};

TEST(ParseCommandLine, BadInputIsAUsageErrorThatSaysWhy) {
  const BadCase cases[] = {
      {{"--pid", "1", "--type", "cpux"}, "unknown profile type 'cpux'"},
      {{"--pid", "1", "--seconds", "0"}, "longer than zero"},
      {{"--pid", "1", "--seconds", "-3"}, "longer than zero"},
      {{"--pid", "1", "--seconds", "1e9"}, "longer than one day"},
      {{"--pid", "1", "--seconds", "ten"}, "not a duration"},
      {{"--pid", "1", "--frequency", "0"}, "outside 1..10000"},
      {{"--pid", "1", "--frequency", "100000"}, "outside 1..10000"},
      {{"--pid", "abc"}, "'abc' is not a process id"},
      {{}, "--pid PID[,PID...] or --all"},
      {{"--pid", "1", "--all"}, "exclude each other"},
      {{"--pid", "1,2", "--type", "cmdline"}, "exactly one --pid"},
      {{"--bogus"}, "bogus"},
      {{"--pid", "1", "--unwind", "lbr"}, "'lbr' is neither dwarf nor fp"},
      {{"--pid", "1", "--type", "heap", "--sample-rate", "0"}, "--sample-rate: '0'"},
      {{"--pid", "1", "--type", "heap", "--sample-rate", "big"}, "not a byte count"},
      {{"--pid", "1", "--type", "allocs", "--max-overhead", "150"}, "not a percent"},
      {{"--all", "--type", "heap"}, "probes the allocator of the processes given with --pid"},
  };
  for (const BadCase& c : cases) {
    std::string err;
    CliOptions o = Parse(c.args, &err);
    EXPECT_EQ(o.mode, CliOptions::Mode::kExit) << c.message;
    EXPECT_EQ(o.exit_code, 2) << c.message;
    EXPECT_NE(err.find(c.message), std::string::npos) << "got: " << err;
  }
}

TEST(ParseCommandLine, Symbolize) {
  std::string err;
  CliOptions o = Parse({"--symbolize", "/bin/true"}, &err);
  EXPECT_EQ(o.mode, CliOptions::Mode::kSymbolize);
  EXPECT_EQ(o.symbolize_object, "/bin/true");
}

TEST(ParseCommandLine, HelpExitsZero) {
  std::string err;
  CliOptions o = Parse({"--help"}, &err);
  EXPECT_EQ(o.mode, CliOptions::Mode::kExit);
  EXPECT_EQ(o.exit_code, 0);
}

}  // namespace
}  // namespace profd

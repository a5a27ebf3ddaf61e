// End-to-end: a profile written by ProfileBuilder must read correctly in `go tool pprof`, the
// reference consumer. Needs `go` on PATH; missing it is a failure, not a skip, because CI
// installs golang-go and a silently skipped check is no check.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "profile_builder.h"

namespace profd {
namespace {

namespace fs = std::filesystem;

std::string FindOnPath(const std::string& program) {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return "";
  std::stringstream dirs(path);
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    const fs::path candidate = fs::path(dir) / program;
    if (access(candidate.c_str(), X_OK) == 0) return candidate.string();
  }
  return "";
}

std::string ShellQuote(const std::string& s) {
  std::string quoted = "'";
  for (char c : s) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

CommandResult RunCommand(const std::string& command) {
  CommandResult result;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) result.output.append(buffer, n);
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::stringstream stream(text);
  std::string line;
  while (std::getline(stream, line)) lines.push_back(line);
  return lines;
}

// The first line of `text` that mentions `needle` as a whole word-ish token, or "".
std::string LineWith(const std::string& text, const std::string& needle) {
  for (const std::string& line : Lines(text)) {
    if (line.find(needle) != std::string::npos) return line;
  }
  return "";
}

class PprofEndToEndTest : public testing::Test {
 protected:
  void SetUp() override {
    go_ = FindOnPath("go");
    ASSERT_FALSE(go_.empty()) << "`go` is not on PATH; install golang-go to run this test";

    char dir_template[] = "/tmp/profd_pprof_e2e_XXXXXX";
    ASSERT_NE(mkdtemp(dir_template), nullptr);
    temp_dir_ = dir_template;
    // pprof and the go command want a writable HOME and caches; keep them out of the real ones.
    for (const char* sub : {"home", "gocache", "gopath"}) fs::create_directories(temp_dir_ / sub);

    profile_path_ = temp_dir_ / "cpu.pb.gz";
    std::ofstream out(profile_path_, std::ios::binary);
    const std::string gzipped = BuildProfile();
    out.write(gzipped.data(), static_cast<std::streamsize>(gzipped.size()));
    ASSERT_TRUE(out.good());
  }

  void TearDown() override {
    if (!temp_dir_.empty()) fs::remove_all(temp_dir_);
  }

  // Two leaf functions sharing a caller, weighted 3:1. The hot leaf is inlined into its caller,
  // so its Location has two Lines: compute_checksum (innermost) then hot_loop.
  std::string BuildProfile() {
    ProfileBuilder builder({{"samples", "count"}, {"cpu", "nanoseconds"}}, "cpu",
                           {"cpu", "nanoseconds"}, 10'000'000);
    builder.SetTime(1'700'000'000'000'000'000, 1'000'000'000);
    builder.AddComment("profd end-to-end test");
    const uint64_t main_binary = builder.AddMapping({.memory_start = 0x400000,
                                                     .memory_limit = 0x500000,
                                                     .filename = "/usr/bin/profd-e2e-app",
                                                     .build_id = "0123456789abcdef",
                                                     .has_functions = true,
                                                     .has_filenames = true,
                                                     .has_line_numbers = true,
                                                     .has_inline_frames = true});
    const uint64_t inlined = builder.AddLocation(
        main_binary, 0x401010,
        {{.function = "compute_checksum",
          .filename = "/src/app/checksum.h",
          .line = 42,
          .start_line = 40},
         {.function = "hot_loop", .filename = "/src/app/app.cc", .line = 17, .start_line = 12}});
    const uint64_t cold = builder.AddLocation(
        main_binary, 0x401100,
        {{.function = "cold_path", .filename = "/src/app/app.cc", .line = 30, .start_line = 28}});
    const uint64_t root = builder.AddLocation(
        main_binary, 0x401200,
        {{.function = "main", .filename = "/src/app/app.cc", .line = 50, .start_line = 45}});

    const std::vector<Label> labels = {Label::Number("pid", 4242),
                                       Label::String("comm", "profd-e2e-app")};
    // Added in pieces so the merge path is exercised too: 3 × 10ms and 1 × 10ms.
    builder.AddSample({inlined, root}, {1, 10'000'000}, labels);
    builder.AddSample({inlined, root}, {2, 20'000'000}, labels);
    builder.AddSample({cold, root}, {1, 10'000'000}, labels);
    EXPECT_EQ(builder.profile().sample_size(), 2);
    EXPECT_EQ(CheckValid(builder.profile()), "");
    return builder.SerializeGzipped();
  }

  CommandResult Pprof(const std::string& flags) {
    const std::string env = "HOME=" + ShellQuote((temp_dir_ / "home").string()) +
                            " GOCACHE=" + ShellQuote((temp_dir_ / "gocache").string()) +
                            " GOPATH=" + ShellQuote((temp_dir_ / "gopath").string()) +
                            " PPROF_TMPDIR=" + ShellQuote(temp_dir_.string()) +
                            " PPROF_BINARY_PATH=" + ShellQuote(temp_dir_.string());
    return RunCommand("env " + env + " " + ShellQuote(go_) + " tool pprof " + flags + " " +
                      ShellQuote(profile_path_.string()));
  }

  std::string go_;
  fs::path temp_dir_;
  fs::path profile_path_;
};

TEST_F(PprofEndToEndTest, TopShowsFlatPercentagesOfBothFunctions) {
  const CommandResult top = Pprof("-top -sample_index=cpu");
  ASSERT_EQ(top.exit_code, 0) << top.output;
  EXPECT_NE(top.output.find("Type: cpu"), std::string::npos) << top.output;

  const std::string hot = LineWith(top.output, "compute_checksum");
  ASSERT_FALSE(hot.empty()) << top.output;
  // flat, flat%, sum%, cum, cum%: 30ms of 40ms.
  EXPECT_NE(hot.find("30ms 75.00% 75.00%"), std::string::npos) << hot;
  const std::string cold = LineWith(top.output, "cold_path");
  ASSERT_FALSE(cold.empty()) << top.output;
  EXPECT_NE(cold.find("10ms 25.00%   100%"), std::string::npos) << cold;
  // Callers have no flat time but all of it cumulatively.
  const std::string main_line = LineWith(top.output, " main");
  ASSERT_FALSE(main_line.empty()) << top.output;
  EXPECT_NE(main_line.find("40ms   100%"), std::string::npos) << main_line;
  const std::string caller = LineWith(top.output, "hot_loop");
  ASSERT_FALSE(caller.empty()) << top.output;
  EXPECT_NE(caller.find("30ms 75.00%"), std::string::npos) << caller;

  // Sample index 0 (counts) keeps the same 3:1 split.
  const CommandResult counts = Pprof("-top -sample_index=samples");
  ASSERT_EQ(counts.exit_code, 0) << counts.output;
  EXPECT_NE(LineWith(counts.output, "compute_checksum").find("75.00%"), std::string::npos)
      << counts.output;
  EXPECT_NE(LineWith(counts.output, "cold_path").find("25.00%"), std::string::npos)
      << counts.output;
}

TEST_F(PprofEndToEndTest, RawShowsHeaderMappingLocationsAndLabels) {
  const CommandResult raw = Pprof("-raw");
  ASSERT_EQ(raw.exit_code, 0) << raw.output;
  const std::string& text = raw.output;
  EXPECT_NE(text.find("PeriodType: cpu nanoseconds"), std::string::npos) << text;
  EXPECT_NE(text.find("Period: 10000000"), std::string::npos) << text;
  EXPECT_NE(text.find("Comment: profd end-to-end test"), std::string::npos) << text;
  EXPECT_NE(text.find("samples/count cpu/nanoseconds[dflt]"), std::string::npos) << text;
  // Merged samples: 3 and 1 counts (pprof renumbers locations, so ids are not checked).
  EXPECT_NE(text.find("   3   30000000: "), std::string::npos) << text;
  EXPECT_NE(text.find("   1   10000000: "), std::string::npos) << text;
  EXPECT_NE(text.find("comm:[profd-e2e-app]"), std::string::npos) << text;
  EXPECT_NE(text.find("pid:[4242]"), std::string::npos) << text;
  EXPECT_NE(text.find("compute_checksum /src/app/checksum.h:42 s=40"), std::string::npos) << text;
  EXPECT_NE(text.find("hot_loop /src/app/app.cc:17 s=12"), std::string::npos) << text;
  EXPECT_NE(text.find("cold_path /src/app/app.cc:30 s=28"), std::string::npos) << text;
  EXPECT_NE(text.find("1: 0x400000/0x500000/0x0 /usr/bin/profd-e2e-app 0123456789abcdef"),
            std::string::npos)
      << text;

  // Location 1 carries both inline frames, innermost first.
  const size_t checksum_at = text.find("compute_checksum /src");
  const size_t hot_loop_at = text.find("hot_loop /src");
  ASSERT_NE(checksum_at, std::string::npos);
  ASSERT_NE(hot_loop_at, std::string::npos);
  EXPECT_LT(checksum_at, hot_loop_at);
  EXPECT_NE(LineWith(text, "compute_checksum /src").find("0x401010 M=1"), std::string::npos)
      << text;
}

TEST_F(PprofEndToEndTest, TracesShowTheInlinedFrameAboveItsCaller) {
  const CommandResult traces = Pprof("-traces -sample_index=cpu");
  ASSERT_EQ(traces.exit_code, 0) << traces.output;
  const std::vector<std::string> lines = Lines(traces.output);
  // The hot trace lists compute_checksum (marked inline), then hot_loop, then main.
  bool found = false;
  for (size_t i = 0; i + 2 < lines.size(); ++i) {
    if (lines[i].find("compute_checksum") == std::string::npos) continue;
    found = true;
    EXPECT_NE(lines[i].find("30ms"), std::string::npos) << traces.output;
    EXPECT_NE(lines[i].find("(inline)"), std::string::npos) << traces.output;
    EXPECT_NE(lines[i + 1].find("hot_loop"), std::string::npos) << traces.output;
    EXPECT_EQ(lines[i + 1].find("(inline)"), std::string::npos) << traces.output;
    EXPECT_NE(lines[i + 2].find("main"), std::string::npos) << traces.output;
  }
  EXPECT_TRUE(found) << traces.output;
}

}  // namespace
}  // namespace profd

#include "profiles/request_query.h"

#include <gtest/gtest.h>

#include <string>

#include "service/http_message.h"

namespace profd {
namespace {

TEST(DaemonRequestTarget, EveryTypeWithTheSettingsTheUserChanged) {
  ProfileRequest request;
  request.pids = {12, 34};
  request.seconds = 2.5;
  EXPECT_EQ(DaemonRequestTarget(request), "/debug/pprof/profile?pid=12,34&seconds=3");
  request.frequency_hz = 199;
  request.dwarf_unwinding = false;
  EXPECT_EQ(DaemonRequestTarget(request),
            "/debug/pprof/profile?pid=12,34&seconds=3&frequency=199&unwind=fp");
  request = ProfileRequest();
  request.all_processes = true;
  request.seconds = 0.2;
  request.type = ProfileType::kBlock;
  EXPECT_EQ(DaemonRequestTarget(request), "/debug/pprof/block?seconds=1");
  request.min_block_seconds = 0.001;
  request.frequency_hz = 199;  // not the block profile's
  EXPECT_EQ(DaemonRequestTarget(request), "/debug/pprof/block?seconds=1&min_block=1ms");
  request = ProfileRequest();
  request.pids = {5};
  request.type = ProfileType::kHeap;
  request.seconds = 10;
  EXPECT_EQ(DaemonRequestTarget(request), "/debug/pprof/heap?pid=5&seconds=10");
  request.type = ProfileType::kAllocs;
  request.sample_rate_bytes = 4096;
  request.max_overhead_percent = 2.5;
  EXPECT_EQ(DaemonRequestTarget(request),
            "/debug/pprof/allocs?pid=5&seconds=10&sample_rate=4096&max_overhead=2.5");
  request.type = ProfileType::kGoroutine;
  EXPECT_EQ(DaemonRequestTarget(request), "/debug/pprof/goroutine?pid=5");
  request.type = ProfileType::kCmdline;
  request.dwarf_unwinding = false;
  EXPECT_EQ(DaemonRequestTarget(request), "/debug/pprof/cmdline?pid=5");
  request.type = ProfileType::kMutex;
  EXPECT_EQ(DaemonRequestTarget(request), "/debug/pprof/mutex?pid=5&seconds=10&unwind=fp");
  request.type = ProfileType::kThreadCreate;
  request.seconds = 3;
  EXPECT_EQ(DaemonRequestTarget(request), "/debug/pprof/threadcreate?pid=5&seconds=3&unwind=fp");
  // A launched command's window runs to its exit: no seconds unless --seconds caps it; the
  // preload sampler's rate is always said, since the daemon must scale by the CLI's.
  request = ProfileRequest();
  request.pids = {6};
  request.launched = true;
  request.follow_forks = true;
  request.seconds = kMaxSeconds;
  EXPECT_EQ(DaemonRequestTarget(request), "/debug/pprof/profile?pid=6&launch=1&follow=1");
  request.type = ProfileType::kHeap;
  request.follow_forks = false;
  request.preload_sampler = true;
  request.heap_peak = true;
  request.seconds = 20;
  EXPECT_EQ(DaemonRequestTarget(request),
            "/debug/pprof/heap?pid=6&seconds=20&launch=1&preload=1&peak=1&sample_rate=524288");
}

// The codec both ways: what the CLI encodes, the endpoints decode to the same settings.
TEST(RequestQuery, EncodedSettingsDecodeToTheSame) {
  std::vector<ProfileRequest> requests;
  ProfileRequest r;
  r.pids = {7, 8};
  r.seconds = 12;
  r.frequency_hz = 499;
  r.dwarf_unwinding = false;
  requests.push_back(r);
  r = ProfileRequest();
  r.type = ProfileType::kBlock;
  r.all_processes = true;
  r.min_block_seconds = 250e-6;
  requests.push_back(r);
  r = ProfileRequest();
  r.type = ProfileType::kAllocs;
  r.pids = {9};
  r.sample_rate_bytes = 3 << 20;
  r.max_overhead_percent = 0.125;
  requests.push_back(r);
  r = ProfileRequest();
  r.type = ProfileType::kHeap;
  r.pids = {10};
  r.launched = true;
  r.preload_sampler = true;
  r.heap_peak = true;
  requests.push_back(r);
  r.type = ProfileType::kBlock;
  r.preload_sampler = r.heap_peak = false;
  r.follow_forks = true;
  requests.push_back(r);
  for (const ProfileRequest& sent : requests) {
    const std::string target = DaemonRequestTarget(sent);
    HttpRequest parsed;
    int status = 0;
    std::string error;
    ASSERT_TRUE(ParseHttpRequestHead("GET " + target + " HTTP/1.1\r\nHost: h\r\n\r\n", &parsed,
                                     &status, &error))
        << target << ": " << error;
    const ProfileTypeInfo* endpoint = FindProfileEndpoint(parsed.path.substr(13));
    ASSERT_NE(endpoint, nullptr) << target;
    Result<ProfileQuery> decoded =
        DecodeProfileQuery(parsed.query, *endpoint, ProfileRequest(), 300);
    ASSERT_TRUE(decoded) << target << ": " << decoded.error();
    const ProfileRequest& got = decoded->request;
    EXPECT_EQ(got.type, sent.type) << target;
    EXPECT_EQ(got.pids, sent.pids) << target;
    EXPECT_EQ(got.all_processes, sent.all_processes) << target;
    EXPECT_DOUBLE_EQ(got.seconds, sent.launched && sent.seconds >= kMaxSeconds
                                      ? 300
                                      : WholeSeconds(sent.seconds))
        << target;
    EXPECT_EQ(got.frequency_hz, sent.frequency_hz) << target;
    EXPECT_EQ(got.dwarf_unwinding, sent.dwarf_unwinding) << target;
    EXPECT_DOUBLE_EQ(got.min_block_seconds, sent.min_block_seconds) << target;
    EXPECT_EQ(got.sample_rate_bytes, sent.sample_rate_bytes) << target;
    EXPECT_DOUBLE_EQ(got.max_overhead_percent, sent.max_overhead_percent) << target;
    EXPECT_EQ(parsed.query.count("pid") == 0, sent.all_processes) << target;
    EXPECT_EQ(got.launched, sent.launched) << target;
    EXPECT_EQ(got.follow_forks, sent.follow_forks) << target;
    EXPECT_EQ(got.preload_sampler, sent.preload_sampler) << target;
    EXPECT_EQ(got.heap_peak, sent.heap_peak) << target;
  }
  // What the decoder refuses, it says by name; net/http/pprof's rules for pid and seconds.
  auto refusal = [](const std::map<std::string, std::string>& query, ProfileType type) {
    Result<ProfileQuery> decoded = DecodeProfileQuery(query, InfoOf(type), ProfileRequest(), 60);
    return decoded ? std::string("accepted") : decoded.error();
  };
  EXPECT_NE(refusal({{"pid", "x"}}, ProfileType::kCpu).find("\"pid\""), std::string::npos);
  EXPECT_NE(refusal({}, ProfileType::kHeap).find("needs ?pid=PID"), std::string::npos);
  EXPECT_NE(refusal({{"pid", "1"}, {"seconds", "0"}}, ProfileType::kBlock).find("\"seconds\""),
            std::string::npos);
  EXPECT_NE(refusal({{"seconds", "61"}}, ProfileType::kCpu).find("limits.max_seconds"),
            std::string::npos);
  EXPECT_NE(refusal({{"pid", "1,2"}, {"launch", "1"}}, ProfileType::kCpu).find("one pid"),
            std::string::npos);
  Result<ProfileQuery> bad_seconds =  // /profile takes its default of 30, as Go's
      DecodeProfileQuery({{"seconds", "x"}, {"debug", "1"}}, InfoOf(ProfileType::kCpu),
                         ProfileRequest(), 60);
  ASSERT_TRUE(bad_seconds) << bad_seconds.error();
  EXPECT_EQ(bad_seconds->request.seconds, 30);
  EXPECT_TRUE(bad_seconds->request.all_processes);
  EXPECT_TRUE(bad_seconds->debug_text);
  Result<ProfileQuery> cumulative =
      DecodeProfileQuery({{"pid", "5"}}, InfoOf(ProfileType::kAllocs), ProfileRequest(), 60);
  ASSERT_TRUE(cumulative) << cumulative.error();
  EXPECT_TRUE(cumulative->cumulative);
  ProfileRequest got;
  std::string error;
  EXPECT_FALSE(DecodeTuningParameters({{"frequency", "0"}}, &got, &error));
  EXPECT_NE(error.find("\"frequency\""), std::string::npos) << error;
  EXPECT_FALSE(DecodeTuningParameters({{"unwind", "lbr"}}, &got, &error));
  EXPECT_FALSE(DecodeTuningParameters({{"min_block", "2m"}}, &got, &error));
  EXPECT_FALSE(DecodeTuningParameters({{"sample_rate", "0"}}, &got, &error));
  EXPECT_FALSE(DecodeTuningParameters({{"max_overhead", "nan"}}, &got, &error));
  EXPECT_FALSE(DecodeTuningParameters({{"launch", "yes"}}, &got, &error));
  EXPECT_NE(error.find("\"launch\""), std::string::npos) << error;
  // Following a process tree, or the preload sampler, only for a command the CLI launched.
  EXPECT_FALSE(DecodeTuningParameters({{"follow", "1"}}, &got, &error));
  EXPECT_NE(error.find("launch=1"), std::string::npos) << error;
}

}  // namespace
}  // namespace profd

#include "service/push_exporter.h"

#include <gtest/gtest.h>

#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "pyroscope_push.pb.h"

namespace profd {
namespace {

TEST(PushExporter, ProfileNamesAsPyroscopeNamesThem) {
  EXPECT_EQ(PyroscopeProfileName("cpu"), "process_cpu");
  EXPECT_EQ(PyroscopeProfileName("allocs"), "memory");
  EXPECT_EQ(PyroscopeProfileName("heap"), "memory");
  EXPECT_EQ(PyroscopeProfileName("block"), "block");
  EXPECT_EQ(PyroscopeProfileName("mutex"), "mutex");
  EXPECT_EQ(PyroscopeProfileName("goroutine"), "goroutine");
}

TEST(PushExporter, PushBodyHoldsTheProfileItsLabelsAndId) {
  ExportedProfile p;
  p.type = "cpu";
  p.pid = 42;
  p.comm = "a,b}c";  // Connect's labels are pairs: no delimiter to escape
  p.exe = "";        // unknown: left out
  p.service_name = "api.service";
  p.gzipped = std::string("\x1f\x8b\x08\x00", 4);
  pyroscope::PushRequest request;
  ASSERT_TRUE(request.ParseFromString(PyroscopePushBody(p, "host-1", "the-id")));
  ASSERT_EQ(request.series_size(), 1);
  const pyroscope::RawProfileSeries& series = request.series(0);
  std::vector<std::pair<std::string, std::string>> labels;
  for (const auto& label : series.labels()) labels.push_back({label.name(), label.value()});
  EXPECT_EQ(labels, (std::vector<std::pair<std::string, std::string>>{
                        {"__delta__", "false"},
                        {"__name__", "process_cpu"},
                        {"comm", "a,b}c"},
                        {"hostname", "host-1"},
                        {"pid", "42"},
                        {"service_name", "api.service"}}));
  ASSERT_EQ(series.samples_size(), 1);
  EXPECT_EQ(series.samples(0).raw_profile(), p.gzipped);
  EXPECT_EQ(series.samples(0).id(), "the-id");
}

TEST(PushExporter, ParcaBodyIsWriteRawJson) {
  ExportedProfile p;
  p.type = "allocs";
  p.pid = 7;
  p.comm = "say \"hi\"\n";  // escaped as JSON
  p.service_name = "api.service";
  p.gzipped = std::string("\x1f\x8b\x08", 3);
  EXPECT_EQ(ParcaWriteRawBody(p, "h"),
            "{\"series\":[{\"labels\":{\"labels\":[{\"name\":\"__name__\",\"value\":\"memory\"},"
            "{\"name\":\"comm\",\"value\":\"say \\\"hi\\\"\\n\"},{\"name\":\"hostname\",\"value\":\"h\"},"
            "{\"name\":\"pid\",\"value\":\"7\"},{\"name\":\"service_name\",\"value\":\"api.service\"}]},"
            "\"samples\":[{\"raw_profile\":\"H4sI\"}]}],\"normalized\":false}");
}

// A new empty directory under the test's temporary directory.
std::filesystem::path EmptyDirectory(const std::string& name) {
  const std::filesystem::path dir = std::filesystem::path(testing::TempDir()) / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// A spool file written `age` before `now`, of `bytes` bytes (`suffix`: its kind).
void SpoolFile(const std::string& dir, std::chrono::system_clock::time_point now,
               std::chrono::nanoseconds age, size_t bytes, const char* suffix) {
  const auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(
      (now - age).time_since_epoch());
  char name[64];
  std::snprintf(name, sizeof(name), "%020" PRIu64 "-000000%s",
                static_cast<uint64_t>(nanos.count()), suffix);
  std::ofstream(dir + "/" + name) << std::string(bytes, 'x');
}

TEST(PushExporter, SpoolRetentionDropsTheOldFirst) {
  namespace fs = std::filesystem;
  const fs::path dir = EmptyDirectory("profd_spool_retention");
  const auto now = std::chrono::system_clock::now();
  using std::chrono::hours;
  using std::chrono::minutes;
  SpoolFile(dir, now, hours(48), 10, ".push");                 // past max_age
  SpoolFile(dir, now, minutes(30), 600 << 10, ".push");        // the oldest of three
  SpoolFile(dir, now, minutes(20), 600 << 10, ".refused");     // refused ones count too
  SpoolFile(dir, now, minutes(10), 600 << 10, ".push");        // the newest: kept
  std::ofstream(dir / "not-ours.txt") << "left alone";
  DaemonConfig::Spool spool;
  spool.directory = dir.string();
  spool.max_bytes = 1 << 20;
  spool.max_age = hours(24);
  const SpoolRetention r = EnforceSpoolRetention(spool, now);
  EXPECT_EQ(r.dropped_for_age, 1u);
  EXPECT_EQ(r.dropped_for_bytes, 2u);
  EXPECT_EQ(r.files_left, 1u);
  EXPECT_EQ(r.bytes_left, 600u << 10);
  std::vector<std::string> left;
  for (const auto& entry : fs::directory_iterator(dir)) left.push_back(entry.path().filename());
  std::sort(left.begin(), left.end());
  ASSERT_EQ(left.size(), 2u);
  EXPECT_TRUE(left[0].ends_with(".push")) << left[0];
  EXPECT_EQ(left[1], "not-ours.txt");
}

TEST(PushExporter, SpoolRetentionRemovesOldTemporaries) {
  // A write cut short (profd killed mid-write) leaves ".NAME.tmp": gone once a minute old.
  namespace fs = std::filesystem;
  const fs::path dir = EmptyDirectory("profd_spool_temporaries");
  const auto now = std::chrono::system_clock::now();
  using std::chrono::seconds;
  SpoolFile(dir, now, seconds(120), 10, ".tmp");
  SpoolFile(dir, now, seconds(5), 10, ".tmp");  // may be being written now
  for (const auto& entry : fs::directory_iterator(dir))
    fs::rename(entry.path(), dir / ("." + entry.path().filename().string()));
  std::ofstream(dir / ".hidden.tmp") << "not profd's name";
  DaemonConfig::Spool spool;
  spool.directory = dir.string();
  spool.max_bytes = 1 << 20;
  spool.max_age = std::chrono::hours(24);
  const SpoolRetention r = EnforceSpoolRetention(spool, now);
  EXPECT_EQ(r.temporaries_removed, 1u);
  EXPECT_EQ(r.files_left, 0u);
  std::vector<std::string> left;
  for (const auto& entry : fs::directory_iterator(dir)) left.push_back(entry.path().filename());
  std::sort(left.begin(), left.end());
  ASSERT_EQ(left.size(), 2u);
  EXPECT_TRUE(left[0].ends_with("-000000.tmp") && left[0][0] == '.') << left[0];  // the new one
  EXPECT_EQ(left[1], ".hidden.tmp");
}

TEST(PushExporter, RefusesASpoolOthersMayWriteTo) {
  // Its files are pushed with the backends' credentials: nobody else may plant one.
  namespace fs = std::filesystem;
  const fs::path dir = EmptyDirectory("profd_open_spool");
  fs::permissions(dir, fs::perms::all);  // 0777
  DaemonConfig config;
  config.exporters.push_back({"pyroscope", "http://127.0.0.1:9", "", "", "", "", {}});
  config.spool.directory = dir.string();
  PushExporter exporter([&] { return config; });
  ExportedProfile p;
  p.type = "cpu";
  p.gzipped = "x";
  exporter.Export(p);
  EXPECT_TRUE(fs::is_empty(dir));
  EXPECT_NE(exporter.MetricsText().find("profd_export_spool_write_errors_total 1\n"),
            std::string::npos);
  fs::permissions(dir, fs::perms::owner_all);  // 0700: used
  exporter.Export(p);
  EXPECT_FALSE(fs::is_empty(dir));
  EXPECT_NE(exporter.MetricsText().find("profd_export_spooled_total 1\n"), std::string::npos);
}

}  // namespace
}  // namespace profd

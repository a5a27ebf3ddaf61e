#include "service/profile_store.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "base/atomic_file.h"

namespace profd {
namespace {

namespace fs = std::filesystem;
using std::chrono::hours;
using std::chrono::seconds;
using std::chrono::system_clock;

// 2024-05-01 12:34:56 UTC.
const system_clock::time_point kTime = system_clock::from_time_t(1714566896);

class ProfileStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = ::testing::TempDir() + "profd-store-XXXXXX";
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    root_ = templ;
  }
  void TearDown() override {
    ::chmod(root_.c_str(), 0700);
    std::error_code ec;
    fs::permissions(root_ + "/store", fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(root_, ec);
  }

  static std::set<std::string> Names(const std::string& dir) {
    std::set<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir)) {
      names.insert(entry.path().filename().string());
    }
    return names;
  }

  static void WriteFile(const std::string& path, const std::string& data) {
    std::ofstream(path, std::ios::binary) << data;
  }

  std::string root_;
};

// Until Commit the data has no name (O_TMPFILE where the filesystem has it): a writer killed
// midway leaves nothing; Commit creates or replaces the destination whole.
TEST_F(ProfileStoreTest, AtomicFileHasNoNameUntilCommitted) {
  const std::string path = root_ + "/out.pb.gz";
  {
    AtomicFile file;
    std::string error;
    ASSERT_TRUE(file.Open(path, &error)) << error;
    EXPECT_TRUE(file.unnamed());  // the test's temporary directory supports O_TMPFILE
    EXPECT_TRUE(Names(root_).empty());
    ASSERT_TRUE(file.Commit("first", &error)) << error;
  }
  EXPECT_EQ(Names(root_), std::set<std::string>{"out.pb.gz"});
  {
    AtomicFile file;
    std::string error;
    ASSERT_TRUE(file.Open(path, &error)) << error;
    EXPECT_EQ(Names(root_), std::set<std::string>{"out.pb.gz"});
    ASSERT_TRUE(file.Commit("second", &error)) << error;
  }
  EXPECT_EQ(Names(root_), std::set<std::string>{"out.pb.gz"});
  std::ifstream in(path);
  std::string text;
  std::getline(in, text);
  EXPECT_EQ(text, "second");
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  {
    AtomicFile abandoned;  // opened, never committed
    std::string error;
    ASSERT_TRUE(abandoned.Open(root_ + "/never.pb.gz", &error)) << error;
  }
  EXPECT_EQ(Names(root_), std::set<std::string>{"out.pb.gz"});
}

TEST(StoredProfileName, FormatsAndParsesBack) {
  StoredProfileInfo info{kTime + std::chrono::milliseconds(700), "cpu", 1234, "nginx"};
  EXPECT_EQ(StoredProfileName(info), "20240501T123456Z-cpu-1234-nginx.pb.gz");
  StoredProfileInfo parsed;
  ASSERT_TRUE(ParseStoredProfileName("20240501T123456Z-cpu-1234-nginx.pb.gz", &parsed));
  EXPECT_EQ(parsed.time, kTime);
  EXPECT_EQ(parsed.type, "cpu");
  EXPECT_EQ(parsed.pid, 1234);
  EXPECT_EQ(parsed.comm, "nginx");

  // A command may hold '-' and '.': it is the rest of the name.
  ASSERT_TRUE(ParseStoredProfileName("20240501T123456Z-threadcreate-0-my-app.v2.pb.gz", &parsed));
  EXPECT_EQ(parsed.type, "threadcreate");
  EXPECT_EQ(parsed.pid, 0);
  EXPECT_EQ(parsed.comm, "my-app.v2");
}

TEST(StoredProfileName, RejectsOtherNames) {
  StoredProfileInfo parsed;
  for (const char* name : {
           "",
           "notes.txt",
           "20240501T123456Z-cpu-1234-nginx.pb",                // no .gz
           "20240501T123456Z-cpu-1234-nginx.pb.gz.tmp.Ab3dE9",  // a temporary
           "20240501T123456Z-cpu-1234-.pb.gz",                  // no command
           "20240501T123456Z-cpu--nginx.pb.gz",                 // no pid
           "20240501T123456Z-cpu-01234-nginx.pb.gz",            // leading zero
           "20240501T123456Z-cpu-99999999999-nginx.pb.gz",      // pid too large
           "20240501T123456Z--1234-nginx.pb.gz",                // no type
           "20240501T123456Z-CPU-1234-nginx.pb.gz",             // not a type name
           "20240501T123456Z-cpu-1234-ng inx.pb.gz",            // unsanitized command
           "20240230T123456Z-cpu-1234-nginx.pb.gz",             // February 30th
           "20240501T253456Z-cpu-1234-nginx.pb.gz",             // hour 25
           "20240501 123456Z-cpu-1234-nginx.pb.gz",
           "2024050lT123456Z-cpu-1234-nginx.pb.gz",
           "20240501T123456Zxcpu-1234-nginx.pb.gz",
       }) {
    EXPECT_FALSE(ParseStoredProfileName(name, &parsed)) << name;
  }
}

TEST(SanitizeComm, KeepsOnlyPortableCharacters) {
  EXPECT_EQ(SanitizeComm("nginx"), "nginx");
  EXPECT_EQ(SanitizeComm("kworker/0:1H"), "kworker_0_1H");
  EXPECT_EQ(SanitizeComm("my app.v2-x_y"), "my_app.v2-x_y");
  EXPECT_EQ(SanitizeComm("../../etc"), ".._.._etc");
  EXPECT_EQ(SanitizeComm("caf\xc3\xa9"), "caf__");
  EXPECT_EQ(SanitizeComm(""), "unknown");
}

TEST_F(ProfileStoreTest, WritesListsAndParsesBack) {
  const std::string dir = root_ + "/a/b/store";
  ProfileStore store(dir, hours(24), 0);
  std::string error;
  ASSERT_TRUE(store.Init(&error)) << error;
  struct stat st;
  ASSERT_EQ(::stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0750u);

  std::string path;
  ASSERT_TRUE(store.Write({kTime + seconds(60), "heap", 42, "worker/3"}, "second", &path, &error))
      << error;
  EXPECT_EQ(path, dir + "/20240501T123556Z-heap-42-worker_3.pb.gz");
  ASSERT_TRUE(store.Write({kTime, "cpu", 1234, "nginx"}, "first!", &path, &error)) << error;
  EXPECT_EQ(path, dir + "/20240501T123456Z-cpu-1234-nginx.pb.gz");
  WriteFile(dir + "/README", "not a profile");

  const std::vector<StoredProfile> profiles = store.List(&error);
  ASSERT_EQ(profiles.size(), 2u);
  EXPECT_EQ(profiles[0].info.time, kTime);
  EXPECT_EQ(profiles[0].info.type, "cpu");
  EXPECT_EQ(profiles[0].info.pid, 1234);
  EXPECT_EQ(profiles[0].info.comm, "nginx");
  EXPECT_EQ(profiles[0].size, 6u);
  EXPECT_EQ(profiles[0].path, dir + "/20240501T123456Z-cpu-1234-nginx.pb.gz");
  EXPECT_EQ(profiles[1].info.type, "heap");
  EXPECT_EQ(profiles[1].info.comm, "worker_3");
  EXPECT_EQ(profiles[1].size, 6u);

  const std::string table = FormatStoreList(profiles);
  EXPECT_EQ(table,
            "TIME (UTC)            TYPE   PID  COMMAND   SIZE  PATH\n"
            "2024-05-01 12:34:56Z  cpu   1234  nginx      6 B  " +
                dir + "/20240501T123456Z-cpu-1234-nginx.pb.gz\n" +
                "2024-05-01 12:35:56Z  heap    42  worker_3   6 B  " + dir +
                "/20240501T123556Z-heap-42-worker_3.pb.gz\n" + "2 profiles, 12 B\n")
      << table;
  EXPECT_EQ(FormatStoreList({}), "no stored profiles\n");
}

TEST_F(ProfileStoreTest, RefusesBadNamesAndDuplicates) {
  ProfileStore store(root_, hours(1), 0);
  std::string error;
  ASSERT_TRUE(store.Init(&error)) << error;
  EXPECT_FALSE(store.Write({kTime, "cpu/../x", 1, "a"}, "x", nullptr, &error));
  EXPECT_NE(error.find("invalid profile type"), std::string::npos) << error;
  EXPECT_FALSE(store.Write({kTime, "cpu", -1, "a"}, "x", nullptr, &error));
  ASSERT_TRUE(store.Write({kTime, "cpu", 1, "a"}, "x", nullptr, &error)) << error;
  EXPECT_FALSE(store.Write({kTime, "cpu", 1, "a"}, "y", nullptr, &error));
  EXPECT_NE(error.find("already exists"), std::string::npos) << error;
}

TEST_F(ProfileStoreTest, RetentionByAgeThenSize) {
  ProfileStore store(root_, hours(2) + std::chrono::minutes(30), 250);
  std::string error;
  ASSERT_TRUE(store.Init(&error)) << error;
  const system_clock::time_point now = kTime + hours(10);
  for (int age_hours : {5, 4, 3, 2, 1, 0}) {
    ASSERT_TRUE(store.Write({now - hours(age_hours), "cpu", 100 + age_hours, "app"},
                            std::string(100, 'x'), nullptr, &error))
        << error;
  }
  const RetentionResult result = store.EnforceRetention(now);
  EXPECT_EQ(result.removed_for_age, 3);   // 5, 4 and 3 hours old
  EXPECT_EQ(result.removed_for_size, 1);  // 2 hours old: 300 bytes left was over 250
  EXPECT_EQ(result.bytes_removed, 400u);
  EXPECT_EQ(result.kept, 2);
  EXPECT_EQ(result.bytes_kept, 200u);
  EXPECT_TRUE(result.errors.empty());
  const std::vector<StoredProfile> left = store.List();
  ASSERT_EQ(left.size(), 2u);
  EXPECT_EQ(left[0].info.pid, 101);
  EXPECT_EQ(left[1].info.pid, 100);

  // Within both limits: nothing more goes.
  const RetentionResult again = store.EnforceRetention(now);
  EXPECT_EQ(again.removed_for_age + again.removed_for_size, 0);
  EXPECT_EQ(again.kept, 2);
}

TEST_F(ProfileStoreTest, NoLimitsKeepEverything) {
  ProfileStore store(root_, seconds(0), 0);
  std::string error;
  ASSERT_TRUE(store.Init(&error)) << error;
  ASSERT_TRUE(store.Write({kTime - hours(10000), "cpu", 1, "a"}, "abc", nullptr, &error));
  const RetentionResult result = store.EnforceRetention(kTime);
  EXPECT_EQ(result.kept, 1);
  EXPECT_EQ(result.removed_for_age + result.removed_for_size, 0);
}

TEST_F(ProfileStoreTest, InitRemovesTemporariesLeftByACrash) {
  WriteFile(root_ + "/20240501T123456Z-cpu-1234-nginx.pb.gz.tmp.Ab3dE9", "partial");
  WriteFile(root_ + "/20240501T123456Z-cpu-1234-nginx.pb.gz", "whole");
  WriteFile(root_ + "/notes.txt.tmp.Ab3dE9", "someone else's");
  WriteFile(root_ + "/20240501T123456Z-cpu-1234-nginx.pb.gz.tmp.toolong", "not AtomicFile's");
  ProfileStore store(root_, hours(1), 0);
  std::string error;
  ASSERT_TRUE(store.Init(&error)) << error;
  EXPECT_EQ(Names(root_), (std::set<std::string>{
                              "20240501T123456Z-cpu-1234-nginx.pb.gz",
                              "notes.txt.tmp.Ab3dE9",
                              "20240501T123456Z-cpu-1234-nginx.pb.gz.tmp.toolong",
                          }));
}

TEST_F(ProfileStoreTest, UnusableDirectoryIsAClearError) {
  WriteFile(root_ + "/file", "x");
  std::string error;
  ProfileStore under_file(root_ + "/file/store", hours(1), 0);
  EXPECT_FALSE(under_file.Init(&error));
  EXPECT_NE(error.find(root_ + "/file/store"), std::string::npos) << error;
  EXPECT_NE(error.find("Not a directory"), std::string::npos) << error;

  // The directory vanishes under a running daemon: the write fails and says where.
  const std::string dir = root_ + "/store";
  ProfileStore store(dir, hours(1), 0);
  ASSERT_TRUE(store.Init(&error)) << error;
  fs::remove_all(dir);
  WriteFile(dir, "now a file");
  error.clear();
  EXPECT_FALSE(store.Write({kTime, "cpu", 1, "a"}, "x", nullptr, &error));
  EXPECT_NE(error.find(dir), std::string::npos) << error;
  fs::remove(dir);

  if (::geteuid() != 0) {  // root writes through permission bits
    ASSERT_TRUE(store.Init(&error)) << error;
    ASSERT_EQ(::chmod(dir.c_str(), 0500), 0);
    error.clear();
    EXPECT_FALSE(store.Init(&error));
    EXPECT_NE(error.find("Permission denied"), std::string::npos) << error;
    error.clear();
    EXPECT_FALSE(store.Write({kTime, "cpu", 1, "a"}, "x", nullptr, &error));
    EXPECT_NE(error.find("Permission denied"), std::string::npos) << error;
  }
}

// A write that fails midway (here a file size limit: EFBIG, as ENOSPC on a full disk) leaves
// neither a partial profile nor a temporary behind.
TEST_F(ProfileStoreTest, FailedWriteLeavesNothing) {
  ProfileStore store(root_, hours(1), 0);
  std::string error;
  ASSERT_TRUE(store.Init(&error)) << error;
  rlimit old_limit;
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  auto old_handler = ::signal(SIGXFSZ, SIG_IGN);
  rlimit small = old_limit;
  small.rlim_cur = 4096;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  const bool written =
      store.Write({kTime, "cpu", 1, "a"}, std::string(100000, 'x'), nullptr, &error);
  ::setrlimit(RLIMIT_FSIZE, &old_limit);
  ::signal(SIGXFSZ, old_handler);
  EXPECT_FALSE(written);
  EXPECT_NE(error.find("File too large"), std::string::npos) << error;
  EXPECT_TRUE(Names(root_).empty());
  EXPECT_TRUE(store.List().empty());
}

}  // namespace
}  // namespace profd

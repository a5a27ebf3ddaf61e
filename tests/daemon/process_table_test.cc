#include "process/process_table.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "collect/bpf_support.h"

namespace profd {
namespace {

TEST(ParseProcMaps, ParsesFileAnonymousDeletedAndSpecial) {
  const std::string text =
      "55d0c0a00000-55d0c0a22000 r--p 00000000 fe:01 1311  /usr/bin/cat\n"
      "55d0c0a22000-55d0c0a80000 r-xp 00022000 fe:01 1311  /usr/bin/cat\n"
      "7f0000000000-7f0000021000 rw-p 00000000 00:00 0 \n"
      "7f1000000000-7f1000001000 r-xp 00001000 08:02 77 /tmp/my lib.so (deleted)\n"
      "7ffd5a5f0000-7ffd5a5f2000 r-xp 00000000 00:00 0                          [vdso]\n"
      "garbage\n";
  std::vector<MapsEntry> e = ParseProcMaps(text);
  ASSERT_EQ(e.size(), 5u);
  EXPECT_EQ(e[1].start, 0x55d0c0a22000u);
  EXPECT_EQ(e[1].end, 0x55d0c0a80000u);
  EXPECT_EQ(e[1].offset, 0x22000u);
  EXPECT_TRUE(e[1].executable());
  EXPECT_FALSE(e[0].executable());
  EXPECT_EQ(e[1].dev_major, 0xfeu);
  EXPECT_EQ(e[1].inode, 1311u);
  EXPECT_EQ(e[1].path, "/usr/bin/cat");
  EXPECT_EQ(e[2].path, "");
  EXPECT_EQ(e[3].path, "/tmp/my lib.so");
  EXPECT_TRUE(e[3].deleted);
  EXPECT_EQ(e[4].path, "[vdso]");
}

TEST(ProcessTable, CapturesOwnProcessAndFindsMappings) {
  ProcessTable table;
  ASSERT_TRUE(table.Observe(getpid()));
  const ProcessInfo* self = table.Find(getpid());
  ASSERT_NE(self, nullptr);
  EXPECT_FALSE(self->kernel_thread);
  EXPECT_FALSE(self->comm.empty());
  const auto here = reinterpret_cast<uint64_t>(&ParseProcMaps);
  const Mapping* m = self->FindMapping(here);
  ASSERT_NE(m, nullptr);
  ASSERT_NE(m->file, nullptr);
  EXPECT_NE(m->path.find("daemon_unit_tests"), std::string::npos);
  EXPECT_EQ(self->FindMapping(0), nullptr);
  ASSERT_NE(self->MainMapping(), nullptr);
  EXPECT_EQ(self->MainMapping()->path, self->exe);
}

TEST(ProcessTable, UnknownPidIsNotObserved) {
  ProcessTable table;
  EXPECT_FALSE(table.Observe(4194304));
  EXPECT_EQ(table.Find(4194304), nullptr);
}

TEST(ParseCpuList, Ranges) {
  EXPECT_EQ(ParseCpuList("0-3,5"), (std::vector<int>{0, 1, 2, 3, 5}));
  EXPECT_EQ(ParseCpuList("0"), (std::vector<int>{0}));
  EXPECT_TRUE(ParseCpuList("").empty());
}

TEST(ReadProcessCredentials, OwnUidsGidsAndCapabilities) {
  ProcessCredentials c;
  ASSERT_TRUE(ReadProcessCredentials(getpid(), &c));
  EXPECT_EQ(c.uids[0], getuid());
  EXPECT_EQ(c.uids[1], geteuid());
  EXPECT_EQ(c.gids[0], getgid());
  // Root holds capabilities, so a root process is never wholly an ordinary user's.
  if (geteuid() == 0) {
    EXPECT_NE(c.permitted_capabilities, 0u);
  }
  EXPECT_EQ(c.WhollyUsers(getuid()), c.permitted_capabilities == 0 && c.gids[1] == c.gids[0]);
  ProcessCredentials plain;
  plain.uids[0] = plain.uids[1] = plain.uids[2] = plain.uids[3] = 65534;
  plain.gids[0] = plain.gids[1] = plain.gids[2] = plain.gids[3] = 65534;
  EXPECT_TRUE(plain.WhollyUsers(65534));
  EXPECT_FALSE(plain.WhollyUsers(1000));
  ProcessCredentials setgid = plain;
  setgid.gids[1] = 0;  // a set-group-ID exec: the effective gid is the file's
  EXPECT_FALSE(setgid.WhollyUsers(65534));
  ProcessCredentials capable = plain;
  capable.permitted_capabilities = 1u << 13;  // CAP_NET_RAW from file capabilities
  EXPECT_FALSE(capable.WhollyUsers(65534));
  EXPECT_FALSE(ReadProcessCredentials(4000000, &c));
}

}  // namespace
}  // namespace profd

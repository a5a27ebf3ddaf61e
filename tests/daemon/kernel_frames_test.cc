#include "profiles/kernel_frames.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "profile_builder.h"

namespace profd {
namespace {

namespace pb = perftools::profiles;

// A user frame under two symbolized kernel frames and one the kernel could not name, with the
// kernel's address in a comment and a build id that looks like hex.
pb::Profile KernelProfile() {
  ProfileBuilder b({{"samples", "count"}}, "", {"samples", "count"}, 1);
  MappingInfo user;
  user.memory_start = 0x400000;
  user.memory_limit = 0x500000;
  user.filename = "/bin/app";
  user.build_id = "ffffffff81000000ffffffff81000000aabbccdd";
  MappingInfo kernel;
  kernel.memory_start = kKernelSpaceStart;
  kernel.memory_limit = ~0ULL;
  kernel.filename = "[kernel.kallsyms]";
  const uint64_t u = b.AddMapping(user);
  const uint64_t k = b.AddMapping(kernel);
  const uint64_t read = b.AddLocation(k, 0xffffffff81234567, {{"vfs_read", "vfs_read", "", 0, 0}});
  const uint64_t sys = b.AddLocation(k, 0xffffffff81000010, {{"do_syscall_64", "", "", 0, 0}});
  const uint64_t unknown =
      b.AddLocation(k, 0xffffffffc0001234,
                    {{"[kernel] 0xffffffffc0001234", "[kernel] 0xffffffffc0001234", "", 0, 0}});
  const uint64_t main = b.AddLocation(u, 0x401000, {{"main", "main", "app.c", 3, 0}});
  b.AddSample({read, sys, main}, {5}, {});
  b.AddSample({unknown, sys, main}, {2}, {});
  b.AddSample({unknown}, {1}, {});
  b.AddComment("kernel at 0xffffffff81000000, user at 0x401000");
  return b.profile();
}

bool HasKernelValue(const pb::Profile& p) {
  for (const pb::Location& l : p.location())
    if (l.address() >= kKernelSpaceStart) return true;
  for (const pb::Mapping& m : p.mapping())
    if (m.memory_start() >= kKernelSpaceStart || m.memory_limit() >= kKernelSpaceStart) return true;
  for (const std::string& s : p.string_table())
    if (s.find("0xffff") != std::string::npos) return true;
  return false;
}

TEST(HideKernelAddresses, NamesKeepDistinctStandInsAndNoKernelValue) {
  pb::Profile p = KernelProfile();
  HideKernelAddresses(&p, KernelFrames::kNames);
  EXPECT_EQ(CheckValid(p), "");
  EXPECT_FALSE(HasKernelValue(p));
  std::set<uint64_t> stand_ins;
  for (const pb::Location& l : p.location())
    if (l.address() >= kKernelStandInStart) stand_ins.insert(l.address());
  EXPECT_EQ(stand_ins.size(), 3u);  // each kernel location its own
  EXPECT_EQ(p.location(3).address(), 0x401000u);
  std::string strings;
  for (const std::string& s : p.string_table()) strings += s + "\n";
  EXPECT_NE(strings.find("vfs_read\n"), std::string::npos);
  EXPECT_NE(strings.find("[kernel] (hidden)\n"), std::string::npos);
  EXPECT_NE(strings.find("kernel at (hidden), user at 0x401000"), std::string::npos);
  EXPECT_NE(strings.find("ffffffff81000000ffffffff81000000aabbccdd"), std::string::npos);
}

TEST(HideKernelAddresses, NoneTakesKernelFramesOut) {
  pb::Profile p = KernelProfile();
  HideKernelAddresses(&p, KernelFrames::kNone);
  EXPECT_EQ(CheckValid(p), "");
  EXPECT_FALSE(HasKernelValue(p));
  EXPECT_EQ(p.mapping_size(), 1);
  for (const std::string& s : p.string_table()) {
    EXPECT_EQ(s.find("vfs_read"), std::string::npos);
    EXPECT_EQ(s.find("do_syscall_64"), std::string::npos);
    EXPECT_NE(s, "[kernel.kallsyms]");
  }
  ASSERT_EQ(p.sample_size(), 3);
  EXPECT_EQ(p.sample(0).location_id_size(), 1);  // main
  // Wholly in the kernel: one "[kernel]" frame.
  ASSERT_EQ(p.sample(2).location_id_size(), 1);
  const uint64_t id = p.sample(2).location_id(0);
  std::string name;
  for (const pb::Location& l : p.location())
    for (const pb::Function& f : p.function())
      if (l.id() == id && l.line_size() == 1 && l.line(0).function_id() == f.id())
        name = p.string_table(f.name());
  EXPECT_EQ(name, "[kernel]");
}

}  // namespace
}  // namespace profd

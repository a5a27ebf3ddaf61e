#include "profiles/profile_types.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace profd {
namespace {

// Every row is whole: a profile type's pprof sample types and default are in the table, as Go names
// them, so no collector or endpoint writes its own.
TEST(ProfileTypeTable, EveryProfileHasItsSampleTypesAndADefaultAmongThem) {
  std::set<std::string> names, endpoints;
  for (const ProfileTypeInfo& t : ProfileTypes()) {
    EXPECT_TRUE(names.insert(t.name).second) << t.name;
    EXPECT_TRUE(endpoints.insert(t.endpoint).second) << t.endpoint;
    if (t.type == ProfileType::kCmdline) {
      EXPECT_TRUE(t.sample_types.empty());  // argv, no profile
      continue;
    }
    ASSERT_FALSE(t.sample_types.empty()) << t.name;
    const std::string wanted = t.default_sample_type;
    bool found = wanted.empty();
    for (const SampleTypeName& s : t.sample_types) found = found || wanted == s.type;
    EXPECT_TRUE(found) << t.name << "'s default " << wanted << " is none of its sample types";
    EXPECT_EQ(SampleTypesOf(t.type).size(), t.sample_types.size());
  }
  EXPECT_STREQ(InfoOf(ProfileType::kHeap).default_sample_type, "inuse_space");
  EXPECT_STREQ(InfoOf(ProfileType::kAllocs).default_sample_type, "alloc_space");
  EXPECT_STREQ(InfoOf(ProfileType::kCpu).default_sample_type, "cpu");
  EXPECT_EQ(SampleTypesOf(ProfileType::kBlock)[1].type, "delay");
  EXPECT_EQ(SampleTypesOf(ProfileType::kBlock)[1].unit, "nanoseconds");
}

}  // namespace
}  // namespace profd

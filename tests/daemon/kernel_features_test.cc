#include "collect/kernel_features.h"

#include <gtest/gtest.h>

namespace profd {
namespace {

TEST(KernelFeatures, NothingMissingSaysNothing) {
  EXPECT_EQ(DescribeMissingFeatures(0, "6.1.0-28-amd64"), "");
}

TEST(KernelFeatures, MissingFeaturesNameTheReleaseTheyCameIn) {
  // Debian 12's own kernel: everything but the heap's uprobe sessions.
  EXPECT_EQ(DescribeMissingFeatures(kFeatureUprobeSessions, "6.1.0-28-amd64"),
            "this kernel (6.1.0-28-amd64) lacks uprobe session links (BPF_TRACE_UPROBE_SESSION) "
            "(Linux 6.13)");
  const std::string two = DescribeMissingFeatures(kFeatureRingBuffer | kFeatureStackWalk, "5.4.0");
  EXPECT_NE(two.find("bpf_loop"), std::string::npos) << two;
  EXPECT_NE(two.find("(Linux 5.17); BPF ring buffers (Linux 5.8)"), std::string::npos) << two;
}

}  // namespace
}  // namespace profd

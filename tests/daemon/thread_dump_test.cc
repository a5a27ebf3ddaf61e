// The goroutine dump's unwinder: this process's mappings as ProcessTable reads them, a table and a
// bias (MappingBias) per file, and the BPF unwinder's step, on a 64 KiB stack copy as the dump
// takes it, recorded in frameless code (tests/unwind's fixture) and checked against the return
// addresses the compiler reports.
#include "collect/thread_dump.h"

#include <gtest/gtest.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>

#include "stack_walker_fixture.h"

namespace profd {
namespace {

struct Recording {
  uint64_t ip = 0, sp = 0, bp = 0;
  UserStackUnwinder::StackCopy stack;
};

void Record(uint64_t ip, uint64_t sp, uint64_t bp, void* arg) {
  auto* r = static_cast<Recording*>(arg);
  r->ip = ip;
  r->sp = sp;
  r->bp = bp;
  r->stack.base = sp;
  r->stack.bytes.resize(64 * 1024);
  iovec local = {r->stack.bytes.data(), r->stack.bytes.size()};
  iovec remote = {reinterpret_cast<void*>(sp), r->stack.bytes.size()};
  const ssize_t n = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
  r->stack.bytes.resize(n > 0 ? static_cast<size_t>(n) : 0);
}

std::vector<uint64_t> DumpChain(bool dwarf) {
  ProcessTable table;
  EXPECT_TRUE(table.Observe(getpid()));
  const ProcessInfo* self = table.Find(getpid());
  if (!self) return {};
  UserStackUnwinder unwinder(self, dwarf);
  Recording rec;
  unwfix_walk_chain(Record, &rec);
  EXPECT_FALSE(rec.stack.bytes.empty());
  bool truncated = true;
  std::vector<uint64_t> walk = unwinder.Unwind(rec.ip, rec.sp, rec.bp, rec.stack, &truncated);
  EXPECT_FALSE(truncated);
  if (!walk.empty()) {
    EXPECT_EQ(walk[0], rec.ip);
  }
  return walk;
}

TEST(ThreadDump, UnwindsFramelessCodeWithTables) {
  const std::vector<uint64_t> walk = DumpChain(true);
  ASSERT_GE(walk.size(), 4u);
  EXPECT_EQ(walk[1], unwfix_truth.return_addresses[0]);
  EXPECT_EQ(walk[2], unwfix_truth.return_addresses[1]);
  EXPECT_EQ(walk[3], unwfix_truth.return_addresses[2]);
}

TEST(ThreadDump, WithoutDwarfWalksFramePointersOnly) {
  // The leaf keeps no frame pointer: its caller is lost, as with --unwind fp.
  const std::vector<uint64_t> walk = DumpChain(false);
  ASSERT_GE(walk.size(), 2u);
  EXPECT_EQ(walk[1], unwfix_truth.return_addresses[1]);
  EXPECT_EQ(std::find(walk.begin(), walk.end(), unwfix_truth.return_addresses[0]), walk.end());
}

}  // namespace
}  // namespace profd

// The unwinder's step (bpf/unwind_step.h, which the BPF programs run) in user space, on stacks
// recorded from this very process: code built without frame pointers, unwound over a copy of the
// stack with the tables BuildTableFor makes of the loaded files, checked against the return
// addresses the compiler itself reported.
#include "stack_walker.h"

#include <gtest/gtest.h>
#include <link.h>
#include <pthread.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "stack_walker_fixture.h"
#include "unwind_table.h"

extern "C" char _start[];  // the entry point, whose CFI says the return address is undefined

namespace profd {
namespace {

// The registers at the recording point and the thread's stack from sp to its top.
struct Recording {
  uint64_t ip = 0, sp = 0, bp = 0;
  std::vector<uint8_t> bytes;  // bytes[0] is at sp
};

void Record(uint64_t ip, uint64_t sp, uint64_t bp, void* arg) {
  auto* r = static_cast<Recording*>(arg);
  pthread_attr_t attr;
  void* low = nullptr;
  size_t size = 0;
  if (pthread_getattr_np(pthread_self(), &attr) != 0) return;
  pthread_attr_getstack(&attr, &low, &size);
  pthread_attr_destroy(&attr);
  const uint64_t top = reinterpret_cast<uint64_t>(low) + size;
  r->ip = ip;
  r->sp = sp;
  r->bp = bp;
  // Copied as the thread dump copies a stopped thread's stack. Not memcpy: under AddressSanitizer
  // the other frames' redzones are poisoned.
  r->bytes.resize(top - sp);
  iovec local = {r->bytes.data(), r->bytes.size()};
  iovec remote = {reinterpret_cast<void*>(sp), r->bytes.size()};
  if (process_vm_readv(getpid(), &local, 1, &remote, 1, 0) != static_cast<ssize_t>(local.iov_len))
    r->bytes.clear();
}

// Reads only the recording: a walk that needs anything else fails.
StackWalker::ReadMemory ReadRecording(const Recording& r) {
  return [&r](uint64_t address, void* dst, size_t size) {
    if (address < r.sp || address - r.sp + size > r.bytes.size()) return false;
    std::memcpy(dst, r.bytes.data() + (address - r.sp), size);
    return true;
  };
}

// This process's executable segments, found through the dynamic loader (not /proc/PID/maps and
// MappingBias, as the daemon does), each with the table of its file unless `frame_pointers_only`.
struct ThisProcess {
  StackWalker walker;
  profd_process_unwind process = {};
  std::map<std::string, std::pair<uint64_t, uint32_t>> tables;  // file → (id, rows); id 0: none
};

std::unique_ptr<ThisProcess> LoadThisProcess(bool frame_pointers_only) {
  struct Segment {
    uint64_t start, end, bias;
    std::string path;
  };
  std::vector<Segment> segments;
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* data) {
        const std::string name = info->dlpi_name;
        for (int i = 0; i < info->dlpi_phnum; i++) {
          const ElfW(Phdr)& ph = info->dlpi_phdr[i];
          if (ph.p_type != PT_LOAD || !(ph.p_flags & PF_X)) continue;
          const uint64_t start = info->dlpi_addr + ph.p_vaddr;
          static_cast<std::vector<Segment>*>(data)->push_back(
              {start, start + ph.p_memsz, info->dlpi_addr, name.empty() ? "/proc/self/exe" : name});
        }
        return 0;
      },
      &segments);
  std::sort(segments.begin(), segments.end(),
            [](const Segment& a, const Segment& b) { return a.start < b.start; });
  auto out = std::make_unique<ThisProcess>();
  for (const Segment& s : segments) {
    if (out->process.count == PROFD_MAX_UNWIND_MAPPINGS) break;
    profd_unwind_mapping& m = out->process.mappings[out->process.count++];
    m.start = s.start;
    m.end = s.end;
    m.bias = s.bias;
    if (frame_pointers_only) continue;
    auto [it, inserted] = out->tables.try_emplace(s.path);
    std::vector<profd_unwind_row> rows;
    UnwindTableStats stats;
    std::string error;
    if (inserted && BuildTableFor(s.path, &rows, &stats, &error) && !rows.empty()) {
      const auto count = static_cast<uint32_t>(rows.size());
      it->second = {out->walker.AddTable(std::move(rows)), count};
    }
    m.table_id = it->second.first;
    m.row_count = it->second.second;
  }
  return out;
}

bool InStart(uint64_t pc) {
  const auto start = reinterpret_cast<uint64_t>(_start);
  return pc > start && pc < start + 64;  // _start is a handful of instructions
}

// Runs `fixture`, which records its innermost frame, and walks the recording.
struct RecordedWalk {
  int result = 0;
  Recording rec;
  std::vector<uint64_t> frames;
  bool truncated = true;
};

RecordedWalk RecordAndWalk(ThisProcess* loaded, int (*fixture)(unwfix_record_fn, void*)) {
  RecordedWalk w;
  w.result = fixture(Record, &w.rec);
  if (!w.rec.bytes.empty())
    w.frames = loaded->walker.Walk(loaded->process, w.rec.ip, w.rec.sp, w.rec.bp,
                                   ReadRecording(w.rec), &w.truncated);
  return w;
}

TEST(UnwindStep, WalksFramelessCodeToStart) {
  auto loaded = LoadThisProcess(false);
  ASSERT_NE(loaded->tables["/proc/self/exe"].first, 0u);
  const RecordedWalk w = RecordAndWalk(loaded.get(), unwfix_walk_chain);
  const std::vector<uint64_t>& walk = w.frames;
  ASSERT_GE(walk.size(), 4u);
  EXPECT_EQ(walk[0], w.rec.ip);
  EXPECT_EQ(walk[1], unwfix_truth.return_addresses[0]);  // leaf → middle: frameless
  EXPECT_EQ(walk[2], unwfix_truth.return_addresses[1]);  // middle → outer: CFA from rbp (its VLA)
  EXPECT_EQ(walk[3], unwfix_truth.return_addresses[2]);  // outer → this test
  // On through gtest and libc to _start, whose row ends the walk; every read was in the copy.
  EXPECT_TRUE(InStart(walk.back())) << std::hex << walk.back() << " after " << walk.size();
  EXPECT_FALSE(w.truncated);
  EXPECT_EQ(loaded->walker.count(PROFD_COUNTER_UNWIND_READ_FAILED), 0u);
  EXPECT_EQ(loaded->walker.count(PROFD_COUNTER_UNWIND_NO_MAPPING), 0u);
}

TEST(UnwindStep, LooksUpAReturnAddressPastTheEndOfItsCaller) {
  // A return address is looked up one byte before it: after a noreturn call, the address itself
  // is in the next function or the padding after this one.
  auto loaded = LoadThisProcess(false);
  const RecordedWalk w = RecordAndWalk(loaded.get(), unwfix_walk_noreturn);
  const std::vector<uint64_t>& walk = w.frames;
  ASSERT_EQ(w.result, 1);
  ASSERT_GE(walk.size(), 4u);
  EXPECT_EQ(walk[1], unwfix_truth.return_addresses[0]);
  EXPECT_EQ(walk[2], unwfix_truth.return_addresses[1]);
  EXPECT_EQ(walk[3], unwfix_truth.return_addresses[2]);
  EXPECT_TRUE(InStart(walk.back())) << std::hex << walk.back();
}

TEST(UnwindStep, FramePointersAloneLoseTheFramelessCaller) {
  // The control of the tests above: without tables the step walks frame pointers. The leaf keeps
  // none, so its caller is missed; middle keeps rbp as one for its VLA, so its caller is found.
  auto loaded = LoadThisProcess(true);
  const RecordedWalk w = RecordAndWalk(loaded.get(), unwfix_walk_chain);
  const std::vector<uint64_t>& walk = w.frames;
  ASSERT_GE(walk.size(), 2u);
  EXPECT_EQ(walk[0], w.rec.ip);
  EXPECT_EQ(walk[1], unwfix_truth.return_addresses[1]);
  EXPECT_EQ(std::find(walk.begin(), walk.end(), unwfix_truth.return_addresses[0]), walk.end());
}

TEST(UnwindStep, WalksThroughASignalFrame) {
  auto loaded = LoadThisProcess(false);
  const RecordedWalk w = RecordAndWalk(loaded.get(), unwfix_walk_signal);
  const std::vector<uint64_t>& walk = w.frames;
  ASSERT_EQ(w.result, 8);  // raise's 0 + pad[0] 7 + 1
  ASSERT_GE(walk.size(), 6u);
  EXPECT_EQ(walk[0], w.rec.ip);
  EXPECT_EQ(walk[1], unwfix_truth.return_addresses[0]);  // the handler's return: __restore_rt
  EXPECT_EQ(walk[2], unwfix_truth.signal_ip);            // from the ucontext: where the thread was
  // Then raise's frames in libc, raise's return into middle, and middle's and outer's returns.
  const auto middle = std::find(walk.begin() + 3, walk.end(), unwfix_truth.return_addresses[1]);
  ASSERT_NE(middle, walk.end());
  ASSERT_NE(middle + 1, walk.end());
  EXPECT_EQ(middle[1], unwfix_truth.return_addresses[2]);
  EXPECT_TRUE(InStart(walk.back())) << std::hex << walk.back();
  EXPECT_FALSE(w.truncated);
  EXPECT_EQ(loaded->walker.count(PROFD_COUNTER_UNWIND_READ_FAILED), 0u);
}

}  // namespace
}  // namespace profd

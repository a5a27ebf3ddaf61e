// The goroutine dump's merge of a thread's Python frames into its native stack: the rules of the
// BPF walk (bpf/python_frames.bpf.h), on made-up stacks.
#include <gtest/gtest.h>

#include <vector>

#include "process/python_runtime.h"

namespace profd {
namespace {

constexpr uint64_t kEvalStart = 0x1000, kEvalEnd = 0x2000;
constexpr uint64_t kEval = 0x1500;  // a native frame in the eval function

PythonFrame Py(uint64_t code, bool entry) {
  return {profd_python_frame_value(code, code + 64 + 2 * 3, 64), entry};
}

TEST(MergePythonFrames, EncodesAsTheBpfWalk) {
  const uint64_t value = Py(0x7f0000001230, true).value;
  EXPECT_EQ(value & PROFD_PYTHON_FRAME_TAG_MASK, PROFD_PYTHON_FRAME_TAG);
  EXPECT_EQ(((value >> PROFD_PYTHON_CODE_SHIFT) & PROFD_PYTHON_CODE_MASK) << 3, 0x7f0000001230u);
  EXPECT_EQ(value & PROFD_PYTHON_OFFSET_MASK, 3u);  // the third code unit
  // A frame not started yet (prev_instr before the first instruction) is at unit 0.
  EXPECT_EQ(profd_python_frame_value(0x7f0000001230, 0x7f0000001230, 64) & PROFD_PYTHON_OFFSET_MASK,
            0u);
}

TEST(MergePythonFrames, EachEvalCallRunsItsFramesUpToTheEntryFrame) {
  // leaf C frame, eval (runs f, g: g is its entry), C call, eval (runs main, <module>).
  const std::vector<PythonFrame> python = {Py(0xa0, false), Py(0xb0, true), Py(0xc0, false),
                                           Py(0xd0, true)};
  const std::vector<uint64_t> native = {0x100, kEval, 0x300, kEval + 8, 0x500};
  const std::vector<uint64_t> expected = {
      0x100, python[0].value, python[1].value, 0x300, python[2].value, python[3].value, 0x500};
  EXPECT_EQ(MergePythonFrames(native, python, kEvalStart, kEvalEnd), expected);
}

TEST(MergePythonFrames, WithoutPythonFramesTheNativeStackStays) {
  const std::vector<uint64_t> native = {0x100, kEval, 0x300};
  EXPECT_EQ(MergePythonFrames(native, {}, kEvalStart, kEvalEnd), native);
  // More eval calls than Python frames read: the later ones stay native.
  const std::vector<PythonFrame> python = {Py(0xa0, true)};
  const std::vector<uint64_t> two = {kEval, 0x300, kEval};
  const std::vector<uint64_t> expected = {python[0].value, 0x300, kEval};
  EXPECT_EQ(MergePythonFrames(two, python, kEvalStart, kEvalEnd), expected);
}

TEST(MergePythonFrames, FramesLeftWhenTheNativeWalkEndsGoOut) {
  // The native walk stopped inside the last eval call: its callers' Python frames still go out.
  const std::vector<PythonFrame> python = {Py(0xa0, false), Py(0xb0, false), Py(0xc0, true)};
  const std::vector<uint64_t> expected = {0x100, python[0].value, python[1].value, python[2].value};
  EXPECT_EQ(MergePythonFrames({0x100, kEval}, python, kEvalStart, kEvalEnd), expected);
}

TEST(MergePythonFrames, AtMostMaxFrames) {
  std::vector<uint64_t> native(PROFD_MAX_FRAMES - 1, 0x100);
  native.push_back(kEval);
  native.push_back(0x300);
  const std::vector<PythonFrame> python = {Py(0xa0, false), Py(0xb0, true)};
  const std::vector<uint64_t> merged = MergePythonFrames(native, python, kEvalStart, kEvalEnd);
  ASSERT_EQ(merged.size(), static_cast<size_t>(PROFD_MAX_FRAMES));
  EXPECT_EQ(merged.back(), python[0].value);
}

}  // namespace
}  // namespace profd

#include "jit_dump.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

namespace profd {
namespace {

// A jitdump file built record by record, in the format's layout.
class DumpWriter {
 public:
  DumpWriter() {
    Put<uint32_t>(0x4A695444);
    Put<uint32_t>(1);
    Put<uint32_t>(40);
    Put<uint32_t>(62);
    Put<uint32_t>(0);
    Put<uint32_t>(1234);
    Put<uint64_t>(1);
    Put<uint64_t>(0);
  }
  void Load(uint64_t address, uint64_t size, const std::string& name) {
    Record(0, [&] {
      Put<uint32_t>(1234);
      Put<uint32_t>(1234);
      Put<uint64_t>(address);
      Put<uint64_t>(address);
      Put<uint64_t>(size);
      Put<uint64_t>(index_++);
      bytes_ += name + '\0';
      bytes_ += std::string(size, '\xcc');  // the code
    });
  }
  void Move(uint64_t from, uint64_t to, uint64_t size) {
    Record(1, [&] {
      Put<uint32_t>(1234);
      Put<uint32_t>(1234);
      Put<uint64_t>(to);
      Put<uint64_t>(from);
      Put<uint64_t>(to);
      Put<uint64_t>(size);
      Put<uint64_t>(0);
    });
  }
  struct Entry {
    uint64_t address;
    uint32_t line;
    std::string file;
  };
  void DebugInfo(uint64_t address, const std::vector<Entry>& entries) {
    Record(2, [&] {
      Put<uint64_t>(address);
      Put<uint64_t>(entries.size());
      for (const Entry& e : entries) {
        Put<uint64_t>(e.address);
        Put<uint32_t>(e.line);
        Put<uint32_t>(0);
        bytes_ += e.file + '\0';
      }
    });
  }
  std::string& bytes() { return bytes_; }

  JitDump Parse() const {
    JitDump dump;
    dump.Parse(
        [this](uint64_t offset, void* out, size_t size) -> size_t {
          if (offset >= bytes_.size()) return 0;
          size = std::min<size_t>(size, bytes_.size() - offset);
          std::memcpy(out, bytes_.data() + offset, size);
          return size;
        },
        bytes_.size());
    return dump;
  }

 private:
  template <typename T>
  void Put(T value) {
    bytes_.append(reinterpret_cast<const char*>(&value), sizeof(value));
  }
  template <typename F>
  void Record(uint32_t id, F body) {
    const size_t start = bytes_.size();
    Put<uint32_t>(id);
    Put<uint32_t>(0);
    Put<uint64_t>(0);
    body();
    const uint32_t size = static_cast<uint32_t>(bytes_.size() - start);
    std::memcpy(bytes_.data() + start + 4, &size, 4);
  }
  std::string bytes_;
  uint64_t index_ = 0;
};

TEST(JitDumpTest, NamesAndLinesOfLoadedCode) {
  DumpWriter w;
  w.DebugInfo(0x1000, {{0x1000, 10, "app.js"}, {0x1008, 11, "\xff"}, {0x1010, 20, "lib.js"}});
  w.Load(0x1000, 0x20, "JS:*handler app.js:10");
  w.Load(0x2000, 0x10, "Builtin:ArgumentsAdaptor");  // no debug info
  const JitDump dump = w.Parse();
  EXPECT_EQ(dump.size(), 2u);
  EXPECT_TRUE(dump.stopped().empty()) << dump.stopped();
  JitDump::Symbol s = dump.Find(0x1009);
  EXPECT_EQ(s.function, "JS:*handler app.js:10");
  EXPECT_EQ(s.file, "app.js");  // "\xff": the previous entry's file
  EXPECT_EQ(s.line, 11u);
  s = dump.Find(0x101f);
  EXPECT_EQ(s.file, "lib.js");
  EXPECT_EQ(s.line, 20u);
  EXPECT_EQ(dump.Find(0x1020).function, "");
  s = dump.Find(0x2004);
  EXPECT_EQ(s.function, "Builtin:ArgumentsAdaptor");
  EXPECT_EQ(s.file, "");
  EXPECT_EQ(s.line, 0u);
  EXPECT_EQ(dump.Find(0xfff).function, "");
}

TEST(JitDumpTest, MovedAndReusedCode) {
  DumpWriter w;
  w.DebugInfo(0x1000, {{0x1000, 5, "a.js"}, {0x1004, 6, "a.js"}});
  w.Load(0x1000, 0x10, "f");
  w.Move(0x1000, 0x5000, 0x10);  // a moving GC: the code is now at 0x5000, lines with it
  w.Load(0x1000, 0x10, "g");     // and 0x1000 holds new code
  const JitDump dump = w.Parse();
  EXPECT_EQ(dump.Find(0x1004).function, "g");
  EXPECT_EQ(dump.Find(0x1004).line, 0u);
  JitDump::Symbol s = dump.Find(0x5006);
  EXPECT_EQ(s.function, "f");
  EXPECT_EQ(s.file, "a.js");
  EXPECT_EQ(s.line, 6u);
}

TEST(JitDumpTest, ARecordBeingWrittenEndsTheRead) {
  DumpWriter w;
  w.Load(0x1000, 0x10, "whole");
  w.Load(0x2000, 0x10, "cut");
  w.bytes().resize(w.bytes().size() - 5);  // the writer is mid-record
  const JitDump dump = w.Parse();
  EXPECT_EQ(dump.size(), 1u);
  EXPECT_EQ(dump.Find(0x1000).function, "whole");
  EXPECT_EQ(dump.Find(0x2000).function, "");
}

TEST(JitDumpTest, RejectsOtherFiles) {
  DumpWriter swapped;
  uint32_t magic = 0x4454694A;
  std::memcpy(swapped.bytes().data(), &magic, 4);
  EXPECT_EQ(swapped.Parse().stopped(), "written in the other byte order");
  DumpWriter text;
  text.bytes() = "7f0000001000 40 not a jitdump\n" + std::string(64, ' ');
  EXPECT_EQ(text.Parse().stopped(), "not a jitdump file");
  DumpWriter nameless;  // a name without its NUL within the record is no function
  nameless.Load(0x1000, 0, "");
  EXPECT_EQ(nameless.Parse().size(), 0u);
  JitDump none;
  std::string error;
  EXPECT_FALSE(none.Load("", "/nonexistent/jit-1.dump", 0, &error));
  EXPECT_FALSE(error.empty());
}

TEST(JitDumpTest, PathNames) {
  EXPECT_TRUE(IsJitDumpPath("/home/u/app/jit-1234.dump"));
  EXPECT_TRUE(IsJitDumpPath("jit-1.dump"));
  EXPECT_FALSE(IsJitDumpPath("/tmp/jit-.dump"));
  EXPECT_FALSE(IsJitDumpPath("/tmp/jit-12a.dump"));
  EXPECT_FALSE(IsJitDumpPath("/tmp/perf-12.map"));
  EXPECT_FALSE(IsJitDumpPath("/usr/lib/libjit-1.dump.so"));
}

}  // namespace
}  // namespace profd

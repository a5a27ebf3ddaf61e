#include "symbolizer.h"

#include <elf.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "debug_file_finder.h"
#include "elf_file.h"
#include "perf_map.h"
#include "symbolize_command.h"

namespace profd {
namespace {

namespace fs = std::filesystem;

const std::string kFixtureDir = PROFD_FIXTURE_DIR;
const std::string kSource = PROFD_FIXTURE_SOURCE;

std::string Fixture(const std::string& name) { return kFixtureDir + "/" + name; }

// Line numbers of the "LINE:<name>" markers in the fixture source.
std::map<std::string, uint32_t> MarkedLines() {
  std::map<std::string, uint32_t> lines;
  std::ifstream in(kSource);
  std::string line;
  for (uint32_t number = 1; std::getline(in, line); ++number) {
    size_t marker = line.find("LINE:");
    if (marker != std::string::npos) lines[line.substr(marker + 5)] = number;
  }
  return lines;
}

// Runs a fixture program and returns what it printed: name → ELF virtual address.
std::map<std::string, uint64_t> RunFixture(const std::string& program) {
  std::map<std::string, uint64_t> addresses;
  FILE* pipe = popen(program.c_str(), "r");
  if (pipe == nullptr) return addresses;
  char name[64];
  unsigned long address = 0;
  while (std::fscanf(pipe, "%63s %lx", name, &address) == 2) addresses[name] = address;
  pclose(pipe);
  return addresses;
}

std::string Describe(const Symbolization& s) {
  return s.error.empty() ? FormatLlvmStyle(s) : "error: " + s.error;
}

// The full inline chain at the call site inside OuterEntry, with DWARF.
void ExpectCallSiteChain(const Symbolization& result) {
  auto lines = MarkedLines();
  ASSERT_EQ(result.frames.size(), 3u) << Describe(result);
  EXPECT_EQ(result.frames[0].function, "Inner");
  EXPECT_EQ(result.frames[0].file, kSource);
  EXPECT_EQ(result.frames[0].line, lines["inner_call"]);
  EXPECT_GT(result.frames[0].column, 0u);
  EXPECT_EQ(result.frames[1].function, "Middle");
  EXPECT_EQ(result.frames[1].file, kSource);
  EXPECT_EQ(result.frames[1].line, lines["middle_call"]);
  EXPECT_EQ(result.frames[2].function, "OuterEntry");
  EXPECT_EQ(result.frames[2].file, kSource);
  EXPECT_EQ(result.frames[2].line, lines["outer_call"]);
  EXPECT_TRUE(result.error.empty());
}

void ExpectCompute(const Symbolization& result) {
  ASSERT_EQ(result.frames.size(), 1u) << Describe(result);
  EXPECT_EQ(result.frames[0].function, "fixture_ns::Compute(int)");
  EXPECT_EQ(result.frames[0].file, kSource);
  EXPECT_GT(result.frames[0].line, 0u);
}

// Symbolizes `object` at the addresses `program` reports, checking chain and demangled name.
void CheckFixture(const std::string& object, const std::string& program,
                  Symbolizer::Options options = {}) {
  auto addresses = RunFixture(program);
  ASSERT_EQ(addresses.count("call_site"), 1u) << program;
  ASSERT_EQ(addresses.count("compute"), 1u) << program;
  Symbolizer symbolizer(options);
  std::vector<uint64_t> batch = {addresses["compute"], addresses["call_site"]};
  auto results = symbolizer.Symbolize(object, batch);
  ASSERT_EQ(results.size(), 2u);
  ExpectCompute(results[0]);
  ExpectCallSiteChain(results[1]);
}

TEST(SymbolizerTest, PieWithDwarf) { CheckFixture(Fixture("symfix_pie"), Fixture("symfix_pie")); }

TEST(SymbolizerTest, NonPieWithDwarf) {
  CheckFixture(Fixture("symfix_nopie"), Fixture("symfix_nopie"));
}

TEST(SymbolizerTest, CompressedDebugSections) {
  CheckFixture(Fixture("symfix_gz"), Fixture("symfix_gz"));
}

TEST(SymbolizerTest, SharedLibrary) {
  CheckFixture(Fixture("libsymfix_shared.so"), Fixture("symfix_shared_main"));
}

TEST(SymbolizerTest, DebugLinkInSameDirectory) {
  // Same code as symfix_pie, DWARF moved to symfix_debuglink.debug.
  CheckFixture(Fixture("symfix_debuglink"), Fixture("symfix_pie"));
}

TEST(SymbolizerTest, DebugLinkInDotDebugAndDebugDir) {
  fs::path dir = fs::path(testing::TempDir()) / "symfix_debuglink_dirs";
  fs::remove_all(dir);
  fs::create_directories(dir / "bin" / ".debug");
  fs::copy_file(Fixture("symfix_debuglink"), dir / "bin" / "symfix_debuglink");
  fs::copy_file(Fixture("symfix_debuglink.debug"),
                dir / "bin" / ".debug" / "symfix_debuglink.debug");
  CheckFixture((dir / "bin" / "symfix_debuglink").string(), Fixture("symfix_pie"));

  // <debug_dir>/<dir of binary>/name
  fs::remove(dir / "bin" / ".debug" / "symfix_debuglink.debug");
  fs::path global = dir / "usr-lib-debug";
  fs::create_directories(global / (dir / "bin").relative_path());
  fs::copy_file(Fixture("symfix_debuglink.debug"),
                global / (dir / "bin").relative_path() / "symfix_debuglink.debug");
  Symbolizer::Options options;
  options.debug_dir = global.string();
  CheckFixture((dir / "bin" / "symfix_debuglink").string(), Fixture("symfix_pie"), options);
}

TEST(SymbolizerTest, DebugLinkCrcMismatchIsRejected) {
  fs::path dir = fs::path(testing::TempDir()) / "symfix_crc";
  fs::remove_all(dir);
  fs::create_directories(dir);
  fs::copy_file(Fixture("symfix_debuglink"), dir / "symfix_debuglink");
  fs::copy_file(Fixture("symfix_debuglink.debug"), dir / "symfix_debuglink.debug");
  auto addresses = RunFixture(Fixture("symfix_pie"));
  std::vector<uint64_t> batch = {addresses["call_site"]};
  Symbolizer::Options verify;  // the CRC is always checked
  EXPECT_EQ(
      Symbolizer(verify).Symbolize((dir / "symfix_debuglink").string(), batch)[0].frames.size(),
      3u);
  std::ofstream(dir / "symfix_debuglink.debug", std::ios::app) << "tampered";
  auto tampered = Symbolizer(verify).Symbolize((dir / "symfix_debuglink").string(), batch);
  ASSERT_EQ(tampered[0].frames.size(), 1u);  // the symbol table only
  EXPECT_EQ(tampered[0].frames[0].function, "OuterEntry");
  EXPECT_EQ(tampered[0].frames[0].line, 0u);
}

// Sets the sh_type of the section called `name` in a 64-bit little-endian ELF file.
void SetSectionType(const fs::path& path, const std::string& name, uint32_t type) {
  std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
  auto read = [&](uint64_t offset, void* out, size_t size) {
    file.seekg(static_cast<std::streamoff>(offset));
    file.read(static_cast<char*>(out), static_cast<std::streamsize>(size));
  };
  Elf64_Ehdr header;
  read(0, &header, sizeof(header));
  Elf64_Shdr names;
  read(header.e_shoff + uint64_t{header.e_shstrndx} * sizeof(Elf64_Shdr), &names, sizeof(names));
  for (unsigned i = 0; i < header.e_shnum; ++i) {
    const uint64_t at = header.e_shoff + uint64_t{i} * sizeof(Elf64_Shdr);
    Elf64_Shdr section;
    read(at, &section, sizeof(section));
    std::string found(name.size() + 1, '\0');
    read(names.sh_offset + section.sh_name, found.data(), found.size());
    if (found == name + '\0') {
      section.sh_type = type;
      file.seekp(static_cast<std::streamoff>(at));
      file.write(reinterpret_cast<const char*>(&section), sizeof(section));
      return;
    }
  }
  ADD_FAILURE() << name << " not found in " << path;
}

// A .gnu_debuglink with a size but no bytes (SHT_NOBITS; found by the fuzzer) is no link.
TEST(SymbolizerTest, DebugLinkWithoutBytesIsIgnored) {
  fs::path dir = fs::path(testing::TempDir()) / "symfix_nobits_link";
  fs::remove_all(dir);
  fs::create_directories(dir);
  fs::copy_file(Fixture("symfix_debuglink"), dir / "symfix_debuglink");
  fs::copy_file(Fixture("symfix_debuglink.debug"), dir / "symfix_debuglink.debug");
  SetSectionType(dir / "symfix_debuglink", ".gnu_debuglink", SHT_NOBITS);
  symbolizer_internal::OpenElf elf;
  std::string error;
  ASSERT_TRUE(symbolizer_internal::OpenElfFile((dir / "symfix_debuglink").string(), &elf, &error))
      << error;
  std::string link_name;
  uint32_t crc = 0;
  EXPECT_FALSE(symbolizer_internal::ReadDebugLink(elf.elf.get(), &link_name, &crc));
  auto addresses = RunFixture(Fixture("symfix_pie"));
  std::vector<uint64_t> batch = {addresses["call_site"]};
  auto result = Symbolizer().Symbolize((dir / "symfix_debuglink").string(), batch);
  ASSERT_EQ(result[0].frames.size(), 1u);  // no debug file: the symbol table only
  EXPECT_EQ(result[0].frames[0].function, "OuterEntry");
}

TEST(SymbolizerTest, BuildIdUnderDebugDirAndRoot) {
  Symbolizer describer;
  ElfFileInfo info;
  std::string error;
  ASSERT_TRUE(describer.Describe(Fixture("symfix_buildid"), &info, &error)) << error;
  ASSERT_EQ(info.build_id.size(), 40u);
  EXPECT_FALSE(info.has_debug_info);  // the default /usr/lib/debug has no such file

  fs::path dir = fs::path(testing::TempDir()) / "symfix_buildid_tree";
  fs::remove_all(dir);
  fs::path build_id_dir = dir / "debug" / ".build-id" / info.build_id.substr(0, 2);
  fs::create_directories(build_id_dir);
  fs::copy_file(Fixture("symfix_buildid.debug"),
                build_id_dir / (info.build_id.substr(2) + ".debug"));
  Symbolizer::Options options;
  options.debug_dir = (dir / "debug").string();
  CheckFixture(Fixture("symfix_buildid"), Fixture("symfix_pie"), options);

  // A container root: <root>/<debug_dir>/.build-id/...
  fs::path root = dir / "root";
  fs::path in_root = root / "usr/lib/debug/.build-id" / info.build_id.substr(0, 2);
  fs::create_directories(in_root);
  fs::copy_file(Fixture("symfix_buildid.debug"), in_root / (info.build_id.substr(2) + ".debug"));
  auto addresses = RunFixture(Fixture("symfix_pie"));
  std::vector<uint64_t> batch = {addresses["call_site"]};
  Symbolizer symbolizer;
  auto results = symbolizer.Symbolize(Fixture("symfix_buildid"), batch, root.string());
  ExpectCallSiteChain(results[0]);
}

TEST(SymbolizerTest, SymbolTableOnly) {
  auto addresses = RunFixture(Fixture("symfix_pie"));
  Symbolizer symbolizer;
  std::vector<uint64_t> batch = {addresses["call_site"], addresses["compute"]};
  auto results = symbolizer.Symbolize(Fixture("symfix_symtab_only"), batch);
  ASSERT_EQ(results[0].frames.size(), 1u) << Describe(results[0]);
  EXPECT_EQ(results[0].frames[0].function, "OuterEntry");
  EXPECT_EQ(results[0].frames[0].file, "");
  EXPECT_EQ(results[0].frames[0].line, 0u);
  ASSERT_EQ(results[1].frames.size(), 1u);
  EXPECT_EQ(results[1].frames[0].function, "fixture_ns::Compute(int)");
  EXPECT_EQ(FormatLlvmStyle(results[0]), "OuterEntry\n??:0:0\n\n");
}

TEST(SymbolizerTest, ProcSelfFdOfDeletedFile) {
  fs::path copy = fs::path(testing::TempDir()) / "symfix_deleted";
  fs::remove(copy);
  fs::copy_file(Fixture("symfix_pie"), copy);
  int fd = open(copy.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  fs::remove(copy);
  auto addresses = RunFixture(Fixture("symfix_pie"));
  Symbolizer symbolizer;
  std::vector<uint64_t> batch = {addresses["call_site"]};
  auto results = symbolizer.Symbolize("/proc/self/fd/" + std::to_string(fd), batch);
  close(fd);
  ExpectCallSiteChain(results[0]);
}

TEST(SymbolizerTest, ResultsInCallerOrderAndPerAddressFailures) {
  auto addresses = RunFixture(Fixture("symfix_pie"));
  Symbolizer symbolizer;
  std::vector<uint64_t> batch = {addresses["call_site"], 0x10, addresses["compute"],
                                 addresses["call_site"]};
  auto results = symbolizer.Symbolize(Fixture("symfix_pie"), batch);
  ASSERT_EQ(results.size(), 4u);
  ExpectCallSiteChain(results[0]);
  EXPECT_TRUE(results[1].frames.empty());
  EXPECT_NE(results[1].error.find("0x10"), std::string::npos) << results[1].error;
  ExpectCompute(results[2]);
  ExpectCallSiteChain(results[3]);

  auto missing = symbolizer.Symbolize("/nonexistent/binary", batch);
  ASSERT_EQ(missing.size(), 4u);
  EXPECT_NE(missing[0].error.find("/nonexistent/binary"), std::string::npos);
}

TEST(SymbolizerTest, CacheByIdentityWithLruEviction) {
  Symbolizer::Options options;
  options.max_cached_files = 1;
  Symbolizer symbolizer(options);
  std::vector<uint64_t> batch = {0x1000};
  symbolizer.Symbolize(Fixture("symfix_pie"), batch);
  symbolizer.Symbolize(Fixture("symfix_pie"), batch);
  // Another path to the same file is the same cache entry.
  int fd = open(Fixture("symfix_pie").c_str(), O_RDONLY | O_CLOEXEC);
  symbolizer.Symbolize("/proc/self/fd/" + std::to_string(fd), batch);
  close(fd);
  auto stats = symbolizer.stats();
  EXPECT_EQ(stats.cache_misses, 1u);
  EXPECT_EQ(stats.cache_hits, 2u);
  symbolizer.Symbolize(Fixture("symfix_nopie"), batch);
  stats = symbolizer.stats();
  EXPECT_EQ(stats.cache_misses, 2u);
  EXPECT_EQ(stats.files_open, 1u);
  EXPECT_EQ(stats.files_evicted, 1u);
  EXPECT_EQ(stats.addresses, 4u);
}

TEST(SymbolizerTest, ByteBudgetEvictsTheLeastRecentlyUsed) {
  std::vector<uint64_t> batch = {0x1000, 0x1100, 0x1200};
  // Without a budget both files stay, each counted by what it holds.
  Symbolizer unlimited;
  unlimited.Symbolize(Fixture("symfix_pie"), batch);
  const uint64_t one = unlimited.stats().bytes_cached;
  EXPECT_GT(one, 0u);
  unlimited.Symbolize(Fixture("symfix_nopie"), batch);
  EXPECT_GT(unlimited.stats().bytes_cached, one);
  EXPECT_EQ(unlimited.stats().files_open, 2u);

  // A budget below two files keeps the most recent one only, and its results are unchanged.
  Symbolizer::Options options;
  options.max_cached_bytes = one + 1;
  Symbolizer budgeted(options);
  const std::vector<Symbolization> first = budgeted.Symbolize(Fixture("symfix_pie"), batch);
  budgeted.Symbolize(Fixture("symfix_nopie"), batch);
  Symbolizer::Stats stats = budgeted.stats();
  EXPECT_EQ(stats.files_open, 1u);
  EXPECT_EQ(stats.files_evicted, 1u);
  EXPECT_LE(stats.bytes_cached, unlimited.stats().bytes_cached - one);
  const std::vector<Symbolization> again = budgeted.Symbolize(Fixture("symfix_pie"), batch);
  ASSERT_EQ(again.size(), first.size());
  for (size_t i = 0; i < again.size(); i++) {
    ASSERT_EQ(again[i].frames.size(), first[i].frames.size());
    if (!again[i].frames.empty()) {
      EXPECT_EQ(again[i].frames.back().function, first[i].frames.back().function);
    }
  }
  EXPECT_EQ(budgeted.stats().cache_misses, 3u);  // read again after its eviction
}

TEST(SymbolizerTest, DescribeBuildIdLoadsAndOffsets) {
  Symbolizer symbolizer;
  ElfFileInfo info;
  std::string error;
  ASSERT_TRUE(symbolizer.Describe(Fixture("symfix_pie"), &info, &error)) << error;
  EXPECT_EQ(info.build_id.size(), 40u);
  EXPECT_EQ(info.build_id.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_TRUE(info.has_debug_info);
  EXPECT_TRUE(info.has_symbols);
  ASSERT_FALSE(info.loads.empty());
  bool any_executable = false;
  for (const LoadSegment& load : info.loads) any_executable |= load.executable;
  EXPECT_TRUE(any_executable);

  EXPECT_FALSE(symbolizer.Describe("/etc/hostname", &info, &error));
  EXPECT_FALSE(error.empty());
}

TEST(ElfFileInfoTest, FileOffsetToVaddr) {
  ElfFileInfo info;
  info.loads = {
      {.vaddr = 0, .file_offset = 0, .file_size = 0x25388, .executable = false},
      {.vaddr = 0x26000, .file_offset = 0x26000, .file_size = 0x1550fc, .executable = true},
      {.vaddr = 0x1cf8d0, .file_offset = 0x1ce8d0, .file_size = 0x4f98, .executable = false}};
  uint64_t vaddr = 0;
  ASSERT_TRUE(info.FileOffsetToVaddr(0x28000, &vaddr));
  EXPECT_EQ(vaddr, 0x28000u);
  ASSERT_TRUE(info.FileOffsetToVaddr(0x1ce900, &vaddr));
  EXPECT_EQ(vaddr, 0x1cf900u);
  EXPECT_FALSE(info.FileOffsetToVaddr(0x25400, &vaddr));
  EXPECT_FALSE(info.FileOffsetToVaddr(0x300000, &vaddr));
}

TEST(SymbolizeCommandTest, LlvmStyleOutputInInputOrder) {
  auto addresses = RunFixture(Fixture("symfix_pie"));
  auto lines = MarkedLines();
  char input[256];
  std::snprintf(input, sizeof(input), "0x%lx\n\nnot-an-address\n%lx\n",
                static_cast<unsigned long>(addresses["call_site"]),
                static_cast<unsigned long>(addresses["compute"]));
  std::istringstream in(input);
  std::ostringstream out;
  std::ostringstream err;
  EXPECT_EQ(RunSymbolizeCommand(Fixture("symfix_pie"), in, out, err), 0);
  std::string text = out.str();
  std::string expected_start =
      "Inner\n" + kSource + ":" + std::to_string(lines["inner_call"]) + ":";
  EXPECT_EQ(text.rfind(expected_start, 0), 0u) << text;
  EXPECT_NE(text.find("\n\n??\n??:0:0\n\nfixture_ns::Compute(int)\n"), std::string::npos) << text;
  EXPECT_NE(err.str().find("line 3"), std::string::npos) << err.str();
  EXPECT_NE(err.str().find("not-an-address"), std::string::npos);
}

TEST(SymbolizeCommandTest, MatchesLlvmSymbolizerOnFixture) {
  if (access("/usr/bin/llvm-symbolizer", X_OK) != 0) GTEST_SKIP() << "no llvm-symbolizer";
  auto addresses = RunFixture(Fixture("symfix_pie"));
  std::ostringstream input;
  for (const auto& [name, address] : addresses) input << std::hex << "0x" << address << "\n";
  std::string addresses_file = testing::TempDir() + "/symfix_addresses.txt";
  std::ofstream(addresses_file) << input.str();
  std::string command =
      "/usr/bin/llvm-symbolizer --inlining --obj=" + Fixture("symfix_pie") + " < " + addresses_file;
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string expected;
  char buffer[4096];
  for (size_t n; (n = fread(buffer, 1, sizeof(buffer), pipe)) > 0;) expected.append(buffer, n);
  pclose(pipe);
  std::istringstream in(input.str());
  std::ostringstream out;
  std::ostringstream err;
  RunSymbolizeCommand(Fixture("symfix_pie"), in, out, err);
  EXPECT_EQ(out.str(), expected);
}

TEST(FormatLlvmStyleTest, UnknownAndKnownFrames) {
  EXPECT_EQ(FormatLlvmStyle(Symbolization{}), "??\n??:0:0\n\n");
  Symbolization result;
  result.frames = {{"inner", "/src/a.c", 10, 3, ""}, {"", "", 0, 0, ""}};
  EXPECT_EQ(FormatLlvmStyle(result), "inner\n/src/a.c:10:3\n??\n??:0:0\n\n");
}

TEST(DemangleTest, CxxRustAndPlain) {
  EXPECT_EQ(Demangle("_ZN10fixture_ns7ComputeEi"), "fixture_ns::Compute(int)");
  EXPECT_EQ(Demangle("_ZNSt6vectorIiSaIiEE9push_backERKi"),
            "std::vector<int, std::allocator<int> >::push_back(int const&)");
  EXPECT_EQ(Demangle("_ZN4core3fmt9Formatter3pad17h0123456789abcdefE"),
            "core::fmt::Formatter::pad");
  EXPECT_EQ(Demangle("_ZN66_$LT$alloc..vec..Vec$LT$T$GT$$u20$as$u20$core..ops..drop..Drop$GT$"
                     "4drop17hfedcba9876543210E"),
            "<alloc::vec::Vec<T> as core::ops::drop::Drop>::drop");
  EXPECT_EQ(Demangle("main"), "main");
  EXPECT_EQ(Demangle("_Znot_valid"), "_Znot_valid");
  // Rust v0 (std is built with it), as rustfilt and llvm-symbolizer print it.
  EXPECT_EQ(
      Demangle("_RNvXs2_NtNtCsgEmfK2I1SDS_4core4hash3sipNtB5_11SipHasher13NtB7_6Hasher9write_str"),
      "<core::hash::sip::SipHasher13 as core::hash::Hasher>::write_str");
  EXPECT_EQ(Demangle("_RNvNtCsgEmfK2I1SDS_4core3fmt5write"), "core::fmt::write");
  // LLVM's spelling of lambdas and clones, as llvm-symbolizer prints them.
  EXPECT_EQ(Demangle("_ZZ4mainENKUlvE_clEv"), "main::'lambda'()::operator()() const");
  EXPECT_EQ(Demangle("_Z3fooi.cold"), "foo(int) (.cold)");
}

TEST(DemangleTest, SuffixesAfterAt) {
  EXPECT_EQ(Demangle("_ZN10fixture_ns7ComputeEi@plt"), "fixture_ns::Compute(int)@plt");
  EXPECT_EQ(Demangle("memcpy@GLIBC_2.14"), "memcpy@GLIBC_2.14");
}

TEST(DemangleTest, WithoutParametersForProfiles) {
  const DemangleStyle style = DemangleStyle::kWithoutParameters;
  EXPECT_EQ(Demangle("_ZN10fixture_ns7ComputeEi", style), "fixture_ns::Compute");
  EXPECT_EQ(Demangle("_ZNSt6vectorIiSaIiEE9push_backERKi", style),
            "std::vector<int, std::allocator<int> >::push_back");
  EXPECT_EQ(Demangle("_Z3fooi.cold", style), "foo (.cold)");
  // Not functions: whole. Rust: whole, whatever the style.
  EXPECT_EQ(Demangle("_ZTV3Foo", style), "vtable for Foo");
  EXPECT_EQ(Demangle("_ZN66_$LT$alloc..vec..Vec$LT$T$GT$$u20$as$u20$core..ops..drop..Drop$GT$"
                     "4drop17hfedcba9876543210E",
                     style),
            "<alloc::vec::Vec<T> as core::ops::drop::Drop>::drop");
}

TEST(KernelSymbolizerTest, FakeKallsyms) {
  std::string path = testing::TempDir() + "/fake_kallsyms";
  std::ofstream(path) << "0000000000000000 A fixed_percpu_data\n"
                         "ffffffff81000000 T _stext\n"
                         "ffffffff81001000 T do_one_initcall\n"
                         "ffffffff81002000 t helper_fn\n"
                         "ffffffffc0a00000 t ext4_init\t[ext4]\n"
                         "ffffffffc0b00000 t xfs_init\t[xfs]\n"
                         "ffffffffc0a00100 t ext4_exit\t[ext4]\n"
                         "not-hex T skipped\n"
                         "ffffffff81003000 T\n"
                         "ffffffff81004000 T last_without_newline";
  KernelSymbolizer kernel;
  std::string error;
  ASSERT_TRUE(kernel.Load(path, &error)) << error;
  EXPECT_TRUE(kernel.loaded());
  auto at = [&](uint64_t address) { return kernel.Symbolize(address); };
  EXPECT_EQ(at(0xffffffff81000010).frames.at(0).function, "_stext");
  EXPECT_EQ(at(0xffffffff81001fff).frames.at(0).function, "do_one_initcall");
  EXPECT_EQ(at(0xffffffff81002000).frames.at(0).function, "helper_fn");
  auto module = at(0xffffffffc0a00040);
  EXPECT_EQ(module.frames.at(0).function, "ext4_init");
  EXPECT_EQ(module.frames.at(0).file, "[ext4]");
  // A module seen again after another one's lines keeps its name.
  EXPECT_EQ(at(0xffffffffc0a00140).frames.at(0).function, "ext4_exit");
  EXPECT_EQ(at(0xffffffffc0a00140).frames.at(0).file, "[ext4]");
  EXPECT_EQ(at(0xffffffffc0b00010).frames.at(0).file, "[xfs]");
  EXPECT_EQ(at(0xffffffff81003010).frames.at(0).function, "helper_fn");  // the nameless line
  EXPECT_EQ(at(0xffffffff81004010).frames.at(0).function, "last_without_newline");
  EXPECT_EQ(at(0xffffffff81004010).frames.at(0).file, "");
  uint64_t address = 0;
  EXPECT_TRUE(kernel.AddressOf("ext4_exit", &address));
  EXPECT_EQ(address, 0xffffffffc0a00100u);
  EXPECT_TRUE(at(0x1000).frames.empty());
  EXPECT_FALSE(at(0x1000).error.empty());

  std::string zeros = testing::TempDir() + "/zero_kallsyms";
  std::ofstream(zeros) << "0000000000000000 T _stext\n0000000000000000 T do_one_initcall\n";
  KernelSymbolizer restricted;
  EXPECT_FALSE(restricted.Load(zeros, &error));
  EXPECT_NE(error.find("kptr_restrict"), std::string::npos);
  EXPECT_FALSE(restricted.loaded());
}

// Chain agreement with llvm-symbolizer on random addresses of Debian's libc (ctest label: libc).
TEST(LibcAgreement, MatchesLlvmSymbolizer) {
  const std::string libc = "/lib/x86_64-linux-gnu/libc.so.6";
  Symbolizer describer;
  ElfFileInfo info;
  std::string error;
  ASSERT_TRUE(describer.Describe(libc, &info, &error)) << error;
  std::string debug_file = "/usr/lib/debug/.build-id/" + info.build_id.substr(0, 2) + "/" +
                           info.build_id.substr(2) + ".debug";
  if (access(debug_file.c_str(), R_OK) != 0) GTEST_SKIP() << "libc6-dbg not installed";
  ASSERT_EQ(access("/usr/bin/llvm-symbolizer", X_OK), 0);
  std::string dir = testing::TempDir();
  std::string addresses = dir + "/libc_addresses.txt";
  std::string bench = PROFD_BENCH_DIR;
  ASSERT_EQ(
      std::system(
          ("python3 " + bench + "/gen_addresses.py " + libc + " 400 7 > " + addresses).c_str()),
      0);
  ASSERT_EQ(std::system(("llvm-symbolizer --inlining --obj=" + libc + " < " + addresses + " > " +
                         dir + "/libc_llvm.txt")
                            .c_str()),
            0);
  std::ifstream in(addresses);
  std::ofstream ours(dir + "/libc_ours.txt");
  std::ostringstream err;
  ASSERT_EQ(RunSymbolizeCommand(libc, in, ours, err), 0);
  ours.close();
  FILE* pipe = popen(("python3 " + bench + "/compare.py " + addresses + " " + dir +
                      "/libc_llvm.txt " + dir + "/libc_ours.txt")
                         .c_str(),
                     "r");
  ASSERT_NE(pipe, nullptr);
  char line[256];
  double chain_percent = -1;
  while (std::fgets(line, sizeof(line), pipe) != nullptr) {
    std::printf("%s", line);
    std::sscanf(line, "function chains agree: %*d (%lf%%)", &chain_percent);
  }
  pclose(pipe);
  EXPECT_GE(chain_percent, 95.0);
}

// Names where DWARF has none, from the debug file's .symtab, and the public name among aliases;
// addresses from `nm` on the binary and its debug file (ctest label: libc).
TEST(LibcAgreement, SymbolTableFallbackAndPublicAliases) {
  const std::string libc = "/lib/x86_64-linux-gnu/libc.so.6";
  Symbolizer symbolizer;
  ElfFileInfo info;
  std::string error;
  ASSERT_TRUE(symbolizer.Describe(libc, &info, &error)) << error;
  const std::string debug_file = "/usr/lib/debug/.build-id/" + info.build_id.substr(0, 2) + "/" +
                                 info.build_id.substr(2) + ".debug";
  ASSERT_EQ(access(debug_file.c_str(), R_OK), 0) << "libc6-dbg is a test package";
  auto address_of = [](const std::string& nm_flags, const std::string& file,
                       const std::string& name) {
    FILE* pipe = popen(("nm " + nm_flags + " " + file).c_str(), "r");
    char line[512];
    uint64_t found = 0;
    while (pipe != nullptr && std::fgets(line, sizeof(line), pipe) != nullptr) {
      char symbol[400];
      unsigned long long value = 0;
      if (std::sscanf(line, "%llx %*c %399s", &value, symbol) == 2 && symbol == name) found = value;
    }
    if (pipe != nullptr) pclose(pipe);
    return found;
  };
  struct Case {
    std::string nm_flags, file, symbol, expected;
  };
  const std::vector<Case> cases = {
      // No DWARF unit covers libgcc's soft-float code or the signal trampoline.
      {"", debug_file, "__addtf3", "__addtf3"},
      {"", debug_file, "__multf3", "__multf3"},
      {"", debug_file, "__restore_rt", "__restore_rt"},
      // Aliases: the default version and the public name.
      {"-D", libc, "pthread_mutex_lock@@GLIBC_2.2.5", "pthread_mutex_lock"},
      {"-D", libc, "malloc@@GLIBC_2.2.5", "malloc"},
  };
  for (const Case& c : cases) {
    const uint64_t address = address_of(c.nm_flags, c.file, c.symbol);
    ASSERT_NE(address, 0u) << c.symbol;
    const uint64_t inside = address + 4;
    Symbolization result = symbolizer.Symbolize(libc, std::span(&inside, 1)).at(0);
    ASSERT_FALSE(result.frames.empty()) << c.symbol << ": " << result.error;
    EXPECT_EQ(result.frames.back().function, c.expected) << c.symbol;
  }
}

TEST(PerfMapTest, ParsesPerfsFormat) {
  PerfMap map;
  map.Parse(
      "7f0000001000 40 LazyCompile:*handler /srv/app.js:10\n"  // names may hold spaces
      "0x7f0000002000 0x10 jit_cold\r\n"                       // 0x prefixes, CRLF
      "not a line\n"
      "7f0000003000 0 empty\n"      // no size: skipped
      "7f0000004000 20\n"           // no name: skipped
      "7f0000001000 40 reused\n");  // the code was replaced
  EXPECT_EQ(map.size(), 2u);
  EXPECT_EQ(map.skipped_lines(), 3u);
  EXPECT_EQ(map.Find(0x7f0000001000), "reused");
  EXPECT_EQ(map.Find(0x7f000000103f), "reused");
  EXPECT_EQ(map.Find(0x7f0000001040), "");
  EXPECT_EQ(map.Find(0x7f0000002008), "jit_cold");
  EXPECT_EQ(map.Find(0x10), "");
  PerfMap none;
  std::string error;
  EXPECT_FALSE(none.Load(999999999, 0, &error));
  EXPECT_FALSE(error.empty());
}

// PLT stubs have no symbols: each is named "target@plt" as objdump names it, in a GNU ld binary
// (.plt after its header) and an lld one (whose .plt follows .fini, so _fini took every stub).
TEST(ElfSymbolsTest, PltStubsAgreeWithObjdump) {
  for (const std::string& binary :
       std::vector<std::string>{PROFD_LLD_FIXTURE, Fixture("symfix_pie")}) {
    FILE* pipe = popen(("objdump -d -j .plt -j .plt.sec " + binary).c_str(), "r");
    ASSERT_NE(pipe, nullptr);
    std::vector<std::pair<uint64_t, std::string>> stubs;
    char line[1024];
    while (std::fgets(line, sizeof(line), pipe) != nullptr) {
      unsigned long long address = 0;
      char name[900];
      if (std::sscanf(line, "%llx <%899[^>]>:", &address, name) == 2 &&
          std::string(name).ends_with("@plt"))
        stubs.emplace_back(address, name);
    }
    pclose(pipe);
    ASSERT_GE(stubs.size(), 2u) << binary;
    Symbolizer symbolizer(Symbolizer::Options{.demangle = false});
    for (const auto& [address, name] : stubs) {
      const uint64_t inside = address + 6;
      Symbolization result = symbolizer.Symbolize(binary, std::span(&inside, 1)).at(0);
      ASSERT_FALSE(result.frames.empty()) << binary << " " << name;
      EXPECT_EQ(result.frames.back().function, name) << binary;
    }
  }
}

// Names from a target's files are bare file names, looked up only in the standard places.
TEST(DebugFileFinderTest, TargetNamesCannotLeaveTheStandardPlaces) {
  symbolizer_internal::DebugFileFinder finder("/usr/lib/debug", "/proc/1/root");
  EXPECT_EQ(finder.DebugLinkCandidates("/usr/bin/app", "app.debug"),
            (std::vector<std::string>{"/usr/bin/app.debug", "/usr/bin/.debug/app.debug",
                                      "/usr/lib/debug/usr/bin/app.debug"}));
  for (const std::string& bad :
       std::vector<std::string>{"../../../root/secret/x.debug", "a/b.debug", "..", "x..debug",
                                std::string("x\0y", 3), std::string(256, 'a'), std::string()}) {
    EXPECT_TRUE(finder.DebugLinkCandidates("/usr/bin/app", bad).empty()) << bad;
  }
  EXPECT_TRUE(finder.BuildIdCandidates("../../../etc/passwd").empty());
  EXPECT_EQ(finder.BuildIdCandidates("abcdef"),
            (std::vector<std::string>{"/usr/lib/debug/.build-id/ab/cdef.debug"}));
}

// A FIFO, a directory or a symlink out of the root is never opened as a target's file.
TEST(DebugFileFinderTest, OpenTargetFileRefusesWhatIsNotARegularFileInTheRoot) {
  fs::path root = fs::path(testing::TempDir()) / "target_root";
  fs::remove_all(root);
  fs::create_directories(root / "dir");
  ASSERT_EQ(mkfifo((root / "dir" / "fifo").c_str(), 0644), 0);
  fs::create_symlink("/etc/passwd", root / "dir" / "escape");
  fs::create_symlink("../dir/real", root / "dir" / "inside");
  std::ofstream(root / "dir" / "real") << "x";
  symbolizer_internal::UniqueFd fd;
  std::string error;
  EXPECT_FALSE(symbolizer_internal::OpenTargetFile(root.string(), "/dir/fifo", false, &fd, &error));
  EXPECT_NE(error.find("not a regular file"), std::string::npos) << error;
  EXPECT_FALSE(symbolizer_internal::OpenTargetFile(root.string(), "/dir", false, &fd, &error));
  // An absolute symlink resolves inside the root, where there is no /etc/passwd.
  EXPECT_FALSE(
      symbolizer_internal::OpenTargetFile(root.string(), "/dir/escape", false, &fd, &error));
  EXPECT_FALSE(
      symbolizer_internal::OpenTargetFile(root.string(), "/../../etc/passwd", false, &fd, &error));
  EXPECT_TRUE(symbolizer_internal::OpenTargetFile(root.string(), "/dir/inside", false, &fd, &error))
      << error;
  EXPECT_FALSE(
      symbolizer_internal::OpenTargetFile(root.string(), "/dir/inside", true, &fd, &error));
  EXPECT_FALSE(symbolizer_internal::OpenTargetFile("", (root / "dir" / "fifo").string(), false, &fd,
                                                   &error));
}

}  // namespace
}  // namespace profd

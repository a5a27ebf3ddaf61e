// .gopclntab is read from binaries profd does not trust: truncated and corrupted tables must give
// errors (or harmless answers), never a crash, a hang or a read out of bounds. Mutations of the Go
// fixture's real table, in memory and written back into a copy of the ELF file.
#include <fcntl.h>
#include <gelf.h>
#include <gtest/gtest.h>
#include <libelf.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "gopclntab.h"
#include "unwind_table.h"

namespace profd {
namespace {

using gopclntab::Func;
using gopclntab::Image;
using gopclntab::PcRun;
using gopclntab::Table;

const std::string kGoFixture = PROFD_GO_FIXTURE_STRIPPED;

std::vector<uint8_t> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

// The fixture's image as Table::Open builds it, and where .gopclntab is in the file.
struct Fixture {
  Image image;
  uint64_t pclntab_file_offset = 0;
};

bool LoadFixture(const std::string& path, Fixture* out) {
  elf_version(EV_CURRENT);
  const std::vector<uint8_t> file = ReadFile(path);
  Elf* elf = elf_memory(reinterpret_cast<char*>(const_cast<uint8_t*>(file.data())), file.size());
  if (elf == nullptr) return false;
  size_t phnum = 0;
  elf_getphdrnum(elf, &phnum);
  for (size_t i = 0; i < phnum; i++) {
    GElf_Phdr phdr;
    if (!gelf_getphdr(elf, static_cast<int>(i), &phdr) || phdr.p_type != PT_LOAD) continue;
    gopclntab::Region region;
    region.vaddr = phdr.p_vaddr;
    region.executable = phdr.p_flags & PF_X;
    region.writable = phdr.p_flags & PF_W;
    region.bytes.assign(file.begin() + phdr.p_offset, file.begin() + phdr.p_offset + phdr.p_filesz);
    out->image.regions.push_back(std::move(region));
  }
  size_t shstrndx = 0;
  elf_getshdrstrndx(elf, &shstrndx);
  for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn; scn = elf_nextscn(elf, scn)) {
    GElf_Shdr shdr;
    gelf_getshdr(scn, &shdr);
    if (std::strcmp(elf_strptr(elf, shstrndx, shdr.sh_name), ".gopclntab") != 0) continue;
    out->image.pclntab.assign(file.begin() + shdr.sh_offset,
                              file.begin() + shdr.sh_offset + shdr.sh_size);
    out->image.pclntab_vaddr = shdr.sh_addr;
    out->pclntab_file_offset = shdr.sh_offset;
  }
  elf_end(elf);
  return !out->image.pclntab.empty();
}

// Reads everything a table offers; returns how many errors it reported.
int ReadEverything(const Table& table, std::mt19937_64* rng) {
  int errors = 0;
  std::vector<gopclntab::Frame> frames;
  for (uint32_t i = 0; i < table.func_count(); i++) {
    Func f;
    std::string error;
    if (!table.FuncAt(i, &f, &error)) {
      errors++;
      continue;
    }
    for (uint32_t offset : {f.pcsp, f.pcfile, f.pcln}) {
      uint64_t runs = 0;
      if (!table.DecodePcTable(
              f, offset, [&](const PcRun&) { runs++; }, &error))
        errors++;
      EXPECT_LE(runs, f.end - f.entry);  // every run covers at least one byte
    }
    frames.clear();
    table.Symbolize(f.entry, &frames);
    table.Symbolize(f.entry + (*rng)() % 64, &frames);
    EXPECT_LE(frames.size(), 130u);
  }
  Func f;
  for (int k = 0; k < 16; k++) table.FindFunc(table.text_start() + (*rng)() % (1 << 20), &f);
  return errors;
}

TEST(GopclntabFuzz, TheRealTableReadsCleanly) {
  if (kGoFixture.empty()) GTEST_SKIP() << "no Go toolchain";
  Fixture fixture;
  ASSERT_TRUE(LoadFixture(kGoFixture, &fixture));
  Table table;
  std::string error;
  ASSERT_TRUE(table.Parse(fixture.image, &error)) << error;
  EXPECT_EQ(table.version(), gopclntab::Version::kGo118);  // Debian 12's Go 1.19
  EXPECT_TRUE(table.has_inline_data());
  std::mt19937_64 rng(1);
  EXPECT_EQ(ReadEverything(table, &rng), 0);
}

TEST(GopclntabFuzz, TruncatedTablesGiveErrors) {
  if (kGoFixture.empty()) GTEST_SKIP() << "no Go toolchain";
  Fixture fixture;
  ASSERT_TRUE(LoadFixture(kGoFixture, &fixture));
  std::mt19937_64 rng(2);
  const size_t size = fixture.image.pclntab.size();
  std::vector<size_t> lengths = {0, 1, 4, 7, 8, 15, 16, 63, 64, 71, 72, 100, size - 1, size - 4};
  for (int k = 0; k < 200; k++) lengths.push_back(rng() % size);
  for (size_t length : lengths) {
    Image image = fixture.image;
    image.pclntab.resize(length);
    Table table;
    std::string error;
    if (!table.Parse(std::move(image), &error)) {
      EXPECT_FALSE(error.empty());
      continue;
    }
    // The _func records come last; only the section's alignment padding may go unnoticed.
    const int errors = ReadEverything(table, &rng);
    if (length + 4096 < size) {
      EXPECT_GT(errors, 0) << "truncated to " << length;
    }
  }
}

TEST(GopclntabFuzz, CorruptedTablesNeverCrash) {
  if (kGoFixture.empty()) GTEST_SKIP() << "no Go toolchain";
  Fixture fixture;
  ASSERT_TRUE(LoadFixture(kGoFixture, &fixture));
  std::mt19937_64 rng(3);
  const size_t size = fixture.image.pclntab.size();
  int parsed = 0, with_errors = 0;
  for (int k = 0; k < 1500; k++) {
    Image image = fixture.image;
    std::vector<uint8_t>& b = image.pclntab;
    const int kind = k % 4;
    const int count = 1 + rng() % 16;
    for (int n = 0; n < count; n++) {
      // Half the hits in the header and function table, where one byte moves everything.
      const size_t at = (rng() % 2) ? rng() % std::min<size_t>(size, 4096) : rng() % size;
      if (kind == 0) {
        b[at] ^= 1 << (rng() % 8);
      } else if (kind == 1) {
        b[at] = static_cast<uint8_t>(rng());
      } else if (at + 4 <= size) {
        static const uint32_t kValues[] = {0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0xfffffff0};
        uint32_t v = kind == 2 ? kValues[rng() % 6] : static_cast<uint32_t>(size + rng() % 64);
        std::memcpy(&b[at & ~size_t{3}], &v, 4);
      }
    }
    Table table;
    std::string error;
    if (!table.Parse(std::move(image), &error)) continue;
    parsed++;
    if (ReadEverything(table, &rng) > 0) with_errors++;
  }
  std::printf("1500 corrupted tables: %d parsed, %d of them reported errors while read\n", parsed,
              with_errors);
}

// Section headers stripped (e_shoff = e_shnum = 0, as some packers and strippers leave Go
// binaries): the table is found by its header magic in the read-only segment, go:func.* through
// moduledata.
TEST(GopclntabFuzz, BinaryWithoutSectionHeaders) {
  if (kGoFixture.empty()) GTEST_SKIP() << "no Go toolchain";
  std::vector<uint8_t> file = ReadFile(kGoFixture);
  ASSERT_GT(file.size(), 64u);
  Elf64_Ehdr ehdr;
  std::memcpy(&ehdr, file.data(), sizeof ehdr);
  ehdr.e_shoff = 0;
  ehdr.e_shnum = 0;
  ehdr.e_shstrndx = 0;
  std::memcpy(file.data(), &ehdr, sizeof ehdr);
  const std::string path = testing::TempDir() + "/gopclntab_no_sections";
  std::ofstream(path, std::ios::binary | std::ios::trunc)
      .write(reinterpret_cast<const char*>(file.data()), file.size());
  std::vector<profd_unwind_row> with, without;
  UnwindTableStats stats;
  std::string error;
  ASSERT_TRUE(BuildGoUnwindTable(kGoFixture, &with, &stats, &error)) << error;
  ASSERT_TRUE(IsGoBinary(path));
  ASSERT_TRUE(BuildTableFor(path, &without, &stats, &error)) << error;
  ASSERT_EQ(with.size(), without.size());
  EXPECT_EQ(std::memcmp(with.data(), without.data(), with.size() * sizeof(with[0])), 0);
  Table plain, sectionless;
  ASSERT_TRUE(plain.Open(kGoFixture, false, &error)) << error;
  ASSERT_TRUE(sectionless.Open(path, false, &error)) << error;
  EXPECT_TRUE(sectionless.has_inline_data());
  size_t inlined = 0;
  for (uint32_t i = 0; i < plain.func_count(); i++) {
    Func f;
    ASSERT_TRUE(plain.FuncAt(i, &f, &error)) << error;
    for (uint64_t pc = f.entry; pc < f.end; pc += 3) {
      std::vector<gopclntab::Frame> a, b;
      plain.Symbolize(pc, &a);
      sectionless.Symbolize(pc, &b);
      ASSERT_EQ(a.size(), b.size()) << std::hex << pc;
      for (size_t j = 0; j < a.size(); j++) {
        EXPECT_EQ(a[j].function, b[j].function);
        EXPECT_EQ(a[j].line, b[j].line);
      }
      inlined += a.size() > 1;
    }
  }
  EXPECT_GT(inlined, 100u);
  unlink(path.c_str());
}

// The whole path from a file: corrupted copies of the binary through BuildGoUnwindTable.
TEST(GopclntabFuzz, CorruptedFilesThroughTheUnwindTableBuilder) {
  if (kGoFixture.empty()) GTEST_SKIP() << "no Go toolchain";
  Fixture fixture;
  ASSERT_TRUE(LoadFixture(kGoFixture, &fixture));
  const std::vector<uint8_t> original = ReadFile(kGoFixture);
  const std::string path = testing::TempDir() + "/gopclntab_fuzz_binary";
  std::mt19937_64 rng(4);
  int built = 0;
  for (int k = 0; k < 150; k++) {
    std::vector<uint8_t> file = original;
    for (int n = 0; n < 1 + static_cast<int>(rng() % 8); n++) {
      const size_t at = fixture.pclntab_file_offset + rng() % fixture.image.pclntab.size();
      file[at] = static_cast<uint8_t>(rng());
    }
    std::ofstream(path, std::ios::binary | std::ios::trunc)
        .write(reinterpret_cast<const char*>(file.data()), file.size());
    std::vector<profd_unwind_row> rows;
    UnwindTableStats stats;
    std::string error;
    if (BuildGoUnwindTable(path, &rows, &stats, &error)) {
      built++;
      EXPECT_TRUE(std::is_sorted(rows.begin(), rows.end(),
                                 [](const auto& a, const auto& b) { return a.pc < b.pc; }));
    } else {
      EXPECT_FALSE(error.empty());
    }
  }
  unlink(path.c_str());
  std::printf("150 corrupted binaries: %d gave a table\n", built);
}

}  // namespace
}  // namespace profd

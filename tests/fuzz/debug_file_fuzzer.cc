// Separate debug file lookup from a binary's build id and .gnu_debuglink, both taken from the
// input ELF image. The binary is written into a scratch directory that also holds a copy of it
// under the link's name and under .build-id/, so the CRC and build-id checks run on real files.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "debug_file_finder.h"
#include "elf_file.h"

namespace {

namespace si = profd::symbolizer_internal;

// Never destroyed: the exit handler that removes the directory runs after static destructors.
const std::string& ScratchDir() {
  static const std::string* dir = [] {
    char pattern[] = "/tmp/profd-fuzz-debug-XXXXXX";
    if (mkdtemp(pattern) == nullptr) abort();
    auto* path = new std::string(pattern);
    std::atexit([] { std::filesystem::remove_all(ScratchDir()); });  // libFuzzer exits by exit()
    return path;
  }();
  return *dir;
}

void WriteFile(const std::string& path, const uint8_t* data, size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  elf_version(EV_CURRENT);
  const std::string dir = ScratchDir();
  const std::string binary = dir + "/binary";
  WriteFile(binary, data, size);

  si::OpenElf elf;
  std::string error;
  if (!si::OpenElfFile(binary, &elf, &error)) return 0;
  const std::string build_id = si::ReadBuildId(elf.elf.get());
  std::string link_name;
  uint32_t crc = 0;
  const bool has_link = si::ReadDebugLink(elf.elf.get(), &link_name, &crc);
  (void)si::HasDwarfSections(elf.elf.get());
  (void)si::HasSymbolSections(elf.elf.get());

  // Candidates exist for names that pass the checks; plant the binary's own bytes there.
  const std::string debug_dir = dir + "/debug";
  si::DebugFileFinder finder(debug_dir, "");
  std::vector<std::string> planted;
  const std::vector<std::string> by_id = finder.BuildIdCandidates(build_id);
  for (const std::string& candidate : by_id)
    if (candidate.compare(0, debug_dir.size(), debug_dir) != 0) abort();  // escaped the root
  if (!by_id.empty()) {
    // DEBUG/.build-id/xx/rest.debug
    const std::string& candidate = by_id.front();
    const std::string sub = candidate.substr(0, candidate.rfind('/'));
    mkdir(debug_dir.c_str(), 0700);
    mkdir((debug_dir + "/.build-id").c_str(), 0700);
    mkdir(sub.c_str(), 0700);
    WriteFile(candidate, data, size);
    planted.push_back(candidate);
  }
  if (has_link) {
    for (const std::string& candidate : finder.DebugLinkCandidates(binary, link_name)) {
      if (candidate.compare(0, dir.size(), dir) != 0) abort();  // escaped the directories given
    }
    if (si::IsBareFileName(link_name)) {
      const std::string copy = dir + "/" + link_name;
      WriteFile(copy, data, size);
      planted.push_back(copy);
    }
  }
  si::OpenElf debug;
  (void)finder.Find(binary, elf, build_id, &debug, &error);
  for (const std::string& path : planted) unlink(path.c_str());
  return 0;
}

#include "jit_dump.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>

#include "elf_file.h"
#include "jit_ranges.h"

namespace profd {

namespace {

constexpr uint32_t kMagic = 0x4A695444;  // "JiTD" in the writer's byte order
constexpr uint32_t kMagicSwapped = 0x4454694A;
constexpr size_t kHeaderBytes = 40;
constexpr size_t kRecordHeaderBytes = 16;

enum RecordType : uint32_t {
  kCodeLoad = 0,
  kCodeMove = 1,
  kDebugInfo = 2,
  kClose = 3,
};

template <typename T>
T Field(const unsigned char* bytes, size_t offset) {
  T value;
  std::memcpy(&value, bytes + offset, sizeof(value));
  return value;
}

}  // namespace

bool IsJitDumpPath(std::string_view path) {
  const size_t slash = path.rfind('/');
  std::string_view name = slash == std::string_view::npos ? path : path.substr(slash + 1);
  if (!name.starts_with("jit-") || !name.ends_with(".dump")) return false;
  name = name.substr(4, name.size() - 9);
  return !name.empty() && name.size() <= 10 &&
         std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool JitDump::Load(const std::string& root, const std::string& path, uid_t owner,
                   std::string* error) {
  symbolizer_internal::UniqueFd fd;
  // The process names the file: no link is followed at its last component, nothing outside root.
  if (!symbolizer_internal::OpenTargetFile(root, path, /*no_follow=*/true, &fd, error))
    return false;
  struct stat st;
  if (fstat(fd.get(), &st) != 0) {
    *error = path + ": " + std::strerror(errno);
    return false;
  }
  if (st.st_uid != owner && st.st_uid != 0) {
    *error = path + " belongs to uid " + std::to_string(st.st_uid) + ", not to the process's uid " +
             std::to_string(owner) + ": ignored";
    return false;
  }
  // Records are read through a window, and the code bytes between them are skipped unread.
  std::vector<unsigned char> window(64 << 10);
  uint64_t window_start = 0;
  size_t window_size = 0;
  const int raw = fd.get();
  auto read = [&](uint64_t offset, void* out, size_t size) -> size_t {
    if (size > window.size()) size = window.size();
    if (offset < window_start || offset + size > window_start + window_size) {
      window_start = offset;
      window_size = 0;
      while (window_size < window.size()) {
        const ssize_t n = pread(raw, window.data() + window_size, window.size() - window_size,
                                static_cast<off_t>(offset + window_size));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        window_size += static_cast<size_t>(n);
      }
    }
    const size_t available = std::min<uint64_t>(size, window_start + window_size - offset);
    std::memcpy(out, window.data() + (offset - window_start), available);
    return available;
  };
  Parse(read, static_cast<uint64_t>(st.st_size));
  return true;
}

void JitDump::Parse(const Reader& read, uint64_t file_size) {
  functions_.clear();
  lines_.clear();
  files_.clear();
  stopped_.clear();
  unsigned char header[kHeaderBytes];
  if (read(0, header, sizeof(header)) != sizeof(header)) {
    stopped_ = "shorter than a jitdump header";
    return;
  }
  const uint32_t magic = Field<uint32_t>(header, 0);
  if (magic != kMagic) {
    stopped_ = magic == kMagicSwapped ? "written in the other byte order" : "not a jitdump file";
    return;
  }
  const uint32_t header_size = Field<uint32_t>(header, 8);
  if (header_size < kHeaderBytes || header_size > file_size) {
    stopped_ = "bad header size";
    return;
  }

  std::vector<Function> parsed;                        // in the order written
  std::map<uint64_t, std::vector<Line>> pending_lines;  // debug info precedes its code load
  std::map<std::string, uint32_t, std::less<>> file_index;
  size_t line_count = 0;
  size_t text_bytes = 0;  // names and file names held
  size_t records = 0;
  // The name NUL-terminated at `offset`, at most `limit` bytes; false when there is no NUL.
  std::vector<char> name_buffer(kMaxNameBytes + 1);
  auto read_name = [&](uint64_t offset, uint64_t limit, std::string_view* name) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(limit, name_buffer.size()));
    const size_t got = read(offset, name_buffer.data(), want);
    const void* nul = std::memchr(name_buffer.data(), '\0', got);
    if (nul == nullptr) return false;
    *name = std::string_view(name_buffer.data(), static_cast<const char*>(nul) - name_buffer.data());
    return true;
  };

  uint64_t offset = header_size;
  while (offset < file_size) {
    if (++records > kMaxRecords || text_bytes > kMaxTextBytes) {
      stopped_ = records > kMaxRecords ? "more than " + std::to_string(kMaxRecords) + " records"
                                       : "more than " + std::to_string(kMaxTextBytes >> 20) +
                                             " MiB of names";
      break;
    }
    unsigned char record[kRecordHeaderBytes + 56];
    if (read(offset, record, kRecordHeaderBytes) != kRecordHeaderBytes) break;  // cut at the end
    const uint32_t id = Field<uint32_t>(record, 0);
    const uint64_t total = Field<uint32_t>(record, 4);
    if (total < kRecordHeaderBytes || total > file_size - offset) break;  // being written
    const uint64_t body = offset + kRecordHeaderBytes;
    const uint64_t body_size = total - kRecordHeaderBytes;
    if (id == kClose) break;
    if (id == kCodeLoad && body_size >= 40) {
      if (read(body, record, 40) != 40) break;
      const uint64_t code_addr = Field<uint64_t>(record, 16);
      const uint64_t code_size = Field<uint64_t>(record, 24);
      std::string_view name;
      if (parsed.size() >= kMaxFunctions) {
        stopped_ = "more than " + std::to_string(kMaxFunctions) + " functions";
        break;
      }
      if (code_size > 0 && code_addr + code_size > code_addr &&
          read_name(body + 40, body_size - 40, &name)) {
        text_bytes += name.size();
        Function function{code_addr, code_addr + code_size, std::string(name), lines_.size(),
                          lines_.size()};
        if (auto it = pending_lines.find(code_addr); it != pending_lines.end()) {
          lines_.insert(lines_.end(), it->second.begin(), it->second.end());
          function.last_line = lines_.size();
          pending_lines.erase(it);
        }
        parsed.push_back(std::move(function));
      }
    } else if (id == kCodeMove && body_size >= 48) {
      if (read(body, record, 48) != 48) break;
      const uint64_t old_addr = Field<uint64_t>(record, 16);
      const uint64_t new_addr = Field<uint64_t>(record, 24);
      const uint64_t code_size = Field<uint64_t>(record, 32);
      for (size_t i = parsed.size(); i-- > 0;) {
        if (parsed[i].start != old_addr || parsed[i].end == parsed[i].start) continue;
        if (code_size == 0 || new_addr + code_size < new_addr || parsed.size() >= kMaxFunctions)
          break;
        text_bytes += parsed[i].name.size();
        Function moved{new_addr, new_addr + code_size, parsed[i].name, lines_.size(),
                       lines_.size()};
        const size_t first = parsed[i].first_line;
        const size_t last = parsed[i].last_line;
        if (line_count + (last - first) <= kMaxLines) {
          for (size_t l = first; l < last; ++l) {
            Line line = lines_[l];
            line.address = line.address - old_addr + new_addr;
            lines_.push_back(line);
          }
          line_count += last - first;
          moved.last_line = lines_.size();
        }
        parsed[i].end = parsed[i].start;  // the code is no longer there
        parsed.push_back(std::move(moved));
        break;
      }
    } else if (id == kDebugInfo && body_size >= 16) {
      if (read(body, record, 16) != 16) break;
      const uint64_t code_addr = Field<uint64_t>(record, 0);
      const uint64_t entries = Field<uint64_t>(record, 8);
      std::vector<Line> lines;
      uint64_t at = body + 16;
      const uint64_t end = offset + total;
      uint32_t previous_file = UINT32_MAX;
      for (uint64_t e = 0; e < entries && at + 17 <= end; ++e) {
        if (line_count >= kMaxLines) {
          stopped_ = "more than " + std::to_string(kMaxLines) + " source lines";
          break;
        }
        unsigned char entry[16];
        if (read(at, entry, 16) != 16) break;
        std::string_view file;
        if (!read_name(at + 16, end - at - 16, &file)) break;
        at += 16 + file.size() + 1;
        uint32_t index = previous_file;
        if (file != "\xff") {  // "\xff" is the previous entry's file again
          auto it = file_index.find(file);
          if (it == file_index.end()) {
            it = file_index.emplace(std::string(file), static_cast<uint32_t>(files_.size())).first;
            files_.push_back(std::string(file));
            text_bytes += 2 * file.size();  // the index's copy too
          }
          index = it->second;
        }
        if (index == UINT32_MAX) continue;
        previous_file = index;
        lines.push_back({Field<uint64_t>(entry, 0), index, Field<uint32_t>(entry, 8)});
        line_count++;
      }
      std::stable_sort(lines.begin(), lines.end(),
                       [](const Line& a, const Line& b) { return a.address < b.address; });
      // A record without lines holds nothing (and could be repeated millions of times).
      if (lines.empty())
        pending_lines.erase(code_addr);
      else
        pending_lines[code_addr] = std::move(lines);
      if (!stopped_.empty()) break;
    }
    offset += total;
  }

  // Sorted by start; where a JIT reused an address, the record written last describes it now.
  std::erase_if(parsed, [](const Function& f) { return f.end == f.start; });
  functions_ = symbolizer_internal::LatestByStart(std::move(parsed));
}

JitDump::Symbol JitDump::Find(uint64_t address) const {
  const Function* it = symbolizer_internal::FindRange(functions_, address);
  if (it == nullptr) return {};
  Symbol symbol{it->name, {}, 0};
  // The last line entry at or before the address.
  auto first = lines_.begin() + static_cast<ptrdiff_t>(it->first_line);
  auto last = lines_.begin() + static_cast<ptrdiff_t>(it->last_line);
  auto line = std::upper_bound(first, last, address,
                               [](uint64_t a, const Line& l) { return a < l.address; });
  if (line != first) {
    --line;
    symbol.file = files_[line->file];
    symbol.line = line->line;
  }
  return symbol;
}

}  // namespace profd

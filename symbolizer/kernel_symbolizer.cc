#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "symbolizer.h"

namespace profd {
namespace {

// The whole of a file whose size stat does not know (procfs): read until its end.
bool ReadWhole(const std::string& path, std::string* text, std::string* error) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *error = "cannot read " + path + ": " + std::strerror(errno);
    return false;
  }
  text->clear();
  size_t used = 0;
  for (;;) {
    if (text->size() - used < 65536) text->resize(std::max<size_t>(text->size() * 2, 1 << 20));
    const ssize_t n = read(fd, text->data() + used, text->size() - used);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      *error = "cannot read " + path + ": " + std::strerror(errno);
      close(fd);
      return false;
    }
    if (n == 0) break;
    used += static_cast<size_t>(n);
  }
  close(fd);
  text->resize(used);
  return true;
}

// A field of hex digits; false when it is not one.
bool ParseHex(std::string_view field, uint64_t* value) {
  if (field.empty() || field.size() > 16) return false;
  uint64_t v = 0;
  for (char c : field) {
    int digit;
    if (c >= '0' && c <= '9')
      digit = c - '0';
    else if (c >= 'a' && c <= 'f')
      digit = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F')
      digit = c - 'A' + 10;
    else
      return false;
    v = v << 4 | static_cast<uint64_t>(digit);
  }
  *value = v;
  return true;
}

// The next field of `line` separated by spaces or tabs, consumed from it.
std::string_view NextField(std::string_view* line) {
  size_t start = line->find_first_not_of(" \t");
  if (start == std::string_view::npos) {
    *line = {};
    return {};
  }
  size_t end = line->find_first_of(" \t", start);
  if (end == std::string_view::npos) end = line->size();
  std::string_view field = line->substr(start, end - start);
  line->remove_prefix(end);
  return field;
}

}  // namespace

bool KernelSymbolizer::Load(const std::string& kallsyms_path, std::string* error) {
  // By hand, not through iostreams: this file has 100,000+ lines, and a one-second profile waits
  // for it.
  std::string text;
  if (!ReadWhole(kallsyms_path, &text, error)) return false;
  std::vector<Symbol> symbols;
  std::string names;
  std::vector<std::string> modules = {""};
  symbols.reserve(text.size() / 40);
  names.reserve(text.size() / 2);
  std::string_view rest(text);
  while (!rest.empty()) {
    // "ffffffff81000000 T _stext" or "ffffffffc0a01000 t helper\t[module]"
    size_t newline = rest.find('\n');
    std::string_view line = rest.substr(0, newline);
    rest.remove_prefix(newline == std::string_view::npos ? rest.size() : newline + 1);
    uint64_t address;
    if (!ParseHex(NextField(&line), &address) || address == 0) continue;
    if (NextField(&line).empty()) continue;  // the type letter
    const std::string_view name = NextField(&line);
    if (name.empty() || name.size() > UINT16_MAX || names.size() > UINT32_MAX - name.size())
      continue;
    Symbol symbol = {address, static_cast<uint32_t>(names.size()),
                     static_cast<uint16_t>(name.size()), 0};
    names.append(name);
    const std::string_view module = NextField(&line);
    if (module.size() > 2 && module.front() == '[' && module.back() == ']') {
      // Lines of one module come together: the last one is nearly always it.
      if (modules.back() != module) {
        auto it = std::find(modules.begin() + 1, modules.end(), module);
        if (it == modules.end()) {
          if (modules.size() > UINT16_MAX) continue;
          it = modules.emplace(modules.end(), module);
        }
        symbol.module = static_cast<uint16_t>(it - modules.begin());
      } else {
        symbol.module = static_cast<uint16_t>(modules.size() - 1);
      }
    }
    symbols.push_back(symbol);
  }
  if (symbols.empty()) {
    *error = kallsyms_path +
             " has no non-zero addresses (kernel.kptr_restrict, or not running as root?)";
    return false;
  }
  std::stable_sort(symbols.begin(), symbols.end(),
                   [](const Symbol& a, const Symbol& b) { return a.address < b.address; });
  symbols.shrink_to_fit();
  names.shrink_to_fit();
  symbols_ = std::move(symbols);
  names_ = std::move(names);
  modules_ = std::move(modules);
  by_name_.clear();
  return true;
}

Symbolization KernelSymbolizer::Symbolize(uint64_t address) const {
  Symbolization result;
  auto it = std::upper_bound(symbols_.begin(), symbols_.end(), address,
                             [](uint64_t a, const Symbol& s) { return a < s.address; });
  if (it == symbols_.begin()) {
    char text[64];
    std::snprintf(text, sizeof(text), "0x%" PRIx64 " is below the first kernel symbol", address);
    result.error = symbols_.empty() ? "kallsyms not loaded" : text;
    return result;
  }
  --it;
  SourceFrame frame;
  frame.function = NameOf(*it);
  frame.file = modules_[it->module];
  result.frames.push_back(std::move(frame));
  return result;
}

bool KernelSymbolizer::AddressOf(const std::string& name, uint64_t* address) const {
  if (by_name_.empty())
    for (const Symbol& symbol : symbols_)
      by_name_.try_emplace(std::string(NameOf(symbol)), symbol.address);
  auto it = by_name_.find(name);
  if (it == by_name_.end()) return false;
  *address = it->second;
  return true;
}

}  // namespace profd

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "symbolizer.h"

namespace profd {

bool KernelSymbolizer::Load(const std::string& kallsyms_path, std::string* error) {
  std::ifstream in(kallsyms_path);
  if (!in) {
    *error = "cannot read " + kallsyms_path;
    return false;
  }
  std::vector<Symbol> symbols;
  std::string line;
  while (std::getline(in, line)) {
    // "ffffffff81000000 T _stext" or "ffffffffc0a01000 t helper\t[module]"
    std::istringstream fields(line);
    std::string address_text;
    std::string type;
    Symbol symbol;
    if (!(fields >> address_text >> type >> symbol.name)) continue;
    char* end = nullptr;
    symbol.address = std::strtoull(address_text.c_str(), &end, 16);
    if (end == address_text.c_str() || *end != '\0' || symbol.address == 0) continue;
    std::string module;
    if (fields >> module && module.size() > 2 && module.front() == '[' && module.back() == ']') {
      symbol.module = std::move(module);
    }
    symbols.push_back(std::move(symbol));
  }
  if (symbols.empty()) {
    *error = kallsyms_path +
             " has no non-zero addresses (kernel.kptr_restrict, or not running as root?)";
    return false;
  }
  std::stable_sort(symbols.begin(), symbols.end(),
                   [](const Symbol& a, const Symbol& b) { return a.address < b.address; });
  symbols_ = std::move(symbols);
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
  frame.function = it->name;
  frame.file = it->module;
  result.frames.push_back(std::move(frame));
  return result;
}

bool KernelSymbolizer::AddressOf(const std::string& name, uint64_t* address) const {
  if (by_name_.empty())
    for (const Symbol& symbol : symbols_) by_name_.try_emplace(symbol.name, symbol.address);
  auto it = by_name_.find(name);
  if (it == by_name_.end()) return false;
  *address = it->second;
  return true;
}

}  // namespace profd

// Name demangling: Itanium C++ and Rust v0 through LLVM's demangler (LLVMDemangle), Rust legacy
// by hand (LLVM 14 reads it as C++ and keeps the hash and the $LT$ escapes).
#include <llvm/Demangle/Demangle.h>

#include <cctype>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "symbolizer.h"

namespace profd {

namespace {

bool IsHex(std::string_view text) {
  for (char c : text) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// Rust legacy symbols are Itanium nested names whose last component is "h" + 16 hex digits.
bool LooksLikeRustLegacy(std::string_view name) {
  if (!name.starts_with("_ZN")) return false;
  size_t end = name.rfind('E');
  if (end == std::string_view::npos || end < 22) return false;
  std::string_view hash = name.substr(end - 19, 19);  // "17h" + 16 hex digits
  return hash.starts_with("17h") && IsHex(hash.substr(3));
}

// Undoes rustc's legacy escapes: $LT$ → <, $u20$ → ' ', .. → ::, and so on.
std::string UnescapeRustIdentifier(std::string_view id) {
  if (id.starts_with("_$")) id.remove_prefix(1);
  std::string out;
  for (size_t i = 0; i < id.size();) {
    if (id[i] == '$') {
      size_t close = id.find('$', i + 1);
      if (close == std::string_view::npos) return std::string(id);
      std::string_view code = id.substr(i + 1, close - i - 1);
      if (code == "SP")
        out += '@';
      else if (code == "BP")
        out += '*';
      else if (code == "RF")
        out += '&';
      else if (code == "LT")
        out += '<';
      else if (code == "GT")
        out += '>';
      else if (code == "LP")
        out += '(';
      else if (code == "RP")
        out += ')';
      else if (code == "C")
        out += ',';
      else if (code.size() >= 2 && code[0] == 'u' && IsHex(code.substr(1))) {
        out += static_cast<char>(std::strtoul(std::string(code.substr(1)).c_str(), nullptr, 16));
      } else {
        return std::string(id);  // not an escape we know: leave the identifier alone
      }
      i = close + 1;
    } else if (id.substr(i).starts_with("..")) {
      out += "::";
      i += 2;
    } else {
      out += id[i++];
    }
  }
  return out;
}

bool DemangleRustLegacy(std::string_view name, std::string* out) {
  size_t pos = 3;  // after "_ZN"
  std::string result;
  while (pos < name.size() && name[pos] != 'E') {
    size_t length = 0;
    if (!std::isdigit(static_cast<unsigned char>(name[pos]))) return false;
    while (pos < name.size() && std::isdigit(static_cast<unsigned char>(name[pos]))) {
      length = length * 10 + static_cast<size_t>(name[pos++] - '0');
    }
    if (length == 0 || pos + length > name.size()) return false;
    std::string_view id = name.substr(pos, length);
    pos += length;
    bool is_hash = pos < name.size() && name[pos] == 'E' && length == 17 && id[0] == 'h' &&
                   IsHex(id.substr(1));
    if (is_hash) break;
    if (!result.empty()) result += "::";
    result += UnescapeRustIdentifier(id);
  }
  if (result.empty()) return false;
  *out = std::move(result);
  return true;
}

// Itanium C++ through LLVM's demangler, so names are spelled as llvm-symbolizer spells them
// ("main::'lambda'()::operator()() const", clones as "f() (.cold)").
bool DemangleItanium(const std::string& name, DemangleStyle style, std::string* out) {
  if (style == DemangleStyle::kWithoutParameters) {
    // A compiler's clone of a function (".cold", ".isra.0") is worth telling apart; the partial
    // demangler reads only the name before it.
    const size_t dot = name.find('.');
    const std::string base = name.substr(0, dot);
    llvm::ItaniumPartialDemangler partial;
    if (!partial.partialDemangle(base.c_str()) && partial.isFunction()) {
      size_t size = 0;
      std::unique_ptr<char, decltype(&std::free)> function(
          partial.getFunctionName(nullptr, &size), &std::free);
      if (function != nullptr) {
        *out = function.get();
        if (dot != std::string::npos) *out += " (" + name.substr(dot) + ")";
        return true;
      }
    }
  }
  int status = 0;
  std::unique_ptr<char, decltype(&std::free)> demangled(
      llvm::itaniumDemangle(name.c_str(), nullptr, nullptr, &status), &std::free);
  if (status != 0 || demangled == nullptr) return false;
  *out = demangled.get();
  return true;
}

bool DemangleRustV0(const std::string& name, std::string* out) {
  int status = 0;
  std::unique_ptr<char, decltype(&std::free)> demangled(
      llvm::rustDemangle(name.c_str(), nullptr, nullptr, &status), &std::free);
  if (status != 0 || demangled == nullptr) return false;
  *out = demangled.get();
  return true;
}

}  // namespace

std::string Demangle(const std::string& name, DemangleStyle style) {
  // "name@plt" (our PLT stubs) and "name@VERSION" (symbol versions): mangled names hold no '@'.
  if (const size_t at = name.find('@'); at != std::string::npos && at > 0)
    return Demangle(name.substr(0, at), style) + name.substr(at);
  std::string out;
  if (name.starts_with("_R") && DemangleRustV0(name, &out)) return out;
  if (!name.starts_with("_Z")) return name;
  if (LooksLikeRustLegacy(name) && DemangleRustLegacy(name, &out)) return out;
  if (DemangleItanium(name, style, &out)) return out;
  return name;
}

}  // namespace profd

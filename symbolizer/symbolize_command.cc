#include "symbolize_command.h"

#include <cctype>
#include <optional>
#include <string_view>
#include <vector>

#include "symbolizer.h"

namespace profd {

namespace {

std::string_view Trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) {
    text.remove_prefix(1);
  }
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
    text.remove_suffix(1);
  }
  return text;
}

std::optional<uint64_t> ParseHexAddress(std::string_view text) {
  if (text.starts_with("0x") || text.starts_with("0X")) text.remove_prefix(2);
  if (text.empty() || text.size() > 16) return std::nullopt;
  uint64_t value = 0;
  for (char c : text) {
    int digit;
    if (c >= '0' && c <= '9') {
      digit = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      digit = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      digit = c - 'A' + 10;
    } else {
      return std::nullopt;
    }
    value = (value << 4) | static_cast<uint64_t>(digit);
  }
  return value;
}

}  // namespace

Symbolizer::Options LlvmCompatibleOptions() { return Symbolizer::Options{}; }

int RunSymbolizeCommand(const std::string& object_path, std::istream& in, std::ostream& out,
                        std::ostream& err) {
  return RunSymbolizeCommand(object_path, in, out, err, LlvmCompatibleOptions());
}

int RunSymbolizeCommand(const std::string& object_path, std::istream& in, std::ostream& out,
                        std::ostream& err, const Symbolizer::Options& options) {
  // Everything is read first so the addresses go through the symbolizer as one sorted batch.
  std::vector<uint64_t> addresses;
  std::vector<bool> valid;
  std::string line;
  size_t line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    std::string_view text = Trim(line);
    if (text.empty()) continue;
    std::optional<uint64_t> address = ParseHexAddress(text);
    if (!address) {
      err << "profd --symbolize: line " << line_number << ": '" << text << "' is not a hex address\n";
    }
    addresses.push_back(address.value_or(0));
    valid.push_back(address.has_value());
  }

  std::vector<uint64_t> batch;
  batch.reserve(addresses.size());
  for (size_t i = 0; i < addresses.size(); ++i) {
    if (valid[i]) batch.push_back(addresses[i]);
  }
  Symbolizer symbolizer(options);
  std::vector<Symbolization> results = symbolizer.Symbolize(object_path, batch);

  int status = 0;
  if (!batch.empty() && symbolizer.stats().files_open == 0) {
    err << "profd --symbolize: " << results.front().error << "\n";
    status = 1;
  }
  std::string text;
  text.reserve(addresses.size() * 64);
  size_t next_result = 0;
  for (size_t i = 0; i < addresses.size(); ++i) {
    text += valid[i] ? FormatLlvmStyle(results[next_result++]) : FormatLlvmStyle(Symbolization{});
  }
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  out.flush();
  return status;
}

}  // namespace profd

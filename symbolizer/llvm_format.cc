#include <string>

#include "symbolizer.h"

namespace profd {

std::string FormatLlvmStyle(const Symbolization& result) {
  if (result.frames.empty()) return "??\n??:0:0\n\n";
  std::string out;
  for (const SourceFrame& frame : result.frames) {
    out += frame.function.empty() ? "??" : frame.function;
    out += '\n';
    out += frame.file.empty() ? "??" : frame.file;
    out += ':';
    out += std::to_string(frame.line);
    out += ':';
    out += std::to_string(frame.column);
    out += '\n';
  }
  out += '\n';
  return out;
}

}  // namespace profd

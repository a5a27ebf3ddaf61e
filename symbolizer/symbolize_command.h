// `profd --symbolize FILE`: llvm-symbolizer-compatible output for addresses read from a stream.
#ifndef PROFD_SYMBOLIZER_SYMBOLIZE_COMMAND_H
#define PROFD_SYMBOLIZER_SYMBOLIZE_COMMAND_H

#include <istream>
#include <ostream>
#include <string>

#include "symbolizer.h"

namespace profd {

// The options `profd --symbolize` uses: exactly llvm-symbolizer's choices (no name from the debug
// file's .symtab where llvm-symbolizer prints "??").
Symbolizer::Options LlvmCompatibleOptions();

// Reads hex ELF virtual addresses (one a line, "0x" optional, blank lines ignored) from `in`,
// symbolizes them as one sorted batch and prints FormatLlvmStyle blocks to `out` in input order.
// A malformed line is reported on `err` and gets a "??" block, so output stays aligned with input.
// Returns 0, or 1 when `object_path` could not be read (every block is then "??").
int RunSymbolizeCommand(const std::string& object_path, std::istream& in, std::ostream& out,
                        std::ostream& err);
int RunSymbolizeCommand(const std::string& object_path, std::istream& in, std::ostream& out,
                        std::ostream& err, const Symbolizer::Options& options);

}  // namespace profd

#endif  // PROFD_SYMBOLIZER_SYMBOLIZE_COMMAND_H

// UTF-8 checks for text profd takes from outside: names read from a target's binaries (which go
// into profile.proto, whose strings must be UTF-8) and configuration files.
#ifndef PROFD_CONFIG_UTF8_H
#define PROFD_CONFIG_UTF8_H

#include <cstddef>
#include <string>
#include <string_view>

namespace profd {

// `text` with every ill-formed UTF-8 sequence (a stray continuation byte, a truncated, overlong or
// surrogate sequence, a code point above U+10FFFF) replaced by U+FFFD, one per maximal ill-formed
// subpart as Unicode recommends.
std::string ToValidUtf8(std::string_view text);

// The offset of the first byte of `text` that is not well-formed UTF-8; npos when all are.
size_t FirstInvalidUtf8(std::string_view text);

}  // namespace profd

#endif  // PROFD_CONFIG_UTF8_H

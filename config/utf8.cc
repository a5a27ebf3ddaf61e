#include "utf8.h"

namespace profd {
namespace {

// The length of the well-formed sequence at text[i]; 0 when there is none, with `ill_formed` the
// length of the maximal ill-formed subpart there (at least 1).
size_t SequenceAt(std::string_view text, size_t i, size_t* ill_formed) {
  const auto byte = [&](size_t at) { return static_cast<unsigned char>(text[at]); };
  const unsigned char lead = byte(i);
  if (lead < 0x80) return 1;
  // The sequence's length and the range its second byte must be in (Unicode table 3-7).
  size_t length = 0;
  unsigned char low = 0x80, high = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;   // overlong
    if (lead == 0xED) high = 0x9F;  // surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;   // overlong
    if (lead == 0xF4) high = 0x8F;  // above U+10FFFF
  }
  size_t good = length == 0 ? 0 : 1;  // bytes of a well-formed prefix
  while (good > 0 && good < length && i + good < text.size()) {
    const unsigned char c = byte(i + good);
    const bool in_range = good == 1 ? (c >= low && c <= high) : (c >= 0x80 && c <= 0xBF);
    if (!in_range) break;
    ++good;
  }
  if (length > 0 && good == length) return length;
  *ill_formed = good > 0 ? good : 1;
  return 0;
}

}  // namespace

std::string ToValidUtf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    size_t ill_formed = 0;
    if (const size_t length = SequenceAt(text, i, &ill_formed); length > 0) {
      out.append(text.substr(i, length));
      i += length;
    } else {
      out += "\xEF\xBF\xBD";  // U+FFFD
      i += ill_formed;
    }
  }
  return out;
}

size_t FirstInvalidUtf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    size_t ill_formed = 0;
    const size_t length = SequenceAt(text, i, &ill_formed);
    if (length == 0) return i;
    i += length;
  }
  return std::string_view::npos;
}

}  // namespace profd

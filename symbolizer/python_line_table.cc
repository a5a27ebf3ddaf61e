#include "python_line_table.h"

namespace profd {
namespace {

// The table's entries: a first byte with bit 7 set, a 4-bit code and the code units covered - 1,
// then the code's operands. Numbers are varints of 6-bit chunks, bit 6 saying another follows.
class EntryReader {
 public:
  explicit EntryReader(std::string_view table) : table_(table) {}

  bool AtEnd() const { return at_ >= table_.size(); }
  uint8_t Byte() { return AtEnd() ? 0 : static_cast<uint8_t>(table_[at_++]); }

  uint32_t Varint() {
    uint32_t value = 0;
    for (int shift = 0; shift < 32 && !AtEnd(); shift += 6) {
      const uint8_t b = Byte();
      value |= static_cast<uint32_t>(b & 63) << shift;
      if (!(b & 64)) break;
    }
    return value;
  }

  int32_t SignedVarint() {
    const uint32_t u = Varint();
    return u & 1 ? -static_cast<int32_t>(u >> 1) : static_cast<int32_t>(u >> 1);
  }

 private:
  std::string_view table_;
  size_t at_ = 0;
};

}  // namespace

int PythonLineOf(std::string_view line_table, int first_line, uint32_t code_unit) {
  EntryReader reader(line_table);
  int line = first_line;
  uint32_t start = 0;
  while (!reader.AtEnd()) {
    const uint8_t first = reader.Byte();
    if (!(first & 0x80)) return 0;  // not at an entry's start: a table we misread
    const int code = (first >> 3) & 15;
    const uint32_t length = (first & 7) + 1;
    bool has_line = true;
    if (code == 15) {  // no location
      has_line = false;
    } else if (code == 14) {  // long form: line delta, end line delta, start and end columns
      line += reader.SignedVarint();
      reader.Varint();
      reader.Varint();
      reader.Varint();
    } else if (code == 13) {  // no columns
      line += reader.SignedVarint();
    } else if (code >= 10) {  // one line: the delta is in the code; start and end columns
      line += code - 10;
      reader.Byte();
      reader.Byte();
    } else {  // short form: same line, one byte of columns
      reader.Byte();
    }
    if (code_unit < start + length) return has_line ? line : 0;
    start += length;
  }
  return 0;
}

}  // namespace profd

// A copy of a file's DWARF sections, decompressed in parallel, as an in-memory ELF image for libdw.
//
// libdw inflates every compressed debug section one after another when it opens a file, including
// ones symbolization never reads (.debug_loclists is a quarter of glibc's). Inflating only the
// sections we need, on all cores, cuts that startup cost roughly in half.
#ifndef PROFD_SYMBOLIZER_DWARF_IMAGE_H
#define PROFD_SYMBOLIZER_DWARF_IMAGE_H

#include <libelf.h>

#include <cstddef>
#include <memory>

#include "elf_file.h"

namespace profd::symbolizer_internal {

class DwarfImage {
 public:
  // Builds the image when `elf` is a 64-bit native-endian executable or shared object (or its debug
  // file) with zlib-compressed (SHF_COMPRESSED) DWARF; false otherwise, and libdw should read `elf`
  // itself.
  bool Build(Elf* elf);

  // The image as an ELF handle; valid while this object lives.
  Elf* elf() const { return elf_.get(); }
  size_t bytes() const { return size_; }  // of the inflated image

 private:
  struct Unmap {
    size_t size;
    void operator()(char* bytes) const;
  };
  std::unique_ptr<char[], Unmap> bytes_{nullptr, Unmap{0}};
  size_t size_ = 0;
  UniqueElf elf_;
};

}  // namespace profd::symbolizer_internal

#endif  // PROFD_SYMBOLIZER_DWARF_IMAGE_H

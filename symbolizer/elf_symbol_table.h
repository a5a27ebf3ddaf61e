// Function and object symbols of one ELF file, looked up the way llvm-symbolizer does.
#ifndef PROFD_SYMBOLIZER_ELF_SYMBOL_TABLE_H
#define PROFD_SYMBOLIZER_ELF_SYMBOL_TABLE_H

#include <libelf.h>

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

namespace profd::symbolizer_internal {

class ElfSymbolTable {
 public:
  // Reads .symtab, or .dynsym when there is no .symtab, and names the PLT stubs "name@plt" from
  // .rela.plt. Names point into `elf`, which must outlive this table.
  void Load(Elf* elf);

  // The symbol at or before `address` that covers it (a symbol of size 0 covers everything up to
  // the next one); "" when none. Among symbols at one address the largest wins, as in
  // llvm-symbolizer, and among those of one size the most public name (pthread_mutex_lock, not
  // __pthread_mutex_lock or __GI___pthread_mutex_lock).
  // `file`, when given, gets the name of the STT_FILE symbol before it in the table
  // (llvm-symbolizer prints it as the file of frames without line information).
  std::string_view Find(uint64_t address, std::string_view* file = nullptr) const;

  bool empty() const { return symbols_.empty(); }
  size_t bytes() const { return symbols_.capacity() * sizeof(Symbol) + plt_names_.size() * 48; }

 private:
  struct Symbol {
    uint64_t address;
    uint64_t size;
    uint64_t limit;  // for a symbol without size: the end of its section (0: none known)
    std::string_view name;
    std::string_view file;
  };
  std::vector<Symbol> symbols_;        // sorted by address, one per address
  std::deque<std::string> plt_names_;  // "name@plt" of the PLT stubs, which have no symbols
};

}  // namespace profd::symbolizer_internal

#endif  // PROFD_SYMBOLIZER_ELF_SYMBOL_TABLE_H

#include "elf_symbol_table.h"

#include <gelf.h>

#include <algorithm>

namespace profd::symbolizer_internal {

namespace {

bool ReadSymbols(Elf* elf, Elf_Scn* scn, const GElf_Shdr& shdr, auto&& add) {
  Elf_Data* data = elf_getdata(scn, nullptr);
  if (data == nullptr || shdr.sh_entsize == 0) return false;
  size_t count = shdr.sh_size / shdr.sh_entsize;
  bool any = false;
  std::string_view file;
  for (size_t i = 1; i < count; ++i) {
    GElf_Sym sym;
    if (gelf_getsym(data, static_cast<int>(i), &sym) == nullptr) continue;
    int type = GELF_ST_TYPE(sym.st_info);
    if (type == STT_FILE) {
      const char* file_name = elf_strptr(elf, shdr.sh_link, sym.st_name);
      file = file_name != nullptr ? file_name : "";
      continue;
    }
    // Like llvm-symbolizer: functions, objects, IFUNCs and untyped symbols (assembly).
    if (type != STT_FUNC && type != STT_OBJECT && type != STT_GNU_IFUNC && type != STT_NOTYPE) {
      continue;
    }
    // Undefined, absolute (version names) and common symbols have no code, as llvm-symbolizer sees
    // it.
    if (sym.st_shndx == SHN_UNDEF || sym.st_shndx == SHN_ABS || sym.st_shndx == SHN_COMMON)
      continue;
    const char* name = elf_strptr(elf, shdr.sh_link, sym.st_name);
    if (name == nullptr || name[0] == '\0') continue;
    // ARM/AArch64 mapping symbols ($x, $d) are no functions.
    if (type == STT_NOTYPE && name[0] == '$') continue;
    add(sym.st_value, sym.st_size, std::string_view(name), file);
    any = true;
  }
  return any;
}

}  // namespace

void ElfSymbolTable::Load(Elf* elf) {
  symbols_.clear();
  Elf_Scn* symtab = nullptr;
  Elf_Scn* dynsym = nullptr;
  GElf_Shdr symtab_shdr{};
  GElf_Shdr dynsym_shdr{};
  Elf_Scn* scn = nullptr;
  while ((scn = elf_nextscn(elf, scn)) != nullptr) {
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr) == nullptr) continue;
    if (shdr.sh_type == SHT_SYMTAB) {
      symtab = scn;
      symtab_shdr = shdr;
    } else if (shdr.sh_type == SHT_DYNSYM) {
      dynsym = scn;
      dynsym_shdr = shdr;
    }
  }
  auto add = [this](uint64_t address, uint64_t size, std::string_view name, std::string_view file) {
    symbols_.push_back({address, size, name, file});
  };
  if (symtab == nullptr || !ReadSymbols(elf, symtab, symtab_shdr, add)) {
    if (dynsym != nullptr) ReadSymbols(elf, dynsym, dynsym_shdr, add);
  }
  // Stable sort by (address, size) and keep the last of each address: the largest, and among equal
  // sizes the last in table order, which is what llvm-symbolizer picks.
  std::stable_sort(symbols_.begin(), symbols_.end(), [](const Symbol& a, const Symbol& b) {
    return a.address != b.address ? a.address < b.address : a.size < b.size;
  });
  size_t kept = 0;
  for (size_t i = 0; i < symbols_.size(); ++i) {
    if (i + 1 < symbols_.size() && symbols_[i + 1].address == symbols_[i].address) continue;
    symbols_[kept++] = symbols_[i];
  }
  symbols_.resize(kept);
  symbols_.shrink_to_fit();
}

std::string_view ElfSymbolTable::Find(uint64_t address, std::string_view* file) const {
  auto it = std::upper_bound(symbols_.begin(), symbols_.end(), address,
                             [](uint64_t a, const Symbol& s) { return a < s.address; });
  if (it == symbols_.begin()) return {};
  --it;
  if (it->size != 0 && it->address + it->size <= address) return {};
  if (file != nullptr) *file = it->file;
  return it->name;
}

}  // namespace profd::symbolizer_internal

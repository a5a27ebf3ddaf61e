#include "process/elf_dynamic_symbols.h"

namespace profd {

void ForEachSymbol(Elf* elf, Elf64_Word section_type, const SymbolVisitor& visit) {
  Elf_Scn* section = nullptr;
  while ((section = elf_nextscn(elf, section)) != nullptr) {
    GElf_Shdr header;
    if (!gelf_getshdr(section, &header) || header.sh_type != section_type ||
        header.sh_entsize == 0)
      continue;
    Elf_Data* data = elf_getdata(section, nullptr);
    if (!data) continue;
    const size_t count = header.sh_size / header.sh_entsize;
    for (size_t i = 0; i < count; i++) {
      GElf_Sym sym;
      if (!gelf_getsym(data, static_cast<int>(i), &sym) || sym.st_shndx == SHN_UNDEF) continue;
      if (const char* name = elf_strptr(elf, header.sh_link, sym.st_name)) visit(name, sym);
    }
  }
}

void ForEachDynamicSymbol(Elf* elf, const SymbolVisitor& visit) {
  ForEachSymbol(elf, SHT_DYNSYM, visit);
}

}  // namespace profd

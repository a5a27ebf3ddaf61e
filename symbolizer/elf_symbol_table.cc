#include "elf_symbol_table.h"

#include <gelf.h>

#include <algorithm>
#include <cstring>

namespace profd::symbolizer_internal {

namespace {

// How public a name is, to choose among aliases at one address: a default version ("@@", where
// .gnu.version says) over a hidden one, global and weak over local, then fewer leading
// underscores, then global over weak. glibc has pthread_mutex_lock@@ beside a hidden
// __pthread_mutex_lock@, malloc beside __libc_malloc, the weak aligned_alloc beside
// __libc_memalign, and in its .symtab local __GI_ aliases of most functions.
int NameRank(std::string_view name, int binding, bool hidden_version) {
  int underscores = 0;
  while (underscores < static_cast<int>(name.size()) && name[underscores] == '_') underscores++;
  const bool exported = binding == STB_GLOBAL || binding == STB_WEAK;
  return (hidden_version ? 0 : 1000) + (exported ? 100 : 0) + (9 - std::min(underscores, 9)) * 10 +
         (binding == STB_GLOBAL ? 1 : 0);
}

bool ReadSymbols(Elf* elf, Elf_Scn* scn, const GElf_Shdr& shdr, Elf_Data* versions, auto&& add) {
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
    GElf_Versym version = 0;
    const bool hidden = versions != nullptr &&
                        gelf_getversym(versions, static_cast<int>(i), &version) != nullptr &&
                        (version & 0x8000) != 0;  // VERSYM_HIDDEN: not the default version
    // A symbol without a size (assembly, _fini) covers up to the next one, but never past its
    // section: lld places .plt right after .fini, whose _fini would otherwise take every stub.
    uint64_t limit = 0;
    GElf_Shdr section;
    if (sym.st_size == 0 && sym.st_shndx < SHN_LORESERVE &&
        gelf_getshdr(elf_getscn(elf, sym.st_shndx), &section) != nullptr &&
        (section.sh_flags & SHF_ALLOC))
      limit = section.sh_addr + section.sh_size;
    add(sym.st_value, sym.st_size, limit, std::string_view(name), file,
        NameRank(name, GELF_ST_BIND(sym.st_info), hidden));
    any = true;
  }
  return any;
}

// Names the PLT stubs "name@plt", as gdb and objdump do: entry i of .rela.plt jumps through the
// stub at .plt.sec + 16 i where there is one (IBT), else .plt + 16 + 16 i (after the header).
// The stubs have no symbols of their own; without this, calls through them borrow the name of
// whatever symbol precedes .plt.
void AddPltStubs(Elf* elf, Elf_Scn* dynsym, const GElf_Shdr& dynsym_shdr,
                 std::deque<std::string>* names, auto&& add) {
  size_t shstrndx = 0;
  if (dynsym == nullptr || elf_getshdrstrndx(elf, &shstrndx) != 0) return;
  Elf_Scn* rela = nullptr;
  GElf_Shdr rela_shdr{};
  GElf_Shdr plt{};
  GElf_Shdr plt_sec{};
  bool has_plt = false;
  bool has_plt_sec = false;
  Elf_Scn* scn = nullptr;
  while ((scn = elf_nextscn(elf, scn)) != nullptr) {
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr) == nullptr) continue;
    const char* name = elf_strptr(elf, shstrndx, shdr.sh_name);
    if (name == nullptr) continue;
    if (std::strcmp(name, ".rela.plt") == 0 && shdr.sh_type == SHT_RELA) {
      rela = scn;
      rela_shdr = shdr;
    } else if (std::strcmp(name, ".plt") == 0) {
      plt = shdr;
      has_plt = true;
    } else if (std::strcmp(name, ".plt.sec") == 0) {
      plt_sec = shdr;
      has_plt_sec = true;
    }
  }
  if (rela == nullptr || !(has_plt || has_plt_sec) || rela_shdr.sh_entsize == 0) return;
  Elf_Data* relocations = elf_getdata(rela, nullptr);
  Elf_Data* symbols = elf_getdata(dynsym, nullptr);
  if (relocations == nullptr || symbols == nullptr) return;
  const GElf_Shdr& stubs = has_plt_sec ? plt_sec : plt;
  const uint64_t first = has_plt_sec ? stubs.sh_addr : stubs.sh_addr + 16;
  const size_t count = rela_shdr.sh_size / rela_shdr.sh_entsize;
  for (size_t i = 0; i < count; ++i) {
    const uint64_t stub = first + 16 * i;
    if (stub + 16 > stubs.sh_addr + stubs.sh_size) break;
    GElf_Rela r;
    GElf_Sym sym;
    if (gelf_getrela(relocations, static_cast<int>(i), &r) == nullptr ||
        GELF_R_TYPE(r.r_info) != R_X86_64_JUMP_SLOT ||
        gelf_getsym(symbols, static_cast<int>(GELF_R_SYM(r.r_info)), &sym) == nullptr)
      continue;
    const char* name = elf_strptr(elf, dynsym_shdr.sh_link, sym.st_name);
    if (name == nullptr || name[0] == '\0') continue;
    names->push_back(std::string(name) + "@plt");  // a deque: earlier names never move
    add(stub, 16, 0, std::string_view(names->back()), std::string_view(), 0);
  }
}

}  // namespace

void ElfSymbolTable::Load(Elf* elf) {
  symbols_.clear();
  plt_names_.clear();
  Elf_Scn* symtab = nullptr;
  Elf_Scn* dynsym = nullptr;
  GElf_Shdr symtab_shdr{};
  GElf_Shdr dynsym_shdr{};
  Elf_Data* dynsym_versions = nullptr;  // .gnu.version: one entry per .dynsym symbol
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
    } else if (shdr.sh_type == SHT_GNU_versym) {
      dynsym_versions = elf_getdata(scn, nullptr);
    }
  }
  std::vector<int> ranks;
  auto add = [&](uint64_t address, uint64_t size, uint64_t limit, std::string_view name,
                 std::string_view file, int rank) {
    symbols_.push_back({address, size, limit, name, file});
    ranks.push_back(rank);
  };
  if (symtab == nullptr || !ReadSymbols(elf, symtab, symtab_shdr, nullptr, add)) {
    if (dynsym != nullptr) ReadSymbols(elf, dynsym, dynsym_shdr, dynsym_versions, add);
  }
  AddPltStubs(elf, dynsym, dynsym_shdr, &plt_names_, add);
  // Sort by (address, size, rank) and keep the last of each address: the largest, among equal
  // sizes the most public name (NameRank), then the last in table order.
  std::vector<uint32_t> order(symbols_.size());
  for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](uint32_t x, uint32_t y) {
    const Symbol& a = symbols_[x];
    const Symbol& b = symbols_[y];
    if (a.address != b.address) return a.address < b.address;
    return a.size != b.size ? a.size < b.size : ranks[x] < ranks[y];
  });
  std::vector<Symbol> sorted;
  sorted.reserve(order.size());
  for (uint32_t i : order) sorted.push_back(symbols_[i]);
  symbols_ = std::move(sorted);
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
  if (it->size == 0 && it->limit != 0 && address >= it->limit) return {};
  if (file != nullptr) *file = it->file;
  return it->name;
}

}  // namespace profd::symbolizer_internal

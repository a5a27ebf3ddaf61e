// The defined symbols of an ELF file's .dynsym: what a mapped file exports, which a stripped
// executable still has (the loader's debugger hook, CPython's _PyRuntime, the allocator); and of its
// .symtab where it keeps one.
#ifndef PROFD_DAEMON_PROCESS_ELF_DYNAMIC_SYMBOLS_H
#define PROFD_DAEMON_PROCESS_ELF_DYNAMIC_SYMBOLS_H

#include <gelf.h>
#include <libelf.h>

#include <functional>

namespace profd {

using SymbolVisitor = std::function<void(const char* name, const GElf_Sym& sym)>;

// Calls `visit` with the name and entry of every defined symbol of `elf`'s sections of
// `section_type` (SHT_DYNSYM or SHT_SYMTAB), in the file's order.
void ForEachSymbol(Elf* elf, Elf64_Word section_type, const SymbolVisitor& visit);

// The same for .dynsym.
void ForEachDynamicSymbol(Elf* elf, const SymbolVisitor& visit);

}  // namespace profd

#endif  // PROFD_DAEMON_PROCESS_ELF_DYNAMIC_SYMBOLS_H

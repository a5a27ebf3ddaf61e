// The defined symbols of an ELF file's .dynsym: what a mapped file exports, which a stripped
// executable still has (the loader's debugger hook, CPython's _PyRuntime).
#ifndef PROFD_DAEMON_PROCESS_ELF_DYNAMIC_SYMBOLS_H
#define PROFD_DAEMON_PROCESS_ELF_DYNAMIC_SYMBOLS_H

#include <gelf.h>
#include <libelf.h>

#include <functional>

namespace profd {

// Calls `visit` with the name and entry of every defined .dynsym symbol of `elf`.
void ForEachDynamicSymbol(Elf* elf,
                          const std::function<void(const char* name, const GElf_Sym& sym)>& visit);

}  // namespace profd

#endif  // PROFD_DAEMON_PROCESS_ELF_DYNAMIC_SYMBOLS_H

#include "collect/heap/allocator_probes.h"

#include <dlfcn.h>
#include <limits.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "base/log.h"
#include "base/unique_fd.h"
#include "process/elf_dynamic_symbols.h"

namespace profd {

const std::vector<std::string> kAllocatorFunctions = {
    "malloc", "calloc", "realloc", "reallocarray", "posix_memalign", "aligned_alloc", "memalign",
    "valloc", "pvalloc", "free",
    // operator new and new[]: plain, nothrow, aligned, aligned nothrow (the size comes first)
    "_Znwm", "_Znam", "_ZnwmRKSt9nothrow_t", "_ZnamRKSt9nothrow_t", "_ZnwmSt11align_val_t",
    "_ZnamSt11align_val_t", "_ZnwmSt11align_val_tRKSt9nothrow_t",
    "_ZnamSt11align_val_tRKSt9nothrow_t",
    // operator delete and delete[]: plain, sized, aligned, sized aligned, nothrow (the pointer
    // comes first)
    "_ZdlPv", "_ZdaPv", "_ZdlPvm", "_ZdaPvm", "_ZdlPvSt11align_val_t", "_ZdaPvSt11align_val_t",
    "_ZdlPvmSt11align_val_t", "_ZdaPvmSt11align_val_t", "_ZdlPvRKSt9nothrow_t",
    "_ZdaPvRKSt9nothrow_t"};

namespace {

bool IsAllocatorFunction(const char* name) {
  for (const std::string& f : kAllocatorFunctions)
    if (f == name) return true;
  return false;
}

// The file offset of virtual address `vaddr`, from the PT_LOAD segment holding it.
bool VaddrToOffset(Elf* elf, uint64_t vaddr, uint64_t* offset) {
  size_t count = 0;
  if (elf_getphdrnum(elf, &count) != 0) return false;
  for (size_t i = 0; i < count; i++) {
    GElf_Phdr phdr;
    if (!gelf_getphdr(elf, static_cast<int>(i), &phdr) || phdr.p_type != PT_LOAD) continue;
    if (vaddr >= phdr.p_vaddr && vaddr < phdr.p_vaddr + phdr.p_filesz) {
      *offset = vaddr - phdr.p_vaddr + phdr.p_offset;
      return true;
    }
  }
  return false;
}

using SymbolFilter = bool (*)(const char* name, int type);

bool IsAllocatorEntry(const char* name, int type) {
  return type == STT_FUNC && IsAllocatorFunction(name);
}

bool IsPreloadPoint(const char* name, int) {  // asm labels: no type
  return std::strncmp(name, kPreloadSampledPrefix, std::strlen(kPreloadSampledPrefix)) == 0 ||
         std::strncmp(name, kPreloadFreedPrefix, std::strlen(kPreloadFreedPrefix)) == 0;
}

void ReadSymbols(Elf* elf, Elf64_Word section_type, SymbolFilter accept,
                 std::map<std::string, AllocatorFunction>* found) {
  ForEachSymbol(elf, section_type, [&](const char* name, const GElf_Sym& sym) {
    if (sym.st_value == 0) return;
    const int bind = GELF_ST_BIND(sym.st_info);
    if (bind != STB_GLOBAL && bind != STB_WEAK) return;  // a local malloc is not the one called
    if (!accept(name, GELF_ST_TYPE(sym.st_info)) || found->count(name)) return;
    uint64_t offset;
    if (VaddrToOffset(elf, sym.st_value, &offset)) (*found)[name] = {offset, sym.st_size};
  });
}

bool IsLibc(const std::string& path) {
  const std::string name = path.substr(path.rfind('/') + 1);
  return name.rfind("libc.so", 0) == 0 || name.rfind("libc-", 0) == 0;
}

std::map<std::string, AllocatorFunction> FindSymbols(const std::string& path,
                                                     SymbolFilter accept) {
  std::map<std::string, AllocatorFunction> found;
  elf_version(EV_CURRENT);
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return found;
  Elf* elf = elf_begin(fd.get(), ELF_C_READ_MMAP, nullptr);
  if (!elf) return found;
  // .dynsym is what the dynamic linker binds; .symtab adds static binaries' definitions.
  for (Elf64_Word type : {SHT_DYNSYM, SHT_SYMTAB}) ReadSymbols(elf, type, accept, &found);
  elf_end(elf);
  return found;
}

}  // namespace

std::map<std::string, AllocatorFunction> FindAllocatorFunctions(const std::string& path) {
  return FindSymbols(path, IsAllocatorEntry);
}

std::map<std::string, AllocatorFunction> FindPreloadPoints(const std::string& path) {
  return FindSymbols(path, IsPreloadPoint);
}

bool FindAllocator(const ProcessInfo& process, Allocator* allocator, std::string* error) {
  auto defines_malloc = [](const std::map<std::string, AllocatorFunction>& f) {
    return f.count("malloc") && f.count("free");
  };
  const Mapping* main = process.MainMapping();
  const Mapping* libc = nullptr;
  std::map<std::string, AllocatorFunction> libc_functions;
  // The executable first: the dynamic linker binds its definitions before any library's.
  std::vector<const Mapping*> order;
  if (main) order.push_back(main);
  for (const Mapping& m : process.mappings)
    if (&m != main && m.file && !m.is_vdso) order.push_back(&m);
  std::map<const MappedFile*, bool> seen;
  for (const Mapping* m : order) {
    if (!m->file || seen[m->file.get()]) continue;
    seen[m->file.get()] = true;
    std::map<std::string, AllocatorFunction> functions =
        FindAllocatorFunctions(m->file->open_path());
    if (!defines_malloc(functions)) continue;
    if (IsLibc(m->path)) {
      libc = m;
      libc_functions = std::move(functions);
      continue;
    }
    *allocator = {m, std::move(functions)};
    return true;
  }
  if (libc) {
    *allocator = {libc, std::move(libc_functions)};
    return true;
  }
  *error = "pid " + std::to_string(process.pid) + " (" + process.comm +
           ") has no malloc and free to probe: neither its executable nor a library it maps "
           "defines them (a Go program allocates through the Go runtime: use its own "
           "/debug/pprof/heap; a stripped static binary hides its allocator)";
  return false;
}

std::string PreloadLibrary(bool jemalloc) {
  char self[4096];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n <= 0) return "";
  std::string dir(self, static_cast<size_t>(n));
  dir = dir.substr(0, dir.rfind('/'));
  const std::string name = jemalloc ? "libprofd_preload_jemalloc.so" : "libprofd_preload.so";
  for (const char* folder : {"/../lib/profd/", "/../preload/"}) {
    char resolved[PATH_MAX];
    if (!realpath((dir + folder + name).c_str(), resolved)) continue;
    struct stat st;
    if (stat(resolved, &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if ((st.st_uid != 0 && st.st_uid != geteuid()) || (st.st_mode & 022)) {
      LogWarning(std::string(resolved) + " is writable by others than its owner, or not root's: " +
                 "not preloaded");
      continue;
    }
    return resolved;
  }
  return "";
}

bool CommandUsesJemalloc(const std::string& path, const std::string& preloaded) {
  if (preloaded.find("libjemalloc") != std::string::npos) return true;
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return false;
  elf_version(EV_CURRENT);
  Elf* elf = elf_begin(fd.get(), ELF_C_READ, nullptr);
  if (!elf) return false;
  bool found = false;
  Elf_Scn* section = nullptr;
  while (!found && (section = elf_nextscn(elf, section)) != nullptr) {
    GElf_Shdr header;
    if (!gelf_getshdr(section, &header) || header.sh_type != SHT_DYNAMIC || header.sh_entsize == 0)
      continue;
    Elf_Data* data = elf_getdata(section, nullptr);
    if (!data) continue;
    for (size_t i = 0; i < header.sh_size / header.sh_entsize; i++) {
      GElf_Dyn entry;
      if (!gelf_getdyn(data, static_cast<int>(i), &entry) || entry.d_tag != DT_NEEDED) continue;
      const char* needed = elf_strptr(elf, header.sh_link, entry.d_un.d_val);
      if (needed && std::strncmp(needed, "libjemalloc", 11) == 0) found = true;
    }
  }
  elf_end(elf);
  return found;
}

bool FindOwnFree(std::string* path, uint64_t* offset, std::string* error) {
  Dl_info info;
  if (!dladdr(reinterpret_cast<void*>(free), &info) || !info.dli_fname) {
    *error = "cannot find profd's own C library";
    return false;
  }
  const std::map<std::string, AllocatorFunction> functions = FindAllocatorFunctions(info.dli_fname);
  const auto it = functions.find("free");
  if (it == functions.end()) {
    *error = std::string("cannot find free() in ") + info.dli_fname;
    return false;
  }
  *path = info.dli_fname;
  *offset = it->second.offset;
  return true;
}

}  // namespace profd

#include "process/python_runtime.h"

#include <gelf.h>
#include <libelf.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <vector>

#include "process/elf_dynamic_symbols.h"
#include "process/loaded_unwind_tables.h"
#include "process/python_offsets.h"

namespace profd {
namespace {

constexpr size_t kMaxNameBytes = 1024;
constexpr size_t kMaxLineTableBytes = 64 * 1024;

struct DynamicSymbol {
  uint64_t value = 0;
  uint64_t size = 0;
};

// The .dynsym symbols of `fd` named in `wanted` (the interpreter exports what we need).
std::map<std::string, DynamicSymbol> FindDynamicSymbols(int fd,
                                                        const std::vector<std::string>& wanted) {
  std::map<std::string, DynamicSymbol> found;
  elf_version(EV_CURRENT);
  Elf* elf = elf_begin(fd, ELF_C_READ_MMAP, nullptr);
  if (!elf) return found;
  ForEachDynamicSymbol(elf, [&](const char* name, const GElf_Sym& sym) {
    for (const std::string& w : wanted)
      if (w == name) found[w] = {sym.st_value, sym.st_size};
  });
  elf_end(elf);
  return found;
}

// Reads `size` bytes of the file at ELF virtual address `vaddr` (in a PT_LOAD's file part).
bool ReadFileAtVaddr(int fd, uint64_t vaddr, void* out, size_t size) {
  elf_version(EV_CURRENT);
  Elf* elf = elf_begin(fd, ELF_C_READ_MMAP, nullptr);
  if (!elf) return false;
  bool read = false;
  size_t count = 0;
  if (elf_getphdrnum(elf, &count) == 0) {
    for (size_t i = 0; i < count && !read; i++) {
      GElf_Phdr phdr;
      if (!gelf_getphdr(elf, static_cast<int>(i), &phdr) || phdr.p_type != PT_LOAD) continue;
      if (vaddr < phdr.p_vaddr || vaddr + size > phdr.p_vaddr + phdr.p_filesz) continue;
      const off_t at = static_cast<off_t>(phdr.p_offset + (vaddr - phdr.p_vaddr));
      read = pread(fd, out, size, at) == static_cast<ssize_t>(size);
    }
  }
  elf_end(elf);
  return read;
}

bool LooksLikePython(const std::string& path) {
  const size_t slash = path.rfind('/');
  const std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  return name.find("python") != std::string::npos;
}

bool ReadMemory(pid_t pid, uint64_t address, void* out, size_t size) {
  struct iovec local = {out, size};
  struct iovec remote = {reinterpret_cast<void*>(address), size};
  return process_vm_readv(pid, &local, 1, &remote, 1, 0) == static_cast<ssize_t>(size);
}

template <typename T>
bool ReadValue(pid_t pid, uint64_t address, T* out) {
  return ReadMemory(pid, address, out, sizeof(T));
}

// Appends code point `c` to `out` in UTF-8 (a lone surrogate as U+FFFD).
void AppendUtf8(uint32_t c, std::string* out) {
  if ((c >= 0xD800 && c <= 0xDFFF) || c > 0x10FFFF) c = 0xFFFD;
  if (c < 0x80) {
    out->push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (c >> 6)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (c >> 12)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (c >> 18)));
    out->push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

}  // namespace

std::string DecodePythonCharacters(const std::string& data, int kind) {
  std::string out;
  const size_t width = static_cast<size_t>(kind);
  for (size_t i = 0; width && i + width <= data.size() && out.size() < kMaxNameBytes; i += width) {
    uint32_t c = 0;
    std::memcpy(&c, data.data() + i, width);  // little-endian: the low bytes hold the value
    AppendUtf8(c, &out);
  }
  return out;
}

namespace {

// A str object's text in UTF-8. Compact strings only (every name and path a code object holds):
// ASCII as it is; others one, two or four bytes a character (the state's kind), the cached UTF-8
// form when the interpreter made one.
bool ReadPythonString(pid_t pid, const profd_python_offsets& o, uint64_t object, std::string* out) {
  uint32_t state = 0;
  if (!object || !ReadValue(pid, object + o.unicode_state, &state)) return false;
  const bool compact = state & (1u << 5), ascii = state & (1u << 6);
  const int kind = static_cast<int>((state >> 2) & 7);
  if (!compact) return false;
  uint64_t data = 0;
  int64_t length = 0;
  if (ascii) {
    data = object + o.unicode_ascii_data;
    if (!ReadValue(pid, object + o.unicode_length, &length)) return false;
  } else if (ReadValue(pid, object + o.unicode_utf8, &data) && data &&
             ReadValue(pid, object + o.unicode_utf8_length, &length)) {
    // UTF-8 cached: read as it is.
  } else {
    if (kind != 1 && kind != 2 && kind != 4) return false;
    if (!ReadValue(pid, object + o.unicode_length, &length) || length < 0) return false;
    std::string characters(std::min<size_t>(static_cast<size_t>(length), kMaxNameBytes) *
                               static_cast<size_t>(kind),
                           '\0');
    if (!characters.empty() &&
        !ReadMemory(pid, object + o.unicode_compact_data, characters.data(), characters.size()))
      return false;
    *out = DecodePythonCharacters(characters, kind);
    return true;
  }
  if (length < 0) return false;
  out->resize(std::min<size_t>(static_cast<size_t>(length), kMaxNameBytes));
  return out->empty() || ReadMemory(pid, data, out->data(), out->size());
}

bool ReadPythonBytes(pid_t pid, const profd_python_offsets& o, uint64_t object, std::string* out) {
  int64_t size = 0;
  if (!object || !ReadValue(pid, object + o.var_size, &size) || size < 0 ||
      static_cast<size_t>(size) > kMaxLineTableBytes)
    return false;
  out->resize(static_cast<size_t>(size));
  return out->empty() || ReadMemory(pid, object + o.bytes_data, out->data(), out->size());
}

}  // namespace

const profd_python_offsets* PythonOffsetsFor(int major, int minor) {
  if (major == 3 && minor == 11) return &kProfdPython311Offsets;
  return nullptr;
}

std::optional<PythonRuntime> FindPythonRuntime(const ProcessInfo& process) {
  for (const Mapping& m : process.mappings) {
    if (!m.file || !LooksLikePython(m.file->path)) continue;
    const int fd = m.file->fd.get();
    const auto symbols = FindDynamicSymbols(
        fd, {"_PyRuntime", "_PyEval_EvalFrameDefault", "Py_Version", "PyCode_Type"});
    if (!symbols.count("_PyRuntime") || !symbols.count("_PyEval_EvalFrameDefault") ||
        !symbols.count("Py_Version") || !symbols.count("PyCode_Type"))
      continue;
    uint32_t version = 0;  // PY_VERSION_HEX: 0x030b02f0 is 3.11.2
    if (!ReadFileAtVaddr(fd, symbols.at("Py_Version").value, &version, sizeof(version))) continue;
    PythonRuntime runtime;
    runtime.major = static_cast<int>(version >> 24);
    runtime.minor = static_cast<int>((version >> 16) & 0xff);
    const profd_python_offsets* offsets = PythonOffsetsFor(runtime.major, runtime.minor);
    uint64_t bias = 0;
    if (!offsets || !MappingBias(fd, m.start, m.offset, &bias)) continue;
    runtime.interpreter = m.file->path;
    runtime.code_type = symbols.at("PyCode_Type").value + bias;
    std::memset(&runtime.bpf, 0, sizeof(runtime.bpf));
    runtime.bpf.runtime = symbols.at("_PyRuntime").value + bias;
    const DynamicSymbol& eval = symbols.at("_PyEval_EvalFrameDefault");
    runtime.bpf.eval_start = eval.value + bias;
    runtime.bpf.eval_end = eval.value + bias + eval.size;
    runtime.bpf.offsets = *offsets;
    return runtime;
  }
  return std::nullopt;
}

std::vector<PythonFrame> ReadPythonFrames(pid_t pid, const PythonRuntime& runtime,
                                          uint64_t thread_pointer) {
  const profd_python_offsets& o = runtime.bpf.offsets;
  auto pointer = [pid](uint64_t address) {
    uint64_t value = 0;
    return address && ReadValue(pid, address, &value) ? value : 0;
  };
  // The thread's PyThreadState: the GIL holder, else its entry in the main interpreter's list (a
  // dump looks further than BPF's 1,024: up to 4096 threads).
  uint64_t tstate = pointer(runtime.bpf.runtime + o.runtime_tstate_current);
  if (!tstate || pointer(tstate + o.tstate_thread_id) != thread_pointer) {
    const uint64_t interp = pointer(runtime.bpf.runtime + o.runtime_interpreters_head);
    tstate = interp ? pointer(interp + o.interp_threads_head) : 0;
    for (int i = 0; i < 4096 && tstate && pointer(tstate + o.tstate_thread_id) != thread_pointer;
         i++)
      tstate = pointer(tstate + o.tstate_next);
  }
  std::vector<PythonFrame> frames;
  const uint64_t cframe = tstate ? pointer(tstate + o.tstate_cframe) : 0;
  uint64_t frame = cframe ? pointer(cframe + o.cframe_current_frame) : 0;
  while (frame && frames.size() < PROFD_PYTHON_MAX_FRAMES) {
    uint64_t code = 0, previous = 0, prev_instr = 0;
    uint8_t is_entry = 0;
    if (!ReadValue(pid, frame + o.frame_code, &code) ||
        !ReadValue(pid, frame + o.frame_previous, &previous) ||
        !ReadValue(pid, frame + o.frame_prev_instr, &prev_instr) ||
        !ReadValue(pid, frame + o.frame_is_entry, &is_entry) || !code || (code >> 47) != 0)
      break;
    frames.push_back(
        {profd_python_frame_value(code, prev_instr, o.code_code_adaptive), is_entry != 0});
    frame = previous;
  }
  return frames;
}

std::vector<uint64_t> MergePythonFrames(const std::vector<uint64_t>& native,
                                        const std::vector<PythonFrame>& python, uint64_t eval_start,
                                        uint64_t eval_end) {
  std::vector<uint64_t> out;
  size_t next = 0;       // the next Python frame
  bool pending = false;  // emitting the Python frames of one eval call, up to its entry frame
  auto emit = [&] {
    pending = !python[next].entry && next + 1 < python.size();
    out.push_back(python[next++].value);
  };
  for (uint64_t ip : native) {
    while (pending && out.size() < PROFD_MAX_FRAMES) emit();
    if (out.size() == PROFD_MAX_FRAMES) return out;
    if (ip >= eval_start && ip < eval_end && next < python.size())
      emit();
    else
      out.push_back(ip);
  }
  while (pending && out.size() < PROFD_MAX_FRAMES) emit();
  return out;
}

bool ReadPythonCode(pid_t pid, const PythonRuntime& runtime, uint64_t address, PythonCode* code) {
  const profd_python_offsets& o = runtime.bpf.offsets;
  uint64_t type = 0, qualname = 0, filename = 0, line_table = 0;
  int32_t first_line = 0;
  if (!ReadValue(pid, address + o.object_type, &type) || type != runtime.code_type) return false;
  if (!ReadValue(pid, address + o.code_qualname, &qualname) ||
      !ReadValue(pid, address + o.code_filename, &filename) ||
      !ReadValue(pid, address + o.code_linetable, &line_table) ||
      !ReadValue(pid, address + o.code_firstlineno, &first_line))
    return false;
  code->first_line = first_line;
  if (!ReadPythonString(pid, o, qualname, &code->qualname)) code->qualname = "<unknown>";
  if (!ReadPythonString(pid, o, filename, &code->filename)) code->filename.clear();
  if (!ReadPythonBytes(pid, o, line_table, &code->line_table)) code->line_table.clear();
  return true;
}

}  // namespace profd

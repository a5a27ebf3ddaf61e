#include "profiles/python_frames.h"

#include <cinttypes>
#include <cstdio>

#include "python_line_table.h"

namespace profd {
namespace {

uint64_t CodeAddress(uint64_t frame) {
  return ((frame >> PROFD_PYTHON_CODE_SHIFT) & PROFD_PYTHON_CODE_MASK) << 3;
}

// "pkg/mod.py" is module "mod" (the package is not worth a lookup here).
std::string ModuleOf(const std::string& filename) {
  const size_t slash = filename.rfind('/');
  std::string name = slash == std::string::npos ? filename : filename.substr(slash + 1);
  if (name.size() > 3 && name.ends_with(".py")) name.resize(name.size() - 3);
  return name.empty() ? "?" : name;
}

}  // namespace

bool IsPythonFrame(uint64_t frame) {
  return (frame & PROFD_PYTHON_FRAME_TAG_MASK) == PROFD_PYTHON_FRAME_TAG;
}

const PythonRuntime* PythonFrameNames::RuntimeOf(const ProcessInfo& process) {
  auto [it, inserted] = runtimes_.try_emplace(ProcessKey{process.pid, process.start_ticks});
  if (inserted) it->second = FindPythonRuntime(process);
  return it->second ? &*it->second : nullptr;
}

const PythonCode* PythonFrameNames::CodeOf(const ProcessInfo& process, uint64_t address) {
  const std::pair<ProcessKey, uint64_t> key{{process.pid, process.start_ticks}, address};
  auto found = codes_.find(key);
  if (found != codes_.end() && found->second) return &*found->second;
  // Not read, or not readable the last time: the process may have been gone, try while it lives.
  const PythonRuntime* runtime = RuntimeOf(process);
  PythonCode code;
  if (!runtime || !ReadPythonCode(process.pid, *runtime, address, &code)) {
    codes_.try_emplace(key);
    return nullptr;
  }
  auto& slot = codes_[key];
  slot = std::move(code);
  return &*slot;
}

void PythonFrameNames::Learn(const std::vector<profd_python_code_seen>& codes,
                             const ProcessTable& processes) {
  for (const profd_python_code_seen& code : codes) {
    const ProcessInfo* process = processes.Find(static_cast<pid_t>(code.pid));
    if (process && process->start_ticks == code.start_ticks) CodeOf(*process, code.code);
  }
}

bool PythonFrameNames::Name(const ProcessInfo* process, uint64_t frame, LineInfo* line,
                            std::string* interpreter) {
  const uint64_t address = CodeAddress(frame);
  const PythonCode* code = process ? CodeOf(*process, address) : nullptr;
  const PythonRuntime* runtime = process ? RuntimeOf(*process) : nullptr;
  *interpreter = runtime ? runtime->interpreter : "";
  if (!code) {
    char name[64];
    std::snprintf(name, sizeof(name), "[python code 0x%" PRIx64 "]", address);
    line->function = line->system_name = name;
    return false;
  }
  // The system name differs from the name, so pprof does not take "<module>" or
  // "f.<locals>.g" for C++ templates and cut them: module-qualified, by the file's name.
  line->function = code->qualname;
  line->system_name = ModuleOf(code->filename) + "." + code->qualname;
  line->filename = code->filename;
  line->start_line = code->first_line;
  const uint32_t unit = static_cast<uint32_t>(frame & PROFD_PYTHON_OFFSET_MASK);
  if (unit != PROFD_PYTHON_OFFSET_MASK)
    line->line = PythonLineOf(code->line_table, code->first_line, unit);
  if (line->line == 0) line->line = code->first_line;
  return true;
}

}  // namespace profd

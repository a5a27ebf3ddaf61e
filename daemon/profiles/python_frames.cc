#include "profiles/python_frames.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <string_view>

#include "python_line_table.h"

namespace profd {
namespace {

uint64_t CodeAddress(uint64_t frame) {
  return ((frame >> PROFD_PYTHON_CODE_SHIFT) & PROFD_PYTHON_CODE_MASK) << 3;
}

}  // namespace

std::string PythonModuleName(const std::string& filename) {
  if (filename.starts_with("<frozen ") && filename.ends_with(">"))
    return filename.substr(8, filename.size() - 9);
  std::string path = filename;
  // Below the last site-packages or dist-packages directory, the path is the dotted name.
  size_t root = std::string::npos;
  for (const std::string_view marker : {"/site-packages/", "/dist-packages/"})
    if (size_t at = path.rfind(marker);
        at != std::string::npos && (root == std::string::npos || at + marker.size() > root))
      root = at + marker.size();
  if (root == std::string::npos) {
    // .../lib/python3.11/NAME: the standard library.
    for (size_t at = path.find("/lib/python"); at != std::string::npos;
         at = path.find("/lib/python", at + 1)) {
      const size_t end = path.find('/', at + 11);
      if (end != std::string::npos) root = end + 1;
    }
  }
  if (root == std::string::npos) {
    const size_t slash = path.rfind('/');
    root = slash == std::string::npos ? 0 : slash + 1;
  }
  path = path.substr(root);
  if (path.ends_with(".py")) path.resize(path.size() - 3);
  if (path.ends_with("/__init__")) path.resize(path.size() - 9);
  std::replace(path.begin(), path.end(), '/', '.');
  return path.empty() ? "?" : path;
}

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
  std::lock_guard<std::mutex> lock(mutex_);
  for (const profd_python_code_seen& code : codes) {
    const ProcessInfo* process = processes.Find(static_cast<pid_t>(code.pid));
    if (process && process->start_ticks == code.start_ticks) CodeOf(*process, code.code);
  }
}

bool PythonFrameNames::Name(const ProcessInfo* process, uint64_t frame, LineInfo* line,
                            std::string* interpreter) {
  std::lock_guard<std::mutex> lock(mutex_);
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
  line->system_name = PythonModuleName(code->filename) + "." + code->qualname;
  line->filename = code->filename;
  line->start_line = code->first_line;
  const uint32_t unit = static_cast<uint32_t>(frame & PROFD_PYTHON_OFFSET_MASK);
  if (unit != PROFD_PYTHON_OFFSET_MASK)
    line->line = PythonLineOf(code->line_table, code->first_line, unit);
  if (line->line == 0) line->line = code->first_line;
  return true;
}

namespace {

// True when `processes` holds the process of `key` (the same pid, started at the same time).
bool Holds(const ProcessTable& processes, const std::pair<pid_t, uint64_t>& key) {
  const ProcessInfo* process = processes.Find(key.first);
  return process && process->start_ticks == key.second;
}

}  // namespace

void PythonFrameNames::KeepOnly(const ProcessTable& processes) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::erase_if(runtimes_, [&](const auto& entry) { return !Holds(processes, entry.first); });
  std::erase_if(codes_, [&](const auto& entry) { return !Holds(processes, entry.first.first); });
}

size_t PythonFrameNames::processes() {
  std::lock_guard<std::mutex> lock(mutex_);
  return std::count_if(runtimes_.begin(), runtimes_.end(),
                       [](const auto& entry) { return entry.second.has_value(); });
}

std::unique_ptr<PythonFrameNames> PythonFrameNames::CopyFor(const ProcessTable& processes) {
  auto copy = std::make_unique<PythonFrameNames>();
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& entry : runtimes_)
    if (Holds(processes, entry.first)) copy->runtimes_.insert(entry);
  for (const auto& entry : codes_)
    if (Holds(processes, entry.first.first)) copy->codes_.insert(entry);
  return copy;
}

}  // namespace profd

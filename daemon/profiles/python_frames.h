// Python frames of user stacks (bpf/profd_abi.h's tagged values) named from the code objects in the
// process's memory: function co_qualname, file co_filename, line from co_linetable. Code objects
// are read while the process lives (Learn, during the window: a launched command has exited by the
// time its profile is assembled) and cached by (pid, start time, code address) for the profile's
// assembly: a reused pid is another process, whose code objects are its own.
#ifndef PROFD_DAEMON_PROFILES_PYTHON_FRAMES_H
#define PROFD_DAEMON_PROFILES_PYTHON_FRAMES_H

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "process/process_table.h"
#include "process/python_runtime.h"
#include "profile_builder.h"

namespace profd {

// True for a Python frame of a user stack.
bool IsPythonFrame(uint64_t frame);

// The module a code object's file is, as its import names it, without reading the target's
// sys.path: below site-packages, dist-packages or the standard library's lib/pythonX.Y the path is
// the dotted name ("/usr/lib/python3.11/json/decoder.py" is json.decoder, a package's __init__.py
// the package); elsewhere (a script) the file's name; "<frozen importlib._bootstrap>" its inside.
std::string PythonModuleName(const std::string& filename);

// Safe for several threads at once (the daemon's requests share one).
class PythonFrameNames {
 public:
  // Reads the code objects the BPF walk met for the first time (StackCollector::
  // TakeNewPythonCodes), while their processes live; those of a process gone or replaced at its
  // pid are left.
  void Learn(const std::vector<profd_python_code_seen>& codes, const ProcessTable& processes);

  // The frame's function, file and line; false when its code object could not be read (then
  // `line` names the code object's address). `interpreter` is the CPython file, "" when unknown.
  bool Name(const ProcessInfo* process, uint64_t frame, LineInfo* line, std::string* interpreter);

  // Forgets the processes `processes` no longer holds (exited, or their pid reused), for a cache
  // that lives as long as the daemon.
  void KeepOnly(const ProcessTable& processes);

  // How many CPython processes it holds names of.
  size_t processes();

  // A copy of what names the frames of `processes` (a request's snapshot of them), so the request
  // names its frames while the shared cache forgets processes that exited.
  std::unique_ptr<PythonFrameNames> CopyFor(const ProcessTable& processes);

 private:
  const PythonRuntime* RuntimeOf(const ProcessInfo& process);
  const PythonCode* CodeOf(const ProcessInfo& process, uint64_t address);

  // A process: its pid and start time (ProcessInfo::start_ticks).
  using ProcessKey = std::pair<pid_t, uint64_t>;
  std::mutex mutex_;
  std::map<ProcessKey, std::optional<PythonRuntime>> runtimes_;
  std::map<std::pair<ProcessKey, uint64_t>, std::optional<PythonCode>> codes_;
};

}  // namespace profd

#endif  // PROFD_DAEMON_PROFILES_PYTHON_FRAMES_H

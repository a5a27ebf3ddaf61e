// CPython processes: which interpreter a process runs (its executable or a libpython mapping that
// defines _PyRuntime), what the BPF unwinder needs to walk its Python frames, and its code objects
// read from its memory for symbolization.
#ifndef PROFD_DAEMON_PROCESS_PYTHON_RUNTIME_H
#define PROFD_DAEMON_PROCESS_PYTHON_RUNTIME_H

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "process/process_table.h"
#include "profd_abi.h"

namespace profd {

struct PythonRuntime {
  int major = 0;
  int minor = 0;
  std::string interpreter;   // the mapped file defining _PyRuntime
  uint64_t code_type = 0;    // runtime address of PyCode_Type: a code object's ob_type
  profd_python_process bpf;  // for python_processes: runtime, eval range, offsets
};

// The CPython runtime of `process`, when one of its files named like python (python3.11,
// libpython3.11.so.1.0) defines _PyRuntime and _PyEval_EvalFrameDefault and its Py_Version is a
// version we have offsets for (3.11).
std::optional<PythonRuntime> FindPythonRuntime(const ProcessInfo& process);

// The struct offsets of CPython major.minor, or null when we have none.
const profd_python_offsets* PythonOffsetsFor(int major, int minor);

// What a code object says of its function.
struct PythonCode {
  std::string qualname;    // co_qualname ("Class.method", "main.<locals>.f")
  std::string filename;    // co_filename
  int first_line = 0;      // co_firstlineno
  std::string line_table;  // co_linetable's bytes (PythonLineOf decodes them)
};

// Reads the code object at `address` in process `pid`; false when it cannot be read or is not a
// code object (its type is not `runtime.code_type`). Names are bounded to 1 KiB, the line table
// to 64 KiB.
bool ReadPythonCode(pid_t pid, const PythonRuntime& runtime, uint64_t address, PythonCode* code);

// A compact str's characters, `kind` bytes each (1: Latin-1, 2: UCS-2, 4: UCS-4, as CPython keeps
// them), in UTF-8; at most 1024 bytes of it.
std::string DecodePythonCharacters(const std::string& data, int kind);

// One Python frame of a thread, as the BPF walk reads it.
struct PythonFrame {
  uint64_t value = 0;  // the stack value (profd_python_frame_value)
  bool entry = false;  // the first frame its native eval call ran: the last that call replaces
};

// The Python frames of the thread whose pthread_self() is `thread_pointer` (fs_base on x86-64),
// innermost first, at most PROFD_PYTHON_MAX_FRAMES; empty when it runs no Python. Read with the
// thread stopped, so they match its native stack.
std::vector<PythonFrame> ReadPythonFrames(pid_t pid, const PythonRuntime& runtime,
                                          uint64_t thread_pointer);

// The native stack `native` (leaf first) with each frame in the eval function
// [eval_start, eval_end) replaced by the Python frames it runs, up to and including the next entry
// frame, as the BPF walk merges them (bpf/python_frames.bpf.h); at most PROFD_MAX_FRAMES.
std::vector<uint64_t> MergePythonFrames(const std::vector<uint64_t>& native,
                                        const std::vector<PythonFrame>& python, uint64_t eval_start,
                                        uint64_t eval_end);

}  // namespace profd

#endif  // PROFD_DAEMON_PROCESS_PYTHON_RUNTIME_H

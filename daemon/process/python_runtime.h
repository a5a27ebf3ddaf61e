// CPython processes: which interpreter a process runs (its executable or a libpython mapping that
// defines _PyRuntime), what the BPF unwinder needs to walk its Python frames, and its code objects
// read from its memory for symbolization.
#ifndef PROFD_DAEMON_PROCESS_PYTHON_RUNTIME_H
#define PROFD_DAEMON_PROCESS_PYTHON_RUNTIME_H

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

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

}  // namespace profd

#endif  // PROFD_DAEMON_PROCESS_PYTHON_RUNTIME_H

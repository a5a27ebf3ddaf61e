/* Checks daemon/process/python_offsets.h against the installed CPython headers: the headers are the
 * truth. Built and run by ctest (python_offsets_3_11) where python3.11-dev is installed. */
#define Py_BUILD_CORE 1
#include <Python.h>
#include <internal/pycore_frame.h>
#include <internal/pycore_interp.h>
#include <internal/pycore_runtime.h>
#include <stddef.h>
#include <stdio.h>

#include "process/python_offsets.h"

#if PY_MAJOR_VERSION != 3 || PY_MINOR_VERSION != 11
#error "python_offsets_check is built against CPython 3.11's headers"
#endif

static int failures;

static void Check(const char *field, unsigned ours, size_t truth) {
  if (ours == truth) return;
  printf("%s: table %u, headers %zu\n", field, ours, truth);
  failures++;
}

#define CHECK(ours, type, member) Check(#type "." #member, o->ours, offsetof(type, member))

int main(void) {
  const struct profd_python_offsets *o = &kProfdPython311Offsets;
  CHECK(runtime_tstate_current, _PyRuntimeState, gilstate.tstate_current);
  CHECK(runtime_interpreters_head, _PyRuntimeState, interpreters.head);
  CHECK(interp_threads_head, PyInterpreterState, threads.head);
  CHECK(tstate_next, PyThreadState, next);
  CHECK(tstate_cframe, PyThreadState, cframe);
  CHECK(tstate_thread_id, PyThreadState, thread_id);
  CHECK(cframe_current_frame, _PyCFrame, current_frame);
  CHECK(frame_code, _PyInterpreterFrame, f_code);
  CHECK(frame_previous, _PyInterpreterFrame, previous);
  CHECK(frame_prev_instr, _PyInterpreterFrame, prev_instr);
  CHECK(frame_is_entry, _PyInterpreterFrame, is_entry);
  CHECK(code_code_adaptive, PyCodeObject, co_code_adaptive);
  CHECK(code_qualname, PyCodeObject, co_qualname);
  CHECK(code_filename, PyCodeObject, co_filename);
  CHECK(code_firstlineno, PyCodeObject, co_firstlineno);
  CHECK(code_linetable, PyCodeObject, co_linetable);
  CHECK(object_type, PyObject, ob_type);
  CHECK(var_size, PyVarObject, ob_size);
  CHECK(bytes_data, PyBytesObject, ob_sval);
  CHECK(unicode_length, PyASCIIObject, length);
  CHECK(unicode_state, PyASCIIObject, state);
  Check("sizeof(PyASCIIObject)", o->unicode_ascii_data, sizeof(PyASCIIObject));
  CHECK(unicode_utf8_length, PyCompactUnicodeObject, utf8_length);
  CHECK(unicode_utf8, PyCompactUnicodeObject, utf8);
  Check("sizeof(PyCompactUnicodeObject)", o->unicode_compact_data, sizeof(PyCompactUnicodeObject));
  /* The sizes BPF and the daemon read. */
  Check("sizeof(thread_id)", sizeof(unsigned long), sizeof(((PyThreadState *)0)->thread_id));
  Check("sizeof(is_entry)", 1, sizeof(((_PyInterpreterFrame *)0)->is_entry));
  Check("sizeof(_Py_CODEUNIT)", 2, sizeof(_Py_CODEUNIT));
  Check("sizeof(co_firstlineno)", 4, sizeof(((PyCodeObject *)0)->co_firstlineno));
  if (failures) return 1;
  printf("CPython %s: every offset of python_offsets.h matches the headers\n", PY_VERSION);
  return 0;
}

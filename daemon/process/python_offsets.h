/* CPython's struct offsets by version, written from the version's own headers (Include/internal/
 * pycore_frame.h, pycore_runtime.h, pycore_interp.h, cpython/pystate.h, cpython/code.h,
 * cpython/unicodeobject.h; x86-64). Plain C: tests/daemon/python_offsets_check.c compiles it against
 * the installed Python.h with Py_BUILD_CORE and compares every field with offsetof(). */
#ifndef PROFD_DAEMON_PROCESS_PYTHON_OFFSETS_H
#define PROFD_DAEMON_PROCESS_PYTHON_OFFSETS_H

#include "profd_abi.h"

/* CPython 3.11 (Debian 12's python3.11). */
static const struct profd_python_offsets kProfdPython311Offsets = {
    .runtime_tstate_current = 576,   /* gilstate.tstate_current */
    .runtime_interpreters_head = 40, /* interpreters.head */
    .interp_threads_head = 16,       /* threads.head */
    .tstate_next = 8,
    .tstate_cframe = 56,
    .tstate_thread_id = 152,
    .cframe_current_frame = 8,
    .frame_code = 32,
    .frame_previous = 48,
    .frame_prev_instr = 56,
    .frame_is_entry = 68,
    .code_code_adaptive = 184,
    .code_qualname = 128,
    .code_filename = 112,
    .code_firstlineno = 72,
    .code_linetable = 136,
    .object_type = 8,
    .var_size = 16,
    .bytes_data = 32,
    .unicode_length = 16,
    .unicode_state = 32,
    .unicode_ascii_data = 48,
    .unicode_utf8_length = 48,
    .unicode_utf8 = 56,
    .unicode_compact_data = 72,
};

#endif /* PROFD_DAEMON_PROCESS_PYTHON_OFFSETS_H */

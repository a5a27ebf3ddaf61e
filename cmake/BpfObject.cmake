# bpf_object(NAME SOURCE): compiles SOURCE with clang -target bpf (CO-RE, against the pinned vmlinux.h)
# and generates NAME.skel.h with bpftool. Header changes rebuild the object through clang's depfile.
find_program(BPF_CLANG NAMES clang-14 clang REQUIRED)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin REQUIRED)

execute_process(COMMAND uname -m OUTPUT_VARIABLE _profd_arch OUTPUT_STRIP_TRAILING_WHITESPACE)
if(_profd_arch STREQUAL "x86_64")
  set(BPF_TARGET_ARCH x86)
elseif(_profd_arch STREQUAL "aarch64")
  set(BPF_TARGET_ARCH arm64)
else()
  message(FATAL_ERROR "profd: unsupported architecture ${_profd_arch}")
endif()

set(BPF_GENERATED_DIR ${CMAKE_BINARY_DIR}/bpf)
file(MAKE_DIRECTORY ${BPF_GENERATED_DIR})

function(bpf_object name source)
  set(obj ${BPF_GENERATED_DIR}/${name}.bpf.o)
  set(skel ${BPF_GENERATED_DIR}/${name}.skel.h)
  set(dep ${BPF_GENERATED_DIR}/${name}.bpf.d)
  add_custom_command(
    OUTPUT ${obj}
    COMMAND ${BPF_CLANG} -g -O2 -target bpf -D__TARGET_ARCH_${BPF_TARGET_ARCH}
            -I${CMAKE_SOURCE_DIR}/bpf -MD -MF ${dep} -MT ${obj}
            -c ${CMAKE_CURRENT_SOURCE_DIR}/${source} -o ${obj}
    DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/${source}
    DEPFILE ${dep}
    COMMENT "BPF ${source}"
    VERBATIM)
  add_custom_command(
    OUTPUT ${skel}
    COMMAND ${BPFTOOL} gen skeleton ${obj} name ${name}_bpf > ${skel}
    DEPENDS ${obj}
    COMMENT "BPF skeleton ${name}.skel.h"
    VERBATIM)
  add_custom_target(${name}_skel DEPENDS ${skel})
endfunction()

# bpf_object(<name> <source> [DEFINES -DNAME...] [DEPENDS headers...])
#
# Compiles <source> (a .bpf.c file) with clang -target bpf into <name>.bpf.o in the build tree and
# generates <name>.skel.h from it with `bpftool gen skeleton`. Creates an INTERFACE target
# <name>_skel whose include directory holds the skeleton; link it to embed the object in a binary.
# Nothing is generated into the source tree, and nothing depends on the build host's kernel: the
# kernel types come from bpf/kernel_types.h (CO-RE), not from the running kernel's BTF.

find_program(BPF_CLANG NAMES clang clang-16 clang-15 clang-14 REQUIRED)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin REQUIRED)

if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  set(BPF_TARGET_ARCH x86)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64")
  set(BPF_TARGET_ARCH arm64)
else()
  set(BPF_TARGET_ARCH ${CMAKE_SYSTEM_PROCESSOR})
endif()

function(bpf_object name source)
  cmake_parse_arguments(BPF "" "" "DEFINES;DEPENDS" ${ARGN})
  set(out_dir ${CMAKE_BINARY_DIR}/bpf)
  set(obj ${out_dir}/${name}.bpf.o)
  set(skel ${out_dir}/${name}.skel.h)
  get_filename_component(src_abs ${source} ABSOLUTE)
  get_filename_component(src_dir ${src_abs} DIRECTORY)
  add_custom_command(
    OUTPUT ${obj}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${out_dir}
    COMMAND ${BPF_CLANG} -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_${BPF_TARGET_ARCH}
            ${BPF_DEFINES} -Wall -Werror -I${src_dir} -I${CMAKE_SOURCE_DIR}/bpf -I${CMAKE_BINARY_DIR}/generated
            # uapi headers (linux/bpf.h) need asm/types.h from the multiarch include dir.
            -idirafter /usr/include/${CMAKE_LIBRARY_ARCHITECTURE}
            -c ${src_abs} -o ${obj}
    DEPENDS ${src_abs} ${BPF_DEPENDS}
    COMMENT "BPF ${name}.bpf.o"
    VERBATIM)
  add_custom_command(
    OUTPUT ${skel}
    COMMAND ${BPFTOOL} gen skeleton ${obj} name ${name}_bpf > ${skel}
    DEPENDS ${obj}
    COMMENT "BPF skeleton ${name}.skel.h"
    VERBATIM)
  add_custom_target(${name}_skel_gen DEPENDS ${skel})
  add_library(${name}_skel INTERFACE)
  add_dependencies(${name}_skel ${name}_skel_gen)
  target_include_directories(${name}_skel INTERFACE ${out_dir})
  target_link_libraries(${name}_skel INTERFACE PkgConfig::LIBBPF)
endfunction()

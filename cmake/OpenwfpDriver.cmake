# The driver toolchain (SPEC S15.6, docs/driver-toolchain.md): the flags a Windows callout
# driver needs, published as openwfp-km.pc (generated into ${PROJECT_BINARY_DIR}/pkgconfig) and
# as the function openwfp_add_driver().
#
#   openwfp_add_driver(NAME [WPP] SOURCES...)
#
# builds NAME as a shared object (MODULE library, no "lib" prefix) from C and C++ sources with
# only the km headers and the published flags; the WDK functions are resolved from libopenwfp
# when a host loads the driver. WPP: a <source>.tmh per source, the stand-in for the WDK's WPP
# preprocessor (tracewpp), is generated into the target's build folder.

set(OPENWFP_KM_INCLUDE_DIR ${CMAKE_CURRENT_LIST_DIR}/../include/openwfp/km)
get_filename_component(OPENWFP_KM_INCLUDE_DIR ${OPENWFP_KM_INCLUDE_DIR} ABSOLUTE)

# What the WDK's x64 kernel-mode build defines (the /kernel switch and the platform props).
set(OPENWFP_KM_DEFINES _WIN64 _AMD64_ AMD64 _KERNEL_MODE)
# The MSVC dialect points of real drivers (a goto past an initialization, __declspec, ...):
# clang's Microsoft compatibility; gcc gets -fms-extensions (anonymous structs) only.
set(OPENWFP_KM_CLANG_FLAGS -fms-extensions -fms-compatibility -Wno-microsoft-goto
    -Wno-multichar -Wno-unknown-pragmas)
set(OPENWFP_KM_GNU_FLAGS -fms-extensions -Wno-multichar -Wno-unknown-pragmas)

function(openwfp_km_write_pc)
  set(OPENWFP_PC_PREFIX ${PROJECT_BINARY_DIR})
  set(OPENWFP_PC_INCLUDEDIR ${OPENWFP_KM_INCLUDE_DIR})
  set(OPENWFP_PC_LIBDIR ${PROJECT_BINARY_DIR}/src)
  list(TRANSFORM OPENWFP_KM_DEFINES PREPEND -D OUTPUT_VARIABLE _defs)
  string(JOIN " " OPENWFP_KM_DEFINES_STR ${_defs})
  string(JOIN " " OPENWFP_KM_CLANG_FLAGS_STR ${OPENWFP_KM_CLANG_FLAGS})
  configure_file(${CMAKE_CURRENT_FUNCTION_LIST_DIR}/openwfp-km.pc.in
                 ${PROJECT_BINARY_DIR}/pkgconfig/openwfp-km.pc @ONLY)
endfunction()

function(openwfp_add_driver NAME)
  cmake_parse_arguments(ARG "WPP" "" "" ${ARGN})
  set(_sources ${ARG_UNPARSED_ARGUMENTS})
  if(NOT _sources)
    message(FATAL_ERROR "openwfp_add_driver(${NAME}): no sources")
  endif()
  add_library(${NAME} MODULE ${_sources})
  target_include_directories(${NAME} PRIVATE ${OPENWFP_KM_INCLUDE_DIR})
  target_compile_definitions(${NAME} PRIVATE ${OPENWFP_KM_DEFINES})
  foreach(lang C CXX)
    if(CMAKE_${lang}_COMPILER_ID MATCHES "Clang")
      target_compile_options(${NAME} PRIVATE $<$<COMPILE_LANGUAGE:${lang}>:${OPENWFP_KM_CLANG_FLAGS}>)
    else()
      target_compile_options(${NAME} PRIVATE $<$<COMPILE_LANGUAGE:${lang}>:${OPENWFP_KM_GNU_FLAGS}>)
    endif()
  endforeach()
  set_target_properties(${NAME} PROPERTIES PREFIX "" POSITION_INDEPENDENT_CODE ON)
  if(ARG_WPP)
    set(_wpp ${CMAKE_CURRENT_BINARY_DIR}/${NAME}.wpp)
    foreach(s ${_sources})
      get_filename_component(_base ${s} NAME_WE)
      file(WRITE ${_wpp}/${_base}.tmh "#include <openwfp_wpp.h>\n")
    endforeach()
    target_include_directories(${NAME} PRIVATE ${_wpp})
  endif()
endfunction()

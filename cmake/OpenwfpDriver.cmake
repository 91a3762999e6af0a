# The driver toolchain (SPEC S15.6, docs/driver-toolchain.md): the flags a Windows callout
# driver needs, written once here. cmake/OpenwfpInstall.cmake publishes them as the target
# openwfp::km and as openwfp-km.pc (build tree: ${PROJECT_BINARY_DIR}/pkgconfig; installed:
# <libdir>/pkgconfig); this file is installed with the CMake package, so find_package(openwfp
# CONFIG) gives openwfp_add_driver() too.
#
#   openwfp_add_driver(NAME [WPP] SOURCES...)
#
# builds NAME as a shared object (MODULE library, no "lib" prefix) from C and C++ sources with
# only the km headers and the published flags; the WDK functions are resolved from libopenwfp
# when a host loads the driver. WPP: a <source>.tmh per source, the stand-in for the WDK's WPP
# preprocessor (tracewpp), is generated into the target's build folder.

# What the WDK's x64 kernel-mode build defines (the /kernel switch and the platform props).
set(OPENWFP_KM_DEFINES _WIN64 _AMD64_ AMD64 _KERNEL_MODE)
# The MSVC dialect points of real drivers (a goto past an initialization, __declspec, ...):
# clang's Microsoft compatibility; gcc gets -fms-extensions (anonymous structs) only.
set(OPENWFP_KM_CLANG_FLAGS -fms-extensions -fms-compatibility -Wno-microsoft-goto
    -Wno-multichar -Wno-unknown-pragmas)
set(OPENWFP_KM_GNU_FLAGS -fms-extensions -Wno-multichar -Wno-unknown-pragmas)

function(openwfp_add_driver NAME)
  cmake_parse_arguments(ARG "WPP" "" "" ${ARGN})
  set(_sources ${ARG_UNPARSED_ARGUMENTS})
  if(NOT _sources)
    message(FATAL_ERROR "openwfp_add_driver(${NAME}): no sources")
  endif()
  add_library(${NAME} MODULE ${_sources})
  if(NOT TARGET openwfp::km)
    message(FATAL_ERROR "openwfp_add_driver(${NAME}): no target openwfp::km (find_package(openwfp CONFIG) first)")
  endif()
  target_link_libraries(${NAME} PRIVATE openwfp::km)  # km headers, WDK defines, dialect flags
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

# openwfp::km (target openwfp_km_api, exported as openwfp::km): what a callout driver compiles with,
# from the flags of OpenwfpDriver.cmake: the km headers, the WDK defines and the compiler's dialect
# flags. It links nothing: a driver's WDK functions are resolved from the libopenwfp of the host
# that loads it. openwfp_write_pc() writes a .pc file for the build tree (absolute paths) or for
# the install tree (paths relative to the .pc file, so an installed tree can be moved).
add_library(openwfp_km_api INTERFACE)
add_library(openwfp::km ALIAS openwfp_km_api)
set_target_properties(openwfp_km_api PROPERTIES EXPORT_NAME km)
target_include_directories(openwfp_km_api INTERFACE
  $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include/openwfp/km>
  $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}/openwfp/km>)
target_compile_definitions(openwfp_km_api INTERFACE ${OPENWFP_KM_DEFINES})
target_compile_options(openwfp_km_api INTERFACE
  "$<$<OR:$<COMPILE_LANG_AND_ID:C,Clang>,$<COMPILE_LANG_AND_ID:CXX,Clang>>:${OPENWFP_KM_CLANG_FLAGS}>"
  "$<$<OR:$<COMPILE_LANG_AND_ID:C,GNU>,$<COMPILE_LANG_AND_ID:CXX,GNU>>:${OPENWFP_KM_GNU_FLAGS}>")

# openwfp_write_pc(TEMPLATE OUT build|install)
function(openwfp_write_pc template out where)
  list(TRANSFORM OPENWFP_KM_DEFINES PREPEND -D OUTPUT_VARIABLE _defs)
  string(JOIN " " OPENWFP_KM_DEFINES_STR ${_defs})
  string(JOIN " " OPENWFP_KM_CLANG_FLAGS_STR ${OPENWFP_KM_CLANG_FLAGS})
  if(where STREQUAL "build")
    set(OPENWFP_PC_PREFIX ${PROJECT_BINARY_DIR})
    set(OPENWFP_PC_INCLUDEDIR ${PROJECT_SOURCE_DIR}/include)
    set(OPENWFP_PC_LIBDIR ${PROJECT_BINARY_DIR}/src)
    set(OPENWFP_PC_EXTRA_CFLAGS " -I${PROJECT_BINARY_DIR}/include")  # the generated version.h
  else()
    # <prefix>/<libdir>/pkgconfig/x.pc -> the prefix, relative to the file.
    file(RELATIVE_PATH _up /p/${CMAKE_INSTALL_LIBDIR}/pkgconfig /p)
    set(OPENWFP_PC_PREFIX "\${pcfiledir}/${_up}")
    set(OPENWFP_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
    set(OPENWFP_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
  endif()
  configure_file(${template} ${out} @ONLY)
endfunction()

openwfp_write_pc(${CMAKE_CURRENT_LIST_DIR}/openwfp-km.pc.in ${PROJECT_BINARY_DIR}/pkgconfig/openwfp-km.pc build)
openwfp_write_pc(${CMAKE_CURRENT_LIST_DIR}/openwfp.pc.in ${PROJECT_BINARY_DIR}/pkgconfig/openwfp.pc build)
openwfp_write_pc(${CMAKE_CURRENT_LIST_DIR}/openwfp-km.pc.in ${PROJECT_BINARY_DIR}/pkgconfig-install/openwfp-km.pc install)
openwfp_write_pc(${CMAKE_CURRENT_LIST_DIR}/openwfp.pc.in ${PROJECT_BINARY_DIR}/pkgconfig-install/openwfp.pc install)

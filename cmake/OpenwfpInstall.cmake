# What `cmake --install` puts where (SPEC S16.1), the CMake package and CPack's Debian package.
#   bin/openwfp                                 the CLI (RUNPATH $ORIGIN/../<libdir>)
#   <libdir>/libopenwfp.so.X.Y.Z, .so.X.Y, .so  the library (public symbols only)
#   <libdir>/openwfp/drivers/*.so               verify_proxy (examples/) and policy (drivers/)
#   include/openwfp/{*.h,km/,um/}               the public headers (+ the generated version.h)
#   <libdir>/pkgconfig/openwfp{,-km}.pc         relative to their own folder (relocatable)
#   <libdir>/cmake/openwfp/                     find_package(openwfp CONFIG): openwfp::openwfp,
#                                               openwfp::km, openwfp::sim, openwfp_add_driver()
#   lib/systemd/user/openwfp-engine.service     the engine service's user unit
#   share/man/man1/openwfp.1, share/bash-completion/completions/openwfp
#   share/doc/openwfp/                          README, LICENSE, CHANGELOG, docs/, examples/
include(CMakePackageConfigHelpers)

set(OPENWFP_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/openwfp)
set(OPENWFP_DRIVER_DIR ${CMAKE_INSTALL_LIBDIR}/openwfp/drivers)

# openwfp::sim: what a test of a callout links (the simulated stack, the driver host and the
# verifier API all live in libopenwfp; openwfp/gtest_verifier.h is header-only).
add_library(openwfp_sim_api INTERFACE)
add_library(openwfp::sim ALIAS openwfp_sim_api)
set_target_properties(openwfp_sim_api PROPERTIES EXPORT_NAME sim)
target_link_libraries(openwfp_sim_api INTERFACE openwfp)
add_library(openwfp::openwfp ALIAS openwfp)

install(TARGETS openwfp_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS openwfp openwfp_km_api openwfp_sim_api EXPORT openwfpTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS verify_proxy policy_driver LIBRARY DESTINATION ${OPENWFP_DRIVER_DIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/openwfp DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  FILES_MATCHING PATTERN "*.h")
install(FILES ${PROJECT_BINARY_DIR}/include/openwfp/version.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/openwfp)
install(FILES ${PROJECT_BINARY_DIR}/pkgconfig-install/openwfp.pc ${PROJECT_BINARY_DIR}/pkgconfig-install/openwfp-km.pc
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

install(EXPORT openwfpTargets NAMESPACE openwfp:: DESTINATION ${OPENWFP_CMAKE_DIR})
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/openwfpConfig.cmake.in
  ${PROJECT_BINARY_DIR}/cmake-install/openwfpConfig.cmake INSTALL_DESTINATION ${OPENWFP_CMAKE_DIR})
# 0.x: a minor release may change the ABI (the soname carries MAJOR.MINOR).
write_basic_package_version_file(${PROJECT_BINARY_DIR}/cmake-install/openwfpConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/cmake-install/openwfpConfig.cmake
  ${PROJECT_BINARY_DIR}/cmake-install/openwfpConfigVersion.cmake
  ${CMAKE_CURRENT_LIST_DIR}/OpenwfpDriver.cmake DESTINATION ${OPENWFP_CMAKE_DIR})

# The user unit names the installed binary: written at install time, for the prefix installed to.
set(_unit ${PROJECT_SOURCE_DIR}/dist/systemd/openwfp-engine.service)
install(CODE "
  file(READ \"${_unit}\" _u)
  string(REPLACE \"/usr/bin/openwfp\" \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}/openwfp\" _u \"\${_u}\")
  string(REPLACE \"/usr/share/doc/openwfp\" \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_DOCDIR}\" _u \"\${_u}\")
  set(_dest \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/lib/systemd/user/openwfp-engine.service\")
  message(STATUS \"Installing: \${_dest}\")
  file(WRITE \"\${_dest}\" \"\${_u}\")")

install(FILES ${PROJECT_SOURCE_DIR}/docs/man/openwfp.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES ${PROJECT_SOURCE_DIR}/dist/bash-completion/openwfp
  DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions)
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/LICENSE ${PROJECT_SOURCE_DIR}/CHANGELOG.md
  DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR} PATTERN man EXCLUDE)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/examples/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples
  PATTERN CMakeLists.txt EXCLUDE)

# CPack: `cd build/default && cpack -G DEB` packages what is installed above under /usr, from the
# already built tree (tests/install/deb_test.sh). Depends from dpkg-shlibdeps (the libraries the ELF
# files link: libc6, libstdc++6, libspdlog, libfmt, libsodium, libseccomp, ...).
set(CPACK_PACKAGE_NAME openwfp)
set(CPACK_PACKAGE_VENDOR "the openwfp authors")
set(CPACK_PACKAGE_CONTACT "the openwfp authors <openwfp@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Windows Filtering Platform redirect callout drivers on Linux")
set(CPACK_PACKAGE_DESCRIPTION "openwfp runs Windows Filtering Platform callout drivers (the WDK
 redirect API: ALE connect/bind redirect, redirect records, verify-before-accept proxies) on
 Linux, against a filter engine in user space that supervises real processes through
 seccomp-notify, without root. Includes the openwfp command line, libopenwfp, the headers, the
 CMake package and pkg-config files, and the verify_proxy and policy drivers.")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_RESOURCE_FILE_LICENSE ${PROJECT_SOURCE_DIR}/LICENSE)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_GENERATOR DEB)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# The drivers' WDK functions come from libopenwfp at load time: dpkg-shlibdeps is told where the
# package's own library is, so it does not look for it in a system package.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS_PRIVATE_DIRS ${PROJECT_BINARY_DIR}/src)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://example.invalid/openwfp")
# Stripped: the package has no -dbg companion (the build tree keeps the debug info).
set(CPACK_STRIP_FILES ON)
# A driver author's tools: clang (openwfp-km.pc's compiler), GoogleTest (gtest_verifier.h),
# pkg-config and CMake. The package holds the library and its development files together.
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "clang, libgtest-dev, pkg-config, cmake")
include(CPack)

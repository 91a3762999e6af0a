# Control channel tests on real processes (included by tests/linux/CMakeLists.txt): ctest label
# `real`. openwfp_control_test_proxy is a proxy in C that uses openwfp/winsock.h only.
add_executable(openwfp_control_test_proxy ${CMAKE_CURRENT_LIST_DIR}/control_test_proxy.c)
target_include_directories(openwfp_control_test_proxy PRIVATE ${PROJECT_SOURCE_DIR}/include)
target_compile_options(openwfp_control_test_proxy PRIVATE ${OPENWFP_WARNINGS})
target_link_libraries(openwfp_control_test_proxy PRIVATE openwfp)

add_executable(openwfp_control_real_tests ${CMAKE_CURRENT_LIST_DIR}/control_real_tests.cpp)
target_include_directories(openwfp_control_real_tests PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/include
  ${PROJECT_SOURCE_DIR}/tests)
target_compile_options(openwfp_control_real_tests PRIVATE ${OPENWFP_WARNINGS})
target_link_libraries(openwfp_control_real_tests PRIVATE openwfp_internal GTest::gtest GTest::gtest_main)
target_compile_definitions(openwfp_control_real_tests PRIVATE
  OPENWFP_CONTROL_PROXY_BIN="$<TARGET_FILE:openwfp_control_test_proxy>"
  OPENWFP_VERIFY_PROXY_SO="$<TARGET_FILE:verify_proxy>")
add_dependencies(openwfp_control_real_tests openwfp_control_test_proxy verify_proxy)
gtest_discover_tests(openwfp_control_real_tests DISCOVERY_TIMEOUT 60 PROPERTIES LABELS real TIMEOUT 120)

# tests/proxy/device_verify_proxy_test.cpp (in openwfp_tests) loads drivers/verify_proxy.so.
if(TARGET verify_proxy AND TARGET openwfp_tests)
  add_dependencies(openwfp_tests verify_proxy policy_driver)
endif()

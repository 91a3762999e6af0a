# `openwfp run --policy` on real processes (included by tests/linux/CMakeLists.txt): label `real`.
# Needs microsocks (scripts/install-deps.sh), curl, python3, busybox-static.
add_executable(openwfp_policy_real_tests ${CMAKE_CURRENT_LIST_DIR}/policy_real_tests.cpp)
target_include_directories(openwfp_policy_real_tests PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/include
  ${CMAKE_CURRENT_LIST_DIR})
target_compile_options(openwfp_policy_real_tests PRIVATE ${OPENWFP_WARNINGS})
target_link_libraries(openwfp_policy_real_tests PRIVATE openwfp_internal GTest::gtest GTest::gtest_main)
target_compile_definitions(openwfp_policy_real_tests PRIVATE OPENWFP_CLI_BIN="$<TARGET_FILE:openwfp_cli>"
  OPENWFP_CONTROL_PROXY_BIN="$<TARGET_FILE:openwfp_control_test_proxy>")
add_dependencies(openwfp_policy_real_tests openwfp_cli policy_driver openwfp_control_test_proxy)
gtest_discover_tests(openwfp_policy_real_tests DISCOVERY_TIMEOUT 60 PROPERTIES LABELS real TIMEOUT 180)

// S1.1 (a Windows callout driver runs unchanged): time (src/km/time.cpp): KeQuerySystemTime,
// KeQueryPerformanceCounter.
#include <ntddk.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <thread>

#include "km_test_support.h"

using kmtest::KernelSupport;

TEST_F(KernelSupport, S1_1_SystemTimeIsPlausibleAndCounterMonotonic) {
  LARGE_INTEGER now;
  KeQuerySystemTime(&now);
  // 100-ns units since 1601-01-01 UTC: compare with time(nullptr) in seconds since 1970.
  const long long unixSeconds = (now.QuadPart - 116444736000000000LL) / 10000000LL;
  EXPECT_LE(std::llabs(unixSeconds - static_cast<long long>(std::time(nullptr))), 5);
  EXPECT_GT(now.QuadPart, 132223104000000000LL);  // after 2020-01-01

  LARGE_INTEGER freq{};
  LARGE_INTEGER a = KeQueryPerformanceCounter(&freq);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  LARGE_INTEGER b = KeQueryPerformanceCounter(nullptr);
  ASSERT_GT(freq.QuadPart, 0);
  const double elapsedMs = static_cast<double>(b.QuadPart - a.QuadPart) * 1000.0 / static_cast<double>(freq.QuadPart);
  EXPECT_GE(elapsedMs, 19.0);
  EXPECT_LT(elapsedMs, 5000.0);
}

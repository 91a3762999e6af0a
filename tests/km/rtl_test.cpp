// S1.1 (a Windows callout driver runs unchanged): counted strings (src/km/rtl.cpp):
// RtlInitUnicodeString; the same test checks the process and thread ids of src/km/time.cpp.
#include <ntddk.h>

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <string>

#include "km_test_support.h"

using kmtest::KernelSupport;

TEST_F(KernelSupport, S1_1_ProcessIdAndUnicodeString) {
  EXPECT_EQ(reinterpret_cast<uintptr_t>(PsGetCurrentProcessId()), static_cast<uintptr_t>(getpid()));
  EXPECT_NE(PsGetCurrentThreadId(), nullptr);

  UNICODE_STRING u;
  RtlInitUnicodeString(&u, L"abc");
  EXPECT_EQ(u.Length, 3 * sizeof(WCHAR));
  EXPECT_EQ(u.MaximumLength, 4 * sizeof(WCHAR));
  EXPECT_EQ(std::wstring(u.Buffer, u.Length / sizeof(WCHAR)), L"abc");
  RtlInitUnicodeString(&u, nullptr);
  EXPECT_EQ(u.Length, 0);
  EXPECT_EQ(u.MaximumLength, 0);
  EXPECT_EQ(u.Buffer, nullptr);
  std::wstring longText(20000, L'x');
  RtlInitUnicodeString(&u, longText.c_str());
  EXPECT_LE(u.Length + sizeof(WCHAR), 0xFFFFu);
  EXPECT_EQ(u.MaximumLength, u.Length + sizeof(WCHAR));
}

// S1.1 (driver source compatibility): DbgPrint's printf dialect follows the Windows kernel rules
// on LP64 Linux ('l' is 32 bits, I64, %ws, %wZ, %Z), so driver log lines print what they print
// on Windows.
#include <gtest/gtest.h>

#include <cstdint>

#include "km/format.h"

using openwfp::km::formatKernelMessagef;

namespace {
struct WideCounted {
  uint16_t Length, MaximumLength;
  const wchar_t* Buffer;
};
struct NarrowCounted {
  uint16_t Length, MaximumLength;
  const char* Buffer;
};
}  // namespace

TEST(S1_1, KernelFormatPlainConversions) {
  EXPECT_EQ(formatKernelMessagef("a %d b %u c %x %X %o %%", -5, 7u, 255u, 255u, 8u), "a -5 b 7 c ff FF 10 %");
  EXPECT_EQ(formatKernelMessagef("[%5d|%-5d|%05d]", 42, 42, 42), "[   42|42   |00042]");
  EXPECT_EQ(formatKernelMessagef("[%*d|%.*s]", 4, 7, 2, "abcdef"), "[   7|ab]");
  EXPECT_EQ(formatKernelMessagef("%s %c %.2f", "str", 'z', 1.5), "str z 1.50");
  EXPECT_EQ(formatKernelMessagef("%s", static_cast<const char*>(nullptr)), "(null)");
}

TEST(S1_1, KernelFormatWindowsIntegerSizes) {
  // 'l' is 32 bits as on Windows (ULONG is 32 bits in the km headers).
  EXPECT_EQ(formatKernelMessagef("%lu %lx %ld", uint32_t{4000000000u}, uint32_t{0xdeadbeef}, int32_t{-3}),
            "4000000000 deadbeef -3");
  EXPECT_EQ(formatKernelMessagef("%I64u %I64x %lld", uint64_t{1} << 40, uint64_t{0xabcdef012345}, int64_t{-9}),
            "1099511627776 abcdef012345 -9");
  EXPECT_EQ(formatKernelMessagef("%Iu %zu %I32d", size_t{123456789012}, size_t{5}, int32_t{-1}), "123456789012 5 -1");
  EXPECT_EQ(formatKernelMessagef("%hd %hhu", 70000, 300), "4464 44");
}

TEST(S1_1, KernelFormatWideAndCountedStrings) {
  EXPECT_EQ(formatKernelMessagef("%ws|%S|%ls", L"wide", L"caps", L"ell"), "wide|caps|ell");
  EXPECT_EQ(formatKernelMessagef("%ws", L"gr\u00fc\u00dfe \u20ac"), "gr\xc3\xbc\xc3\x9f" "e \xe2\x82\xac");
  WideCounted u{static_cast<uint16_t>(5 * sizeof(wchar_t)), static_cast<uint16_t>(16 * sizeof(wchar_t)),
                L"Driver\\Name"};  // counted: only the first 5 characters
  EXPECT_EQ(formatKernelMessagef("<%wZ>", &u), "<Drive>");
  NarrowCounted a{3, 8, "abcdef"};
  EXPECT_EQ(formatKernelMessagef("<%Z>", &a), "<abc>");
  EXPECT_EQ(formatKernelMessagef("<%wZ>", static_cast<WideCounted*>(nullptr)), "<(null)>");
  EXPECT_EQ(formatKernelMessagef("%C%wc%c", L'\u00e9', L'x', 'y'), "\xc3\xa9xy");
  EXPECT_EQ(formatKernelMessagef("[%-6ws]", L"ab"), "[ab    ]");
}

TEST(S1_1, KernelFormatOddInputsDoNotCrash) {
  int sink = 0;
  EXPECT_EQ(formatKernelMessagef("x%ny", &sink), "xy");
  EXPECT_EQ(sink, 0);  // %n never writes
  EXPECT_EQ(formatKernelMessagef("50%"), "50%");
  EXPECT_EQ(formatKernelMessagef("%q"), "%q");
  EXPECT_EQ(formatKernelMessagef("%p", static_cast<void*>(nullptr)).empty(), false);
}

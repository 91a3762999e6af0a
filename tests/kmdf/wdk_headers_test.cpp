// S15.2 / S15.5: the general WDK headers with their behaviour (ntstrsafe, ntintsafe, the
// address-to-string functions, SIDs, NTDDI constants) and the Windows x64 WFP layouts.
#include <fwpsk.h>
#include <mstcpip.h>
#include <ntifs.h>
#include <ntintsafe.h>
#include <ntstrsafe.h>

#include <gtest/gtest.h>

#include <cstring>
#include <cwchar>
#include <string>

namespace {

TEST(WdkHeaders, S15_2_StringCchFunctionsTruncateWithBufferOverflow) {
  char a[6];
  EXPECT_EQ(RtlStringCchCopyA(a, sizeof a, "hello"), STATUS_SUCCESS);
  EXPECT_STREQ(a, "hello");
  EXPECT_EQ(RtlStringCchCopyA(a, sizeof a, "hello world"), STATUS_BUFFER_OVERFLOW);
  EXPECT_STREQ(a, "hello") << "truncated and terminated";
  EXPECT_EQ(RtlStringCchCatA(a, sizeof a, "!"), STATUS_BUFFER_OVERFLOW);
  EXPECT_EQ(RtlStringCchCopyA(a, 0, "x"), STATUS_INVALID_PARAMETER);
  EXPECT_EQ(RtlStringCchPrintfA(a, sizeof a, "%d-%s", 42, "abcdef"), STATUS_BUFFER_OVERFLOW);
  EXPECT_STREQ(a, "42-ab");
  WCHAR w[8];
  EXPECT_EQ(RtlStringCchPrintfW(w, 8, L"%s:%u", L"ab", 7u), STATUS_SUCCESS) << "%s is wide in W forms";
  EXPECT_EQ(std::wstring(w), L"ab:7");
  EXPECT_EQ(RtlStringCchPrintfW(w, 8, L"%S", "narrow!!"), STATUS_BUFFER_OVERFLOW);
  EXPECT_EQ(std::wstring(w), L"narrow!");
  EXPECT_EQ(RtlStringCbCopyW(w, sizeof w, L"0123456789"), STATUS_BUFFER_OVERFLOW);
  EXPECT_EQ(std::wcslen(w), 7u);
  size_t n = 0;
  EXPECT_EQ(RtlStringCchLengthW(L"abc", 10, &n), STATUS_SUCCESS);
  EXPECT_EQ(n, 3u);
  EXPECT_EQ(RtlStringCchLengthA("abc", 3, &n), STATUS_INVALID_PARAMETER) << "no NUL within cchMax";
}

TEST(WdkHeaders, S15_2_SafeIntegerFunctionsReportOverflow) {
  SIZE_T r = 1;
  EXPECT_EQ(RtlSizeTMult(3, 5, &r), STATUS_SUCCESS);
  EXPECT_EQ(r, 15u);
  EXPECT_EQ(RtlSizeTMult(SIZE_MAX / 2 + 1, 2, &r), STATUS_INTEGER_OVERFLOW);
  EXPECT_EQ(r, SIZE_T_ERROR);
  ULONG u = 0;
  EXPECT_EQ(RtlULongAdd(0xFFFFFFFFu, 1, &u), STATUS_INTEGER_OVERFLOW);
  EXPECT_EQ(u, ULONG_ERROR);
  EXPECT_EQ(RtlULongSub(1, 2, &u), STATUS_INTEGER_OVERFLOW);
  USHORT s = 0;
  EXPECT_EQ(RtlULongToUShort(70000, &s), STATUS_INTEGER_OVERFLOW);
  EXPECT_EQ(RtlULongToUShort(7, &s), STATUS_SUCCESS);
  EXPECT_EQ(s, 7);
}

TEST(WdkHeaders, S15_2_AddressToStringMatchesWindowsOutput) {
  IN_ADDR a4;
  const UCHAR b4[4] = {127, 0, 0, 1};
  std::memcpy(&a4, b4, 4);
  char s[64];
  char* end = RtlIpv4AddressToStringA(&a4, s);
  EXPECT_STREQ(s, "127.0.0.1");
  EXPECT_EQ(end, s + 9) << "returns the terminating NUL";
  ULONG len = sizeof s;
  EXPECT_EQ(RtlIpv4AddressToStringExA(&a4, RtlUshortByteSwap(8080), s, &len), STATUS_SUCCESS);
  EXPECT_STREQ(s, "127.0.0.1:8080");
  EXPECT_EQ(len, 15u);
  len = 4;
  EXPECT_EQ(RtlIpv4AddressToStringExA(&a4, 0, s, &len), STATUS_INVALID_PARAMETER);
  EXPECT_EQ(len, 10u) << "the length needed";
  IN6_ADDR a6 = {};
  a6.u.Byte[15] = 1;
  RtlIpv6AddressToStringA(&a6, s);
  EXPECT_STREQ(s, "::1");
  const UCHAR doc[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0x2a};
  std::memcpy(&a6, doc, 16);
  RtlIpv6AddressToStringA(&a6, s);
  EXPECT_STREQ(s, "2001:db8::1:0:0:2a") << "the longest zero run is compressed";
  const UCHAR mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3};
  std::memcpy(&a6, mapped, 16);
  WCHAR w[64];
  RtlIpv6AddressToStringW(&a6, w);
  EXPECT_EQ(std::wstring(w), L"::ffff:10.1.2.3");
  len = 64;
  a6 = {};
  a6.u.Byte[15] = 1;
  EXPECT_EQ(RtlIpv6AddressToStringExA(&a6, 3, RtlUshortByteSwap(443), s, &len), STATUS_SUCCESS);
  EXPECT_STREQ(s, "[::1%3]:443");
  IN6_ADDR back;
  PCSTR term = nullptr;
  ASSERT_EQ(RtlIpv6StringToAddressA("2001:db8::1:0:0:2a", &term, &back), STATUS_SUCCESS);
  EXPECT_EQ(std::memcmp(&back, doc, 16), 0);
  EXPECT_EQ(*term, '\0');
}

TEST(WdkHeaders, S15_2_InetaddrMacrosAndSids) {
  SOCKADDR_IN v4 = {};
  v4.sin_family = AF_INET;
  INETADDR_SETLOOPBACK(reinterpret_cast<PSOCKADDR>(&v4));
  EXPECT_TRUE(INETADDR_ISLOOPBACK(reinterpret_cast<PSOCKADDR>(&v4)));
  INETADDR_SET_PORT(reinterpret_cast<PSOCKADDR>(&v4), RtlUshortByteSwap(80));
  EXPECT_EQ(INETADDR_PORT(reinterpret_cast<PSOCKADDR>(&v4)), RtlUshortByteSwap(80));
  const UCHAR ten[4] = {10, 0, 0, 9};
  INETADDR_SET_ADDRESS(reinterpret_cast<PSOCKADDR>(&v4), ten);
  EXPECT_EQ(std::memcmp(INETADDR_ADDRESS(reinterpret_cast<PSOCKADDR>(&v4)), ten, 4), 0);
  EXPECT_FALSE(INETADDR_ISANY(reinterpret_cast<PSOCKADDR>(&v4)));

  UCHAR buf[SECURITY_MAX_SID_SIZE];
  SID_IDENTIFIER_AUTHORITY nt = SECURITY_NT_AUTHORITY;
  ASSERT_EQ(RtlInitializeSid(buf, &nt, 1), STATUS_SUCCESS);
  *RtlSubAuthoritySid(buf, 0) = SECURITY_LOCAL_SYSTEM_RID;
  EXPECT_TRUE(RtlValidSid(buf));
  EXPECT_EQ(RtlLengthSid(buf), 12u);
  UCHAR copy[SECURITY_MAX_SID_SIZE];
  EXPECT_EQ(RtlCopySid(8, copy, buf), STATUS_BUFFER_TOO_SMALL);
  ASSERT_EQ(RtlCopySid(sizeof copy, copy, buf), STATUS_SUCCESS);
  EXPECT_TRUE(RtlEqualSid(copy, buf));
  *RtlSubAuthoritySid(copy, 0) = SECURITY_LOCAL_SERVICE_RID;
  EXPECT_FALSE(RtlEqualSid(copy, buf));
}

TEST(WdkHeaders, S15_2_NtddiConstantsAreDefinedAndOrdered) {
  // An undefined NTDDI_WIN8 would read as 0 in #if and silently pick the wrong branch.
#if !defined(NTDDI_WIN8) || !defined(NTDDI_VERSION) || NTDDI_VERSION < NTDDI_WIN10
  FAIL() << "NTDDI constants missing";
#endif
  EXPECT_EQ(NTDDI_WIN8, 0x06020000);
  EXPECT_EQ(_WIN32_WINNT_WIN10, 0x0A00);
  EXPECT_LT(NTDDI_WIN7, NTDDI_WIN10_RS5);
}

TEST(Layout, S15_5_WfpStructuresHaveTheWindowsX64Layout) {
  EXPECT_EQ(sizeof(FWPS_INCOMING_METADATA_VALUES0), 280u);
  EXPECT_EQ(offsetof(FWPS_INCOMING_METADATA_VALUES0, localRedirectTargetPID), 204u);
  EXPECT_EQ(offsetof(FWPS_INCOMING_METADATA_VALUES0, originalDestination), 208u);
  EXPECT_EQ(offsetof(FWPS_INCOMING_METADATA_VALUES0, redirectRecords), 216u);
  EXPECT_EQ(offsetof(FWPS_INCOMING_METADATA_VALUES0, vSwitchPacketContext), 256u);
  EXPECT_EQ(offsetof(FWPS_INCOMING_METADATA_VALUES0, subProcessTag), 264u);
  EXPECT_EQ(sizeof(FWPS_CONNECT_REQUEST0), 312u);
  EXPECT_EQ(sizeof(FWPS_BIND_REQUEST0), 152u);
  EXPECT_EQ(sizeof(FWPS_CLASSIFY_OUT0), 40u);
  EXPECT_EQ(sizeof(WCHAR), 4u) << "docs/driver-toolchain.md: WCHAR is wchar_t, no -fshort-wchar";
}

}  // namespace

// km/rtl.cpp - RtlInitUnicodeString, ExUuidCreate.
#include <wdm.h>

#include <cstring>
#include <cwchar>

namespace {
// Largest Length whose MaximumLength (Length + one WCHAR) still fits a USHORT, in whole WCHARs.
constexpr size_t kMaxLengthBytes = ((0xFFFF / sizeof(WCHAR)) - 1) * sizeof(WCHAR);
}  // namespace

extern "C" {

void NTAPI RtlInitUnicodeString(PUNICODE_STRING DestinationString, PCWSTR SourceString) {
  if (DestinationString == nullptr) return;
  if (SourceString == nullptr) {
    DestinationString->Length = 0;
    DestinationString->MaximumLength = 0;
    DestinationString->Buffer = nullptr;
    return;
  }
  size_t bytes = std::wcslen(SourceString) * sizeof(WCHAR);
  if (bytes > kMaxLengthBytes) bytes = kMaxLengthBytes;  // Windows truncates overlong strings too
  DestinationString->Length = static_cast<USHORT>(bytes);
  DestinationString->MaximumLength = static_cast<USHORT>(bytes + sizeof(WCHAR));
  DestinationString->Buffer = const_cast<PWCH>(SourceString);
}

}  // extern "C"

#include <sys/random.h>

extern "C" NTSTATUS NTAPI ExUuidCreate(UUID* Uuid) {
  if (Uuid == nullptr) return STATUS_INVALID_PARAMETER;
  unsigned char b[16];
  size_t got = 0;
  while (got < sizeof b) {
    ssize_t n = getrandom(b + got, sizeof b - got, 0);
    if (n <= 0) return STATUS_UNSUCCESSFUL;
    got += static_cast<size_t>(n);
  }
  std::memcpy(Uuid, b, sizeof b);
  Uuid->Data3 = static_cast<USHORT>((Uuid->Data3 & 0x0FFF) | 0x4000);  // version 4
  Uuid->Data4[0] = static_cast<UCHAR>((Uuid->Data4[0] & 0x3F) | 0x80);  // RFC 4122 variant
  return STATUS_SUCCESS;
}

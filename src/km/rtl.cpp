// km/rtl.cpp - RtlInitUnicodeString.
#include <wdm.h>

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

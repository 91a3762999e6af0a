// km/strsafe.cpp - the bounded string functions of ntstrsafe.h (statuses described there).
#include <ntstrsafe.h>

#include <cstring>
#include <cwchar>
#include <string>

#include "km/format.h"

namespace {

template <typename Ch>
size_t len(const Ch* s, size_t max) {
  size_t n = 0;
  while (n < max && s[n] != 0) ++n;
  return n;
}

// Writes src[0..n) into dst (cch characters), NUL-terminated; truncates.
template <typename Ch>
NTSTATUS put(Ch* dst, size_t cch, const Ch* src, size_t n) {
  if (dst == nullptr || cch == 0 || cch > NTSTRSAFE_MAX_CCH) return STATUS_INVALID_PARAMETER;
  NTSTATUS st = STATUS_SUCCESS;
  if (n >= cch) {
    n = cch - 1;
    st = STATUS_BUFFER_OVERFLOW;
  }
  if (n > 0 && src != nullptr) std::memmove(dst, src, n * sizeof(Ch));
  dst[n] = 0;
  return st;
}

template <typename Ch>
NTSTATUS copyN(Ch* dst, size_t cch, const Ch* src, size_t maxSrc) {
  if (src == nullptr) return put(dst, cch, src, 0);
  return put(dst, cch, src, len(src, maxSrc));
}

template <typename Ch>
NTSTATUS cat(Ch* dst, size_t cch, const Ch* src) {
  if (dst == nullptr || cch == 0 || cch > NTSTRSAFE_MAX_CCH) return STATUS_INVALID_PARAMETER;
  size_t have = len(dst, cch);
  if (have == cch) return STATUS_INVALID_PARAMETER;  // the destination is not terminated
  return copyN(dst + have, cch - have, src, NTSTRSAFE_MAX_CCH);
}

template <typename Ch>
NTSTATUS length(const Ch* s, size_t cchMax, size_t* out) {
  if (out != nullptr) *out = 0;
  if (s == nullptr || cchMax > NTSTRSAFE_MAX_CCH) return STATUS_INVALID_PARAMETER;
  size_t n = len(s, cchMax);
  if (n == cchMax) return STATUS_INVALID_PARAMETER;  // no NUL within cchMax
  if (out != nullptr) *out = n;
  return STATUS_SUCCESS;
}

// The W printf forms: %s / %c without a size prefix are wide, %S / %C narrow; the kernel
// dialect of formatKernelMessage has them the other way round, so they are swapped.
std::string narrowFormat(const WCHAR* f) {
  std::string out;
  for (; *f != 0; ++f) {
    uint32_t c = static_cast<uint32_t>(*f);
    if (c != '%') {
      out += openwfp::km::wideToUtf8(f, 1);
      continue;
    }
    out += '%';
    bool sized = false;
    for (++f; *f != 0; ++f) {
      WCHAR x = *f;
      if (x == 'h' || x == 'l' || x == 'w' || x == 'I' || x == 'L' || x == 'z' || x == 'j' || x == 't') sized = true;
      bool conv = (x >= 'a' && x <= 'z' && x != 'h' && x != 'l' && x != 'w' && x != 'z' && x != 'j' && x != 't') ||
                  (x >= 'A' && x <= 'Z' && x != 'I' && x != 'L') || x == '%';
      if (conv && !sized) {
        if (x == 's') x = 'S';
        else if (x == 'S') x = 's';
        else if (x == 'c') x = 'C';
        else if (x == 'C') x = 'c';
      }
      out += static_cast<char>(x);
      if (conv) break;
    }
    if (*f == 0) break;
  }
  return out;
}

std::wstring utf8ToWide(const std::string& s) {
  std::wstring out;
  for (size_t i = 0; i < s.size();) {
    auto b = static_cast<unsigned char>(s[i]);
    uint32_t cp;
    size_t n;
    if (b < 0x80) { cp = b; n = 1; }
    else if ((b >> 5) == 6) { cp = b & 0x1F; n = 2; }
    else if ((b >> 4) == 14) { cp = b & 0x0F; n = 3; }
    else { cp = b & 0x07; n = 4; }
    for (size_t k = 1; k < n && i + k < s.size(); ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    out += static_cast<wchar_t>(cp);
    i += n;
  }
  return out;
}

NTSTATUS vprintfA(char* dst, size_t cch, const char* fmt, va_list args) {
  if (dst == nullptr || cch == 0 || cch > NTSTRSAFE_MAX_CCH || fmt == nullptr) return STATUS_INVALID_PARAMETER;
  std::string s = openwfp::km::formatKernelMessage(fmt, args);
  return put(dst, cch, s.data(), s.size());
}

NTSTATUS vprintfW(WCHAR* dst, size_t cch, const WCHAR* fmt, va_list args) {
  if (dst == nullptr || cch == 0 || cch > NTSTRSAFE_MAX_CCH || fmt == nullptr) return STATUS_INVALID_PARAMETER;
  std::string narrow = narrowFormat(fmt);
  std::wstring s = utf8ToWide(openwfp::km::formatKernelMessage(narrow.c_str(), args));
  return put(dst, cch, s.data(), s.size());
}

constexpr size_t kW = sizeof(WCHAR);

NTSTATUS ustrPut(PUNICODE_STRING d, const WCHAR* src, size_t n, size_t at) {
  if (d == nullptr || d->Buffer == nullptr) return STATUS_INVALID_PARAMETER;
  size_t room = d->MaximumLength / kW;
  if (at > room) return STATUS_INVALID_PARAMETER;
  NTSTATUS st = STATUS_SUCCESS;
  if (at + n > room) {
    n = room - at;
    st = STATUS_BUFFER_OVERFLOW;
  }
  if (n > 0) std::memmove(d->Buffer + at, src, n * kW);
  d->Length = static_cast<USHORT>((at + n) * kW);
  return st;
}

}  // namespace

extern "C" {

NTSTATUS RtlStringCchCopyA(NTSTRSAFE_PSTR d, size_t c, NTSTRSAFE_PCSTR s) { return copyN(d, c, s, NTSTRSAFE_MAX_CCH); }
NTSTATUS RtlStringCchCopyW(NTSTRSAFE_PWSTR d, size_t c, NTSTRSAFE_PCWSTR s) { return copyN(d, c, s, NTSTRSAFE_MAX_CCH); }
NTSTATUS RtlStringCbCopyA(NTSTRSAFE_PSTR d, size_t b, NTSTRSAFE_PCSTR s) { return copyN(d, b, s, NTSTRSAFE_MAX_CCH); }
NTSTATUS RtlStringCbCopyW(NTSTRSAFE_PWSTR d, size_t b, NTSTRSAFE_PCWSTR s) { return copyN(d, b / kW, s, NTSTRSAFE_MAX_CCH); }
NTSTATUS RtlStringCchCopyNA(NTSTRSAFE_PSTR d, size_t c, NTSTRSAFE_PCSTR s, size_t n) { return copyN(d, c, s, n); }
NTSTATUS RtlStringCchCopyNW(NTSTRSAFE_PWSTR d, size_t c, NTSTRSAFE_PCWSTR s, size_t n) { return copyN(d, c, s, n); }
NTSTATUS RtlStringCbCopyNA(NTSTRSAFE_PSTR d, size_t b, NTSTRSAFE_PCSTR s, size_t n) { return copyN(d, b, s, n); }
NTSTATUS RtlStringCbCopyNW(NTSTRSAFE_PWSTR d, size_t b, NTSTRSAFE_PCWSTR s, size_t n) { return copyN(d, b / kW, s, n / kW); }
NTSTATUS RtlStringCchCatA(NTSTRSAFE_PSTR d, size_t c, NTSTRSAFE_PCSTR s) { return cat(d, c, s); }
NTSTATUS RtlStringCchCatW(NTSTRSAFE_PWSTR d, size_t c, NTSTRSAFE_PCWSTR s) { return cat(d, c, s); }
NTSTATUS RtlStringCbCatA(NTSTRSAFE_PSTR d, size_t b, NTSTRSAFE_PCSTR s) { return cat(d, b, s); }
NTSTATUS RtlStringCbCatW(NTSTRSAFE_PWSTR d, size_t b, NTSTRSAFE_PCWSTR s) { return cat(d, b / kW, s); }
NTSTATUS RtlStringCchLengthA(NTSTRSAFE_PCSTR s, size_t m, size_t* l) { return length(s, m, l); }
NTSTATUS RtlStringCchLengthW(NTSTRSAFE_PCWSTR s, size_t m, size_t* l) { return length(s, m, l); }
NTSTATUS RtlStringCbLengthA(NTSTRSAFE_PCSTR s, size_t m, size_t* l) { return length(s, m, l); }
NTSTATUS RtlStringCbLengthW(NTSTRSAFE_PCWSTR s, size_t m, size_t* l) {
  NTSTATUS st = length(s, m / kW, l);
  if (l != nullptr) *l *= kW;
  return st;
}
NTSTATUS RtlStringCchVPrintfA(NTSTRSAFE_PSTR d, size_t c, NTSTRSAFE_PCSTR f, va_list a) { return vprintfA(d, c, f, a); }
NTSTATUS RtlStringCchVPrintfW(NTSTRSAFE_PWSTR d, size_t c, NTSTRSAFE_PCWSTR f, va_list a) { return vprintfW(d, c, f, a); }
NTSTATUS RtlStringCbVPrintfA(NTSTRSAFE_PSTR d, size_t b, NTSTRSAFE_PCSTR f, va_list a) { return vprintfA(d, b, f, a); }
NTSTATUS RtlStringCbVPrintfW(NTSTRSAFE_PWSTR d, size_t b, NTSTRSAFE_PCWSTR f, va_list a) { return vprintfW(d, b / kW, f, a); }
NTSTATUS RtlStringCchPrintfA(NTSTRSAFE_PSTR d, size_t c, NTSTRSAFE_PCSTR f, ...) {
  va_list a;
  va_start(a, f);
  NTSTATUS st = vprintfA(d, c, f, a);
  va_end(a);
  return st;
}
NTSTATUS RtlStringCchPrintfW(NTSTRSAFE_PWSTR d, size_t c, NTSTRSAFE_PCWSTR f, ...) {
  va_list a;
  va_start(a, f);
  NTSTATUS st = vprintfW(d, c, f, a);
  va_end(a);
  return st;
}
NTSTATUS RtlStringCbPrintfA(NTSTRSAFE_PSTR d, size_t b, NTSTRSAFE_PCSTR f, ...) {
  va_list a;
  va_start(a, f);
  NTSTATUS st = vprintfA(d, b, f, a);
  va_end(a);
  return st;
}
NTSTATUS RtlStringCbPrintfW(NTSTRSAFE_PWSTR d, size_t b, NTSTRSAFE_PCWSTR f, ...) {
  va_list a;
  va_start(a, f);
  NTSTATUS st = vprintfW(d, b / kW, f, a);
  va_end(a);
  return st;
}

NTSTATUS RtlUnicodeStringInit(PUNICODE_STRING d, NTSTRSAFE_PCWSTR s) {
  if (d == nullptr) return STATUS_INVALID_PARAMETER;
  d->Length = d->MaximumLength = 0;
  d->Buffer = const_cast<PWCH>(s);
  if (s == nullptr) return STATUS_SUCCESS;
  size_t n = len(s, NTSTRSAFE_UNICODE_STRING_MAX_CCH + 1);
  if (n > NTSTRSAFE_UNICODE_STRING_MAX_CCH - 1) return STATUS_INVALID_PARAMETER;
  d->Length = static_cast<USHORT>(n * kW);
  d->MaximumLength = static_cast<USHORT>((n + 1) * kW);
  return STATUS_SUCCESS;
}
NTSTATUS RtlUnicodeStringCopy(PUNICODE_STRING d, PCUNICODE_STRING s) {
  if (s == nullptr) return STATUS_INVALID_PARAMETER;
  return ustrPut(d, s->Buffer, s->Length / kW, 0);
}
NTSTATUS RtlUnicodeStringCat(PUNICODE_STRING d, PCUNICODE_STRING s) {
  if (s == nullptr || d == nullptr) return STATUS_INVALID_PARAMETER;
  return ustrPut(d, s->Buffer, s->Length / kW, d->Length / kW);
}
NTSTATUS RtlUnicodeStringCopyString(PUNICODE_STRING d, NTSTRSAFE_PCWSTR s) {
  if (s == nullptr) return STATUS_INVALID_PARAMETER;
  return ustrPut(d, s, std::wcslen(s), 0);
}
NTSTATUS RtlUnicodeStringCatString(PUNICODE_STRING d, NTSTRSAFE_PCWSTR s) {
  if (s == nullptr || d == nullptr) return STATUS_INVALID_PARAMETER;
  return ustrPut(d, s, std::wcslen(s), d->Length / kW);
}

}  // extern "C"

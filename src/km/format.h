// km/format.h - the printf dialect of DbgPrint/DbgPrintEx (Windows kernel CRT rules) on
// Linux: 'l' is 32 bits (Windows LLP64 long), I64/I32/I size prefixes, %ws/%S/%ls wide strings,
// %wZ (PUNICODE_STRING), %Z (PANSI_STRING), %C wide char; %n writes nothing (openwfp choice).
// Wide text is written as UTF-8. No WDK header needed: counted strings are read by layout.
#pragma once

#include <cstdarg>
#include <string>

namespace openwfp::km {

std::string formatKernelMessage(const char* format, va_list args);
// Variadic convenience form (no printf format attribute: the dialect is Windows's, not glibc's).
std::string formatKernelMessagef(const char* format, ...);

// UTF-32 wchar_t text -> UTF-8 (invalid code points become U+FFFD). count < 0: NUL-terminated.
std::string wideToUtf8(const wchar_t* text, long count);

}  // namespace openwfp::km

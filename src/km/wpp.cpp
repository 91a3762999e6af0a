// km/wpp.cpp - openwfp_WppTrace, what DoTraceMessage of openwfp_wpp.h calls: the WPP format
// extensions %!NAME! become 32-bit hexadecimal conversions (%!STATUS!, %!IPADDR!, %!HRESULT!,
// ...; %!PORT! decimal), then the line goes out as DbgPrintEx(IHVDRIVER, INFO) would.
#include <openwfp_wpp.h>

#include <cstdarg>
#include <string>

#include "km/format.h"

extern "C" void openwfp_WppTrace(PCSTR Flag, PCSTR Format, ...) {
  if (Format == nullptr) return;
  std::string f = std::string("[") + (Flag != nullptr ? Flag : "") + "] ";
  for (const char* p = Format; *p != 0; ++p) {
    if (p[0] == '%' && p[1] == '!') {
      const char* end = p + 2;
      while (*end != 0 && *end != '!') ++end;
      if (*end == '!') {
        std::string name(p + 2, end);
        f += name == "PORT" ? "%u" : "%#x";
        p = end;
        continue;
      }
    }
    f += *p;
  }
  f += "\n";
  va_list args;
  va_start(args, Format);
  std::string text = openwfp::km::formatKernelMessage(f.c_str(), args);
  va_end(args);
  DbgPrintEx(DPFLTR_IHVDRIVER_ID, DPFLTR_INFO_LEVEL, "%s", text.c_str());
}

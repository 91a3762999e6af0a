// km/format.cpp - DbgPrint's printf dialect (see format.h).
//
// Each conversion is parsed by hand, its argument fetched with the width Windows gives it, and
// the piece printed with snprintf; wide and counted strings are converted to UTF-8 first.
#include "km/format.h"

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <cwchar>

namespace openwfp::km {
namespace {

// Layouts of UNICODE_STRING and ANSI_STRING (STRING) as the km headers declare them.
struct CountedWide {
  uint16_t Length;  // bytes
  uint16_t MaximumLength;
  wchar_t* Buffer;
};
struct CountedNarrow {
  uint16_t Length;  // bytes
  uint16_t MaximumLength;
  char* Buffer;
};

void appendUtf8(std::string& out, uint32_t cp) {
  if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = 0xFFFD;
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

enum class Size { Default, Char, Short, Long32, Long64, Ptr, Wide, LongDouble };

struct Spec {
  std::string flags;
  int width = -1;      // -1: none
  int precision = -1;  // -1: none
  bool leftAlign = false;
  Size size = Size::Default;
};

// Pads text to the width (precision already applied by the caller).
void appendPadded(std::string& out, const Spec& spec, const std::string& text) {
  size_t width = spec.width > 0 ? static_cast<size_t>(spec.width) : 0;
  if (text.size() >= width) {
    out += text;
  } else if (spec.leftAlign) {
    out += text;
    out.append(width - text.size(), ' ');
  } else {
    out.append(width - text.size(), ' ');
    out += text;
  }
}

std::string cut(std::string s, int precision) {
  if (precision >= 0 && s.size() > static_cast<size_t>(precision)) s.resize(static_cast<size_t>(precision));
  return s;
}

// snprintf of one numeric conversion with the parsed flags/width/precision.
template <typename T>
void appendNumber(std::string& out, const Spec& spec, const char* length, char conv, T value) {
  std::string f = "%" + spec.flags;
  if (spec.width >= 0) f += std::to_string(spec.width);
  if (spec.precision >= 0) f += "." + std::to_string(spec.precision);
  f += length;
  f += conv;
  char buf[512];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
  int n = std::snprintf(buf, sizeof buf, f.c_str(), value);
#pragma GCC diagnostic pop
  if (n > 0) out.append(buf, std::min(static_cast<size_t>(n), sizeof buf - 1));
}

}  // namespace

std::string wideToUtf8(const wchar_t* text, long count) {
  std::string out;
  if (text == nullptr) return "(null)";
  for (long i = 0; count < 0 ? text[i] != L'\0' : i < count; ++i) {
    appendUtf8(out, static_cast<uint32_t>(text[i]));
  }
  return out;
}

std::string formatKernelMessage(const char* format, va_list args) {
  std::string out;
  if (format == nullptr) return out;
  va_list ap;
  va_copy(ap, args);
  const char* p = format;
  while (*p != '\0') {
    if (*p != '%') {
      out += *p++;
      continue;
    }
    const char* start = p++;
    if (*p == '%') {
      out += '%';
      ++p;
      continue;
    }
    Spec spec;
    while (*p != '\0' && std::strchr("-+ #0", *p) != nullptr) {
      if (*p == '-') spec.leftAlign = true;
      spec.flags += *p++;
    }
    if (*p == '*') {
      spec.width = va_arg(ap, int);
      if (spec.width < 0) {
        spec.leftAlign = true;
        spec.flags += '-';
        spec.width = -spec.width;
      }
      ++p;
    } else {
      while (*p >= '0' && *p <= '9') spec.width = (spec.width < 0 ? 0 : spec.width * 10) + (*p++ - '0');
    }
    if (*p == '.') {
      ++p;
      spec.precision = 0;
      if (*p == '*') {
        spec.precision = va_arg(ap, int);
        ++p;
      } else {
        while (*p >= '0' && *p <= '9') spec.precision = spec.precision * 10 + (*p++ - '0');
      }
    }
    // Size prefixes, Windows meaning.
    if (p[0] == 'h' && p[1] == 'h') {
      spec.size = Size::Char, p += 2;
    } else if (p[0] == 'h') {
      spec.size = Size::Short, ++p;
    } else if (p[0] == 'l' && p[1] == 'l') {
      spec.size = Size::Long64, p += 2;
    } else if (p[0] == 'l') {
      spec.size = Size::Long32, ++p;  // also "wide" for c/s
    } else if (p[0] == 'w') {
      spec.size = Size::Wide, ++p;
    } else if (p[0] == 'I' && p[1] == '6' && p[2] == '4') {
      spec.size = Size::Long64, p += 3;
    } else if (p[0] == 'I' && p[1] == '3' && p[2] == '2') {
      spec.size = Size::Long32, p += 3;
    } else if (p[0] == 'I' || p[0] == 'z' || p[0] == 't' || p[0] == 'j') {
      spec.size = Size::Ptr, ++p;
    } else if (p[0] == 'L') {
      spec.size = Size::LongDouble, ++p;
    }
    const char conv = *p;
    if (conv == '\0') {
      out.append(start);  // dangling '%...': print it as is
      break;
    }
    ++p;
    const bool wideArg = spec.size == Size::Wide || spec.size == Size::Long32;
    switch (conv) {
      case 'd':
      case 'i': {
        switch (spec.size) {
          case Size::Long64:
          case Size::Ptr: appendNumber(out, spec, "ll", conv, static_cast<long long>(va_arg(ap, int64_t))); break;
          case Size::Short: appendNumber(out, spec, "", conv, static_cast<int>(static_cast<short>(va_arg(ap, int)))); break;
          case Size::Char: appendNumber(out, spec, "", conv, static_cast<int>(static_cast<signed char>(va_arg(ap, int)))); break;
          default: appendNumber(out, spec, "", conv, va_arg(ap, int)); break;
        }
        break;
      }
      case 'u':
      case 'x':
      case 'X':
      case 'o': {
        switch (spec.size) {
          case Size::Long64:
          case Size::Ptr:
            appendNumber(out, spec, "ll", conv, static_cast<unsigned long long>(va_arg(ap, uint64_t)));
            break;
          case Size::Short:
            appendNumber(out, spec, "", conv, static_cast<unsigned>(static_cast<unsigned short>(va_arg(ap, unsigned))));
            break;
          case Size::Char:
            appendNumber(out, spec, "", conv, static_cast<unsigned>(static_cast<unsigned char>(va_arg(ap, unsigned))));
            break;
          default: appendNumber(out, spec, "", conv, va_arg(ap, unsigned)); break;
        }
        break;
      }
      case 'e':
      case 'E':
      case 'f':
      case 'F':
      case 'g':
      case 'G':
      case 'a':
      case 'A':
        if (spec.size == Size::LongDouble) {
          appendNumber(out, spec, "L", conv, va_arg(ap, long double));
        } else {
          appendNumber(out, spec, "", conv, va_arg(ap, double));
        }
        break;
      case 'p': {
        void* v = va_arg(ap, void*);
        Spec s = spec;
        s.precision = -1;
        appendNumber(out, s, "", 'p', v);
        break;
      }
      case 'c':
      case 'C': {
        int v = va_arg(ap, int);  // char and wchar_t (int-sized on Linux) both promote to int
        std::string text;
        if ((conv == 'C' && spec.size != Size::Short) || (conv == 'c' && wideArg)) {
          appendUtf8(text, static_cast<uint32_t>(v));
        } else {
          text += static_cast<char>(v);
        }
        appendPadded(out, spec, text);
        break;
      }
      case 's':
      case 'S': {
        const bool wide = (conv == 'S' && spec.size != Size::Short) || (conv == 's' && wideArg);
        std::string text;
        if (wide) {
          const wchar_t* w = va_arg(ap, const wchar_t*);
          if (w == nullptr) {
            text = "(null)";
          } else {
            long n = static_cast<long>(std::wcslen(w));
            if (spec.precision >= 0 && spec.precision < n) n = spec.precision;
            text = wideToUtf8(w, n);
          }
        } else {
          const char* s = va_arg(ap, const char*);
          if (s == nullptr) {
            text = "(null)";
          } else {
            text = spec.precision >= 0 ? std::string(s, strnlen(s, static_cast<size_t>(spec.precision))) : s;
          }
        }
        appendPadded(out, spec, text);
        break;
      }
      case 'Z': {
        std::string text;
        if (spec.size == Size::Wide || spec.size == Size::Long32) {
          const auto* u = va_arg(ap, const CountedWide*);
          text = (u == nullptr || u->Buffer == nullptr)
                     ? "(null)"
                     : wideToUtf8(u->Buffer, static_cast<long>(u->Length / sizeof(wchar_t)));
        } else {
          const auto* a = va_arg(ap, const CountedNarrow*);
          text = (a == nullptr || a->Buffer == nullptr) ? "(null)" : std::string(a->Buffer, a->Length);
        }
        appendPadded(out, spec, cut(std::move(text), spec.precision));
        break;
      }
      case 'n':
        (void)va_arg(ap, void*);  // never written: a classic format-string attack vector
        break;
      default:
        out.append(start, p);  // unknown conversion: printed literally, no argument consumed
        break;
    }
  }
  va_end(ap);
  return out;
}

std::string formatKernelMessagef(const char* format, ...) {
  va_list ap;
  va_start(ap, format);
  std::string s = formatKernelMessage(format, ap);
  va_end(ap);
  return s;
}

}  // namespace openwfp::km

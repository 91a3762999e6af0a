// tools/openwfp/errno_names.h - errno values the CLI accepts (--block-errno): any name the
// system knows (strerrorname_np, glibc >= 2.32), in any case, or a number 1..4095.
#pragma once

#include <string.h>

#include <cstdlib>
#include <string>

namespace openwfp::cli {

inline std::string upperCase(std::string s) {
  for (char& c : s) c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 32 : c);
  return s;
}

// -1 when text is neither a known name nor a number in range.
inline int parseErrno(const std::string& text) {
  const std::string upper = upperCase(text);
  for (int e = 1; e < 4096; ++e) {
    const char* name = ::strerrorname_np(e);
    if (name != nullptr && upper == name) return e;
  }
  char* end = nullptr;
  long v = std::strtol(text.c_str(), &end, 10);
  if (!text.empty() && end && *end == '\0' && v > 0 && v < 4096) return static_cast<int>(v);
  return -1;
}

// The names most used for a refused connect, for --help.
inline std::string errnoNames() { return "ECONNREFUSED, EACCES, EPERM, ENETUNREACH, EHOSTUNREACH, ETIMEDOUT, ECONNRESET"; }

// Every name the system knows, for the error message of a bad value.
inline std::string allErrnoNames() {
  std::string out;
  for (int e = 1; e < 4096; ++e) {
    const char* name = ::strerrorname_np(e);
    if (name == nullptr) continue;
    if (!out.empty()) out += ' ';
    out += name;
  }
  return out;
}

}  // namespace openwfp::cli

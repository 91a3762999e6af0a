// tools/openwfp/errno_names.h - errno names the CLI accepts (--block-errno).
#pragma once

#include <cerrno>
#include <cstdlib>
#include <string>
#include <utility>

namespace openwfp::cli {

inline const std::pair<const char*, int>* errnoTable(size_t& n) {
  static const std::pair<const char*, int> names[] = {
      {"ECONNREFUSED", ECONNREFUSED}, {"EACCES", EACCES},           {"EPERM", EPERM},
      {"ENETUNREACH", ENETUNREACH},   {"EHOSTUNREACH", EHOSTUNREACH}, {"ETIMEDOUT", ETIMEDOUT},
      {"ECONNRESET", ECONNRESET}};
  n = sizeof names / sizeof names[0];
  return names;
}

// A name above (any case) or a number 1..4095; -1 otherwise.
inline int parseErrno(const std::string& text) {
  size_t n = 0;
  const auto* names = errnoTable(n);
  std::string upper = text;
  for (char& c : upper) c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 32 : c);
  for (size_t i = 0; i < n; ++i)
    if (upper == names[i].first) return names[i].second;
  char* end = nullptr;
  long v = std::strtol(text.c_str(), &end, 10);
  if (!text.empty() && end && *end == '\0' && v > 0 && v < 4096) return static_cast<int>(v);
  return -1;
}

inline std::string errnoNames() {
  size_t n = 0;
  const auto* names = errnoTable(n);
  std::string out;
  for (size_t i = 0; i < n; ++i) out += (i ? ", " : "") + std::string(names[i].first);
  return out;
}

}  // namespace openwfp::cli

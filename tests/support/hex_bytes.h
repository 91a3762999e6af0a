// tests/support/hex_bytes.h - bytes as hex text, for reporting the input a property failed on.
#pragma once

#include <cstdint>
#include <cstdio>
#include <span>
#include <string>

namespace openwfp::testing_support {

inline std::string hexBytes(std::span<const uint8_t> b, size_t max = 512) {
  std::string s;
  char buf[4];
  for (size_t i = 0; i < b.size() && i < max; ++i) {
    std::snprintf(buf, sizeof buf, "%02x", b[i]);
    s += buf;
  }
  if (b.size() > max) s += "...(" + std::to_string(b.size()) + " bytes)";
  return s;
}

}  // namespace openwfp::testing_support

#include "engine/guid.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>

namespace openwfp::engine {

Guid Guid::fromParts(uint32_t d1, uint16_t d2, uint16_t d3, std::array<uint8_t, 8> d4) {
  Guid g;
  std::memcpy(g.bytes.data(), &d1, 4);
  std::memcpy(g.bytes.data() + 4, &d2, 2);
  std::memcpy(g.bytes.data() + 6, &d3, 2);
  std::memcpy(g.bytes.data() + 8, d4.data(), 8);
  return g;
}

bool Guid::isNull() const {
  for (uint8_t b : bytes)
    if (b != 0) return false;
  return true;
}

std::string Guid::str() const {
  uint32_t d1;
  uint16_t d2, d3;
  std::memcpy(&d1, bytes.data(), 4);
  std::memcpy(&d2, bytes.data() + 4, 2);
  std::memcpy(&d3, bytes.data() + 6, 2);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%02x%02x-%02x%02x%02x%02x%02x%02x", d1, d2, d3,
                bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14],
                bytes[15]);
  return buf;
}

size_t GuidHash::operator()(const Guid& g) const noexcept {
  uint64_t a, b;
  std::memcpy(&a, g.bytes.data(), 8);
  std::memcpy(&b, g.bytes.data() + 8, 8);
  return std::hash<uint64_t>{}(a * 0x9E3779B97F4A7C15ull ^ b);
}

Guid generateGuid() {
  static std::atomic<uint64_t> counter{0};
  static const uint64_t seed = [] {
    std::random_device rd;
    return (uint64_t(rd()) << 32) ^ rd() ^
           uint64_t(std::chrono::steady_clock::now().time_since_epoch().count());
  }();
  uint64_t n = counter.fetch_add(1) + 1;
  uint64_t hi = seed ^ (n * 0x9E3779B97F4A7C15ull);
  uint64_t lo = n;
  Guid g;
  std::memcpy(g.bytes.data(), &hi, 8);
  std::memcpy(g.bytes.data() + 8, &lo, 8);
  g.bytes[7] = static_cast<uint8_t>((g.bytes[7] & 0x0F) | 0x40);  // version 4
  g.bytes[8] = static_cast<uint8_t>((g.bytes[8] & 0x3F) | 0x80);  // variant
  return g;
}

}  // namespace openwfp::engine

// redirect/wire.h - little-endian field codecs for the records format (docs/records-format.md).
// Pure byte shuffling: no alignment assumptions, no host byte order dependence.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "openwfp/stack.h"

namespace openwfp::redirect::wire {

inline void putU16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
}
inline void putU32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
inline void putU64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
inline uint16_t getU16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }
inline uint32_t getU32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = v << 8 | p[i];
  return v;
}
inline uint64_t getU64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = v << 8 | p[i];
  return v;
}

// Endpoint: family byte (4 or 6), port (u16 LE, host value), 16 address bytes in network order
// (a v4 address in the first 4, the other 12 zero).
constexpr size_t kEndpointSize = 1 + 2 + 16;
constexpr uint8_t kFamilyV4 = 4;
constexpr uint8_t kFamilyV6 = 6;

inline void putEndpoint(uint8_t* p, const Endpoint& e) {
  const bool v4 = e.version == IpVersion::V4;
  p[0] = v4 ? kFamilyV4 : kFamilyV6;
  putU16(p + 1, e.port);
  std::memset(p + 3, 0, 16);
  std::memcpy(p + 3, e.addr.data(), v4 ? 4 : 16);
}

// False for an unknown family or a v4 endpoint with nonzero bytes past its address.
inline bool getEndpoint(const uint8_t* p, Endpoint& e) {
  if (p[0] != kFamilyV4 && p[0] != kFamilyV6) return false;
  e.version = p[0] == kFamilyV4 ? IpVersion::V4 : IpVersion::V6;
  e.port = getU16(p + 1);
  std::memcpy(e.addr.data(), p + 3, 16);
  if (e.version == IpVersion::V4) {
    for (size_t i = 4; i < 16; ++i) {
      if (e.addr[i] != 0) return false;
    }
  }
  return true;
}

}  // namespace openwfp::redirect::wire

// redirect/wire.h - little-endian field codecs for the records format (docs/records-format.md).
// Pure byte shuffling: no alignment assumptions, no host byte order dependence.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "openwfp/stack.h"

namespace openwfp::redirect::wire {

// Each field is written/read as little-endian bytes whatever the host order; on a little-endian
// host that is one unaligned load or store (memcpy), not a byte loop (this is on the
// FwpsQueryConnectionSioFormatRedirectRecords0 path).
template <class T>
inline void putLE(uint8_t* p, T v) {
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(p, &v, sizeof v);
  } else {
    for (size_t i = 0; i < sizeof v; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
  }
}
template <class T>
inline T getLE(const uint8_t* p) {
  T v = 0;
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(&v, p, sizeof v);
  } else {
    for (size_t i = sizeof v; i-- > 0;) v = static_cast<T>(v << 8 | p[i]);
  }
  return v;
}
inline void putU16(uint8_t* p, uint16_t v) { putLE(p, v); }
inline void putU32(uint8_t* p, uint32_t v) { putLE(p, v); }
inline void putU64(uint8_t* p, uint64_t v) { putLE(p, v); }
inline uint16_t getU16(const uint8_t* p) { return getLE<uint16_t>(p); }
inline uint32_t getU32(const uint8_t* p) { return getLE<uint32_t>(p); }
inline uint64_t getU64(const uint8_t* p) { return getLE<uint64_t>(p); }

// Endpoint: family byte (4 or 6), port (u16 LE, host value), 16 address bytes in network order
// (a v4 address in the first 4, the other 12 zero).
constexpr size_t kEndpointSize = 1 + 2 + 16;
constexpr uint8_t kFamilyV4 = 4;
constexpr uint8_t kFamilyV6 = 6;

inline void putEndpoint(uint8_t* p, const Endpoint& e) {
  const bool v4 = e.version == IpVersion::V4;
  p[0] = v4 ? kFamilyV4 : kFamilyV6;
  putU16(p + 1, e.port);
  if (v4) {
    std::memcpy(p + 3, e.addr.data(), 4);
    std::memset(p + 7, 0, 12);
  } else {
    std::memcpy(p + 3, e.addr.data(), 16);
  }
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

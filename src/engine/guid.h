// engine/guid.h - a GUID as 16 bytes in the memory layout of the C struct GUID on this host
// (Data1..Data3 in host byte order, then Data4), so the C ABI converts with a memcpy.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

namespace openwfp::engine {

struct Guid {
  std::array<uint8_t, 16> bytes{};

  static Guid fromParts(uint32_t d1, uint16_t d2, uint16_t d3, std::array<uint8_t, 8> d4);
  bool isNull() const;
  std::string str() const;  // "c6e63c8c-b784-4562-aa7d-0a67cfcaf9a3"
  friend bool operator==(const Guid&, const Guid&) = default;
  friend auto operator<=>(const Guid&, const Guid&) = default;
};

struct GuidHash {
  size_t operator()(const Guid& g) const noexcept;
};

// A process-unique random-looking GUID for objects added with an all-zero key.
Guid generateGuid();

}  // namespace openwfp::engine

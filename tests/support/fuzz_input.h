// tests/support/fuzz_input.h - reading a fuzz input as a stream of small integers: each read
// takes the next bytes (little-endian), and reads past the end give zeros, so every input,
// however short, decodes to a whole sequence of operations. Shared by the properties of
// tests/support/*_properties.h and their libFuzzer targets (fuzz/).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace openwfp::testing_support {

class FuzzInput {
 public:
  explicit FuzzInput(std::span<const uint8_t> data) : data_(data) {}

  bool empty() const { return pos_ >= data_.size(); }
  size_t left() const { return empty() ? 0 : data_.size() - pos_; }

  uint8_t u8() { return empty() ? 0 : data_[pos_++]; }
  uint16_t u16() { return static_cast<uint16_t>(u8() | u8() << 8); }
  uint32_t u32() { return uint32_t{u16()} | uint32_t{u16()} << 16; }
  uint64_t u64() { return uint64_t{u32()} | uint64_t{u32()} << 32; }

  // The next n bytes (fewer when the input ends first: the rest are zeros).
  std::vector<uint8_t> bytes(size_t n) {
    std::vector<uint8_t> out(n, 0);
    const size_t have = std::min(n, left());
    std::copy_n(data_.begin() + static_cast<std::ptrdiff_t>(pos_), have, out.begin());
    pos_ += have;
    return out;
  }

 private:
  std::span<const uint8_t> data_;
  size_t pos_ = 0;
};

// Appends v little-endian (for building seeds).
inline void putLe(std::vector<uint8_t>& out, uint64_t v, size_t bytes) {
  for (size_t i = 0; i < bytes; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

}  // namespace openwfp::testing_support

// um/wire.h - the byte-level pieces of the management wire codec (SPEC S14.4;
// docs/control-channel.md "Management calls"): a little-endian Writer, a bounds-checked Reader
// that turns every overrun into a sticky failure (never a read past the end), and the Packer
// that lays decoded WDK structures out in one malloc'ed block (freed by FwpmFreeMemory0).
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace openwfp::um {

class Writer {
 public:
  void u8(uint8_t v) { buf_.push_back(v); }
  void u16(uint16_t v) { put(v, 2); }
  void u32(uint32_t v) { put(v, 4); }
  void u64(uint64_t v) { put(v, 8); }
  void raw(const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    buf_.insert(buf_.end(), b, b + n);
  }
  // An encoder met something it cannot express (e.g. a blob with a size and no data).
  void fail() { ok_ = false; }
  bool ok() const { return ok_; }
  size_t size() const { return buf_.size(); }
  std::vector<uint8_t>& bytes() { return buf_; }

 private:
  void put(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) buf_.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  std::vector<uint8_t> buf_;
  bool ok_ = true;
};

class Reader {
 public:
  explicit Reader(std::span<const uint8_t> data) : data_(data) {}
  uint8_t u8() { return static_cast<uint8_t>(get(1)); }
  uint16_t u16() { return static_cast<uint16_t>(get(2)); }
  uint32_t u32() { return static_cast<uint32_t>(get(4)); }
  uint64_t u64() { return get(8); }
  // Copies n bytes to out (zeros when they are not there).
  void raw(void* out, size_t n) {
    if (!need(n)) {
      std::memset(out, 0, n);
      return;
    }
    std::memcpy(out, data_.data() + pos_, n);
    pos_ += n;
  }
  // True when n more bytes are there; else the reader fails.
  bool need(size_t n) {
    if (ok_ && data_.size() - pos_ >= n) return true;
    ok_ = false;
    return false;
  }
  // A count of items each at least `minBytes` long on the wire: fails when they cannot all be
  // there, so no allocation is ever sized by an unchecked count.
  bool countFits(uint64_t count, size_t minBytes) {
    if (ok_ && count <= (data_.size() - pos_) / (minBytes ? minBytes : 1)) return true;
    ok_ = false;
    return false;
  }
  // Everything not read yet (consumed).
  std::span<const uint8_t> rest() {
    auto out = ok_ ? data_.subspan(pos_) : std::span<const uint8_t>();
    pos_ = data_.size();
    return out;
  }
  void fail() { ok_ = false; }
  bool ok() const { return ok_; }
  bool atEnd() const { return pos_ == data_.size(); }
  size_t remaining() const { return data_.size() - pos_; }

 private:
  uint64_t get(int n) {
    if (!need(static_cast<size_t>(n))) return 0;
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= static_cast<uint64_t>(data_[pos_ + i]) << (8 * i);
    pos_ += static_cast<size_t>(n);
    return v;
  }
  std::span<const uint8_t> data_;
  size_t pos_ = 0;
  bool ok_ = true;
};

// Lays out one block in two passes over the same decoder: the measuring pass (no base) hands out
// zeroed scratch memory, so the decoder writes freely in both passes; the filling pass places
// everything in the block, at the same offsets.
class Packer {
 public:
  explicit Packer(uint8_t* base) : base_(base) {}
  template <typename T>
  T* alloc(size_t n = 1) {
    off_ = (off_ + alignof(T) - 1) & ~(alignof(T) - 1);
    size_t bytes = sizeof(T) * n;
    off_ += bytes;
    void* p;
    if (base_) {
      p = base_ + off_ - bytes;
    } else {
      scratch_.push_back(std::make_unique<uint64_t[]>(bytes / 8 + 1));
      p = scratch_.back().get();
    }
    std::memset(p, 0, bytes);
    return static_cast<T*>(p);
  }
  size_t size() const { return off_; }

 private:
  uint8_t* base_;
  size_t off_ = 0;
  std::vector<std::unique_ptr<uint64_t[]>> scratch_;
};

// Runs decode(reader, packer) to measure, then again into one malloc'ed block. Returns the block
// (free() it; FwpmFreeMemory0 does) or nullptr when the input is malformed (decode returned
// false, the reader failed, or bytes were left over); `oom` is set when malloc failed.
template <typename Decode>
void* decodeBlock(std::span<const uint8_t> bytes, Decode&& decode, bool* oom = nullptr) {
  if (oom) *oom = false;
  size_t size;
  {
    Reader r(bytes);
    Packer measure(nullptr);
    if (!decode(r, measure) || !r.ok() || !r.atEnd()) return nullptr;
    size = measure.size() ? measure.size() : 1;
  }
  auto* block = static_cast<uint8_t*>(std::malloc(size));
  if (!block) {
    if (oom) *oom = true;
    return nullptr;
  }
  Reader r(bytes);
  Packer fill(block);
  decode(r, fill);
  return block;
}

}  // namespace openwfp::um

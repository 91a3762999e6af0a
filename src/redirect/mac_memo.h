// redirect/mac_memo.h - per-thread memo of recently computed records MACs.
//
// Sealing is deterministic, so the MAC of bytes sealed before can be reused: a driver that
// queries the records of the same unchanged connection again (or a benchmark) skips the HMAC,
// which costs ~1 us here. A hit needs the same sealer and byte-identical body (everything the MAC
// covers, so the instance id, history id and every entry field); anything else recomputes.
// thread_local: no lock, no sharing between threads. Stored MACs are not secret (they are
// handed out with the records); the key is never stored here. A slot left behind by a destroyed
// sealer never hits for a new sealer at the same address: the body holds the random instance id.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace openwfp::redirect {

template <size_t MaxBody, size_t MacSize>
class MacMemo {
 public:
  // Copies the remembered MAC of (owner, body) to out; false when not remembered.
  static bool lookup(const void* owner, uint64_t key, std::span<const uint8_t> body, uint8_t* out) {
    const Slot& s = slots_[key % kSlots];
    if (s.owner != owner || s.len != body.size() || body.size() > MaxBody) return false;
    if (std::memcmp(s.body.data(), body.data(), body.size()) != 0) return false;
    std::memcpy(out, s.mac.data(), MacSize);
    return true;
  }
  static void store(const void* owner, uint64_t key, std::span<const uint8_t> body, const uint8_t* mac) {
    if (body.size() > MaxBody) return;
    Slot& s = slots_[key % kSlots];
    s.owner = owner;
    s.len = body.size();
    std::memcpy(s.body.data(), body.data(), body.size());
    std::memcpy(s.mac.data(), mac, MacSize);
  }
 private:
  static constexpr size_t kSlots = 8;  // direct-mapped by key (the history id)
  struct Slot {
    const void* owner = nullptr;
    size_t len = 0;
    std::array<uint8_t, MaxBody> body{};
    std::array<uint8_t, MacSize> mac{};
  };
  static thread_local std::array<Slot, kSlots> slots_;
};

template <size_t MaxBody, size_t MacSize>
thread_local std::array<typename MacMemo<MaxBody, MacSize>::Slot, MacMemo<MaxBody, MacSize>::kSlots>
    MacMemo<MaxBody, MacSize>::slots_{};

}  // namespace openwfp::redirect

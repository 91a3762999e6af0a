// verifier/pool.h - pool allocations accounted by tag and driver (S11.2), and the set of
// allocations the engine owns (localRedirectContext after Apply, S5.6).
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace openwfp::verifier {

struct PoolAllocation {
  void* ptr = nullptr;
  size_t size = 0;
  uint32_t tag = 0;
  std::string driver;
};

enum class FreeResult { Freed, Unknown, TagMismatch, EngineOwned };

// The tag as 4 characters, as WinDbg and poolmon show it: the bytes in memory (little-endian)
// order, so a driver that writes 'kaeL' sees "Leak". Non-printable bytes show as '.'.
std::string tagToString(uint32_t tag);

class PoolTracker {
 public:
  PoolTracker() = default;
  // Frees whatever is still live (the tracker owns the memory; leaks were reported at unload).
  ~PoolTracker();
  PoolTracker(const PoolTracker&) = delete;
  PoolTracker& operator=(const PoolTracker&) = delete;

  // Allocates size bytes (zeroed when zero == true); returns nullptr for size 0 or when out of
  // memory.
  void* allocate(size_t size, uint32_t tag, const std::string& driver, bool zero);
  // Frees ptr. expectedTag == 0 means "any tag". An engine-owned pointer is NOT freed.
  // Unknown (never allocated here, or already freed) -> Unknown, nothing is touched.
  // A live pointer freed with another tag -> TagMismatch, and it IS freed (openwfp choice: the
  // driver meant to free it; keeping it would only add a second, misleading leak report).
  FreeResult free(void* ptr, uint32_t expectedTag);
  // The allocation record of a live pointer (for messages), if any.
  bool lookup(void* ptr, PoolAllocation* out) const;
  // Engine ownership (S5.6): the engine takes ptr; a driver free is then refused and reported.
  void markEngineOwned(void* ptr);
  // The engine frees what it owns (bypasses the engine-owned refusal).
  void freeEngineOwned(void* ptr);
  bool isLive(void* ptr) const;
  bool isEngineOwned(void* ptr) const;
  // The driver's live allocations, oldest first; engine-owned ones are not included (the engine
  // frees them when their flow ends, they are not the driver's leak).
  std::vector<PoolAllocation> liveFor(const std::string& driver) const;
  size_t liveCount() const;

 private:
  mutable std::mutex mu_;  // guards live_
  struct Info {
    PoolAllocation alloc;
    bool engineOwned = false;
    uint64_t seq = 0;  // allocation order, for stable leak reports
  };
  uint64_t nextSeq_ = 0;  // guarded by mu_
  std::unordered_map<void*, Info> live_;
};

}  // namespace openwfp::verifier

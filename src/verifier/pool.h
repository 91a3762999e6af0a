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

class PoolTracker {
 public:
  // Allocates size bytes (zeroed when zero == true); never returns a pointer for size 0 + ...
  void* allocate(size_t size, uint32_t tag, const std::string& driver, bool zero);
  // Frees ptr. expectedTag == 0 means "any tag". An engine-owned pointer is NOT freed.
  FreeResult free(void* ptr, uint32_t expectedTag);
  // Engine ownership (S5.6): the engine takes ptr; a driver free is then refused and reported.
  void markEngineOwned(void* ptr);
  // The engine frees what it owns (bypasses the engine-owned refusal).
  void freeEngineOwned(void* ptr);
  bool isLive(void* ptr) const;
  std::vector<PoolAllocation> liveFor(const std::string& driver) const;
  size_t liveCount() const;

 private:
  mutable std::mutex mu_;  // guards live_
  struct Info {
    PoolAllocation alloc;
    bool engineOwned = false;
  };
  std::unordered_map<void*, Info> live_;
};

}  // namespace openwfp::verifier

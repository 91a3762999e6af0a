// verifier/pool.cpp - pool allocations accounted by tag and driver (S11.2, S5.6).
#include "verifier/pool.h"

#include <algorithm>
#include <cstdlib>

namespace openwfp::verifier {

std::string tagToString(uint32_t tag) {
  std::string s(4, '.');
  for (int i = 0; i < 4; ++i) {
    auto c = static_cast<unsigned char>((tag >> (8 * i)) & 0xFF);
    if (c >= 0x20 && c <= 0x7E) s[static_cast<size_t>(i)] = static_cast<char>(c);
  }
  return s;
}

PoolTracker::~PoolTracker() {
  for (auto& [ptr, info] : live_) std::free(ptr);
  live_.clear();
}

void* PoolTracker::allocate(size_t size, uint32_t tag, const std::string& driver, bool zero) {
  if (size == 0) return nullptr;
  // malloc on LP64 glibc aligns to 16 bytes, the documented pool alignment on 64-bit Windows.
  void* p = zero ? std::calloc(1, size) : std::malloc(size);
  if (p == nullptr) return nullptr;
  std::lock_guard lock(mu_);
  live_[p] = Info{PoolAllocation{p, size, tag, driver}, false, nextSeq_++};
  return p;
}

FreeResult PoolTracker::free(void* ptr, uint32_t expectedTag) {
  FreeResult result = FreeResult::Freed;
  {
    std::lock_guard lock(mu_);
    auto it = live_.find(ptr);
    if (it == live_.end()) return FreeResult::Unknown;
    if (it->second.engineOwned) return FreeResult::EngineOwned;
    if (expectedTag != 0 && expectedTag != it->second.alloc.tag) result = FreeResult::TagMismatch;
    live_.erase(it);  // erased before the memory is released: the address cannot be reused yet
  }
  std::free(ptr);
  return result;
}

bool PoolTracker::lookup(void* ptr, PoolAllocation* out) const {
  std::lock_guard lock(mu_);
  auto it = live_.find(ptr);
  if (it == live_.end()) return false;
  if (out != nullptr) *out = it->second.alloc;
  return true;
}

void PoolTracker::markEngineOwned(void* ptr) {
  std::lock_guard lock(mu_);
  auto it = live_.find(ptr);
  if (it != live_.end()) it->second.engineOwned = true;
}

void PoolTracker::freeEngineOwned(void* ptr) {
  {
    std::lock_guard lock(mu_);
    auto it = live_.find(ptr);
    if (it == live_.end()) return;
    live_.erase(it);
  }
  std::free(ptr);
}

bool PoolTracker::isLive(void* ptr) const {
  std::lock_guard lock(mu_);
  return live_.count(ptr) == 1;
}

bool PoolTracker::isEngineOwned(void* ptr) const {
  std::lock_guard lock(mu_);
  auto it = live_.find(ptr);
  return it != live_.end() && it->second.engineOwned;
}

std::vector<PoolAllocation> PoolTracker::liveFor(const std::string& driver) const {
  std::vector<std::pair<uint64_t, PoolAllocation>> found;
  {
    std::lock_guard lock(mu_);
    for (const auto& [ptr, info] : live_) {
      if (!info.engineOwned && info.alloc.driver == driver) found.emplace_back(info.seq, info.alloc);
    }
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<PoolAllocation> out;
  out.reserve(found.size());
  for (auto& f : found) out.push_back(std::move(f.second));
  return out;
}

size_t PoolTracker::liveCount() const {
  std::lock_guard lock(mu_);
  return live_.size();
}

}  // namespace openwfp::verifier

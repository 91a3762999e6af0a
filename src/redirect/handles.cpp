// redirect/handles.cpp - redirect handle registry (S7.1).
#include "redirect/handles.h"

#include <algorithm>

namespace openwfp::redirect {

uint64_t HandleRegistry::create(const std::array<uint8_t, 16>& providerGuid, const std::string& owner) {
  std::lock_guard lock(mu_);
  uint64_t id = next_++;
  // Ids are never reused; skipping 0 keeps "never 0" even after 2^64 creations.
  while (id == 0 || handles_.count(id) != 0) id = next_++;
  handles_.emplace(id, HandleInfo{id, providerGuid, owner});
  return id;
}

bool HandleRegistry::destroy(uint64_t id) {
  std::lock_guard lock(mu_);
  return handles_.erase(id) == 1;
}

bool HandleRegistry::valid(uint64_t id) const {
  std::lock_guard lock(mu_);
  return handles_.count(id) == 1;
}

std::vector<HandleInfo> HandleRegistry::ownedBy(const std::string& owner) const {
  std::vector<HandleInfo> out;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, info] : handles_) {
      if (info.owner == owner) out.push_back(info);
    }
  }
  std::sort(out.begin(), out.end(), [](const HandleInfo& a, const HandleInfo& b) { return a.id < b.id; });
  return out;
}

}  // namespace openwfp::redirect

// redirect/handles.h - redirect handles (FwpsRedirectHandleCreate0/Destroy0, S7.1).
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace openwfp::redirect {

struct HandleInfo {
  uint64_t id = 0;
  std::array<uint8_t, 16> providerGuid{};  // GUID bytes as laid out in memory
  std::string owner;                       // driver name that created it (for leak reports)
};

class HandleRegistry {
 public:
  uint64_t create(const std::array<uint8_t, 16>& providerGuid, const std::string& owner);  // never 0
  bool destroy(uint64_t id);    // false if unknown / already destroyed
  bool valid(uint64_t id) const;
  std::vector<HandleInfo> ownedBy(const std::string& owner) const;  // leak report at unload

 private:
  mutable std::mutex mu_;  // guards handles_ and next_
  std::unordered_map<uint64_t, HandleInfo> handles_;
  uint64_t next_ = 0x100;
};

}  // namespace openwfp::redirect

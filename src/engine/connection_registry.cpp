// engine/connection_registry.cpp - see connection_registry.h.
#include "engine/connection_registry.h"

#include "redirect/history.h"

namespace openwfp::engine {

void ConnectionRegistry::track(const std::shared_ptr<redirect::History>& h) {
  std::lock_guard lock(mu_);
  connections_[h->id()] = h;
}

void ConnectionRegistry::untrack(uint64_t historyId) {
  std::lock_guard lock(mu_);
  connections_.erase(historyId);
}

bool ConnectionRegistry::live(uint64_t historyId) const {
  std::lock_guard lock(mu_);
  auto it = connections_.find(historyId);
  return it != connections_.end() && !it->second.expired();
}

}  // namespace openwfp::engine

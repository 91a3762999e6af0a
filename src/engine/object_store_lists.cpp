// engine/object_store_lists.cpp - ObjectStore's listings of whole kinds (SPEC S14.4, S14.7): what
// FwpmProviderEnum0, FwpmSubLayerEnum0 and FwpmCalloutEnum0 enumerate. Copies taken under
// storeMu_, so a listing is one consistent view.
#include <algorithm>

#include "engine/object_store.h"

namespace openwfp::engine {

std::vector<Provider> ObjectStore::providers() const {
  std::vector<Provider> out;
  {
    std::lock_guard lock(storeMu_);
    out.reserve(providers_.size());
    for (auto& [key, p] : providers_) out.push_back(p);
  }
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.key < b.key; });
  return out;
}

std::vector<SubLayer> ObjectStore::subLayers() const {
  std::vector<SubLayer> out;
  {
    std::lock_guard lock(storeMu_);
    out.reserve(subLayers_.size());
    for (auto& [key, s] : subLayers_) out.push_back(s);
  }
  // Creation order (built-in sublayers first), the tie-break classification uses.
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.order < b.order; });
  return out;
}

std::vector<CalloutObject> ObjectStore::callouts() const {
  std::vector<CalloutObject> out;
  {
    std::lock_guard lock(storeMu_);
    out.reserve(callouts_.size());
    for (auto& [key, c] : callouts_) out.push_back(c);
  }
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.id < b.id; });
  return out;
}

}  // namespace openwfp::engine

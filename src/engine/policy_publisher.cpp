// engine/policy_publisher.cpp - see policy_publisher.h.
#include "engine/policy_publisher.h"

#include <vector>

#include "engine/callout_slots.h"

namespace openwfp::engine {

PolicyPublisher::PolicyPublisher(CalloutSlots& slots) : slots_(slots) {
  auto policy = std::make_shared<PolicySnapshot>();
  for (const auto& l : allLayers()) policy->layers[static_cast<size_t>(l.id)] = LayerSnapshot::empty(l);
  policy_.store(std::move(policy));
}

void PolicyPublisher::publish(const std::array<bool, kLayerCount>& dirty,
                              const LayerFilters& layerFilters, const SubLayers& subLayers) {
  auto old = policy_.load();
  auto next = std::make_shared<PolicySnapshot>(*old);
  next->generation = old->generation + 1;
  for (size_t i = 0; i < kLayerCount; ++i) {
    if (!dirty[i]) continue;
    std::vector<FilterInput> inputs;
    inputs.reserve(layerFilters[i].size());
    for (auto& [id, f] : layerFilters[i]) {
      FilterInput in;
      in.filter = f;
      if (isCalloutAction(f->spec.action)) in.callout = slots_.byKey(f->spec.filterTypeOrCalloutKey, true);
      auto s = subLayers.find(f->subLayerKey);
      in.subLayerOrder = s != subLayers.end() ? s->second.order : 0;
      inputs.push_back(std::move(in));
    }
    next->layers[i] = LayerSnapshot::build(allLayers()[i], std::move(inputs));
  }
  policy_.store(std::move(next));
}

}  // namespace openwfp::engine

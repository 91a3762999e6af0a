// engine/policy_publisher.h - the PolicySnapshot classifies see (SPEC S2.2, S4.3): one immutable
// LayerSnapshot per layer, published with one atomic store, so a classify that loaded it never
// sees half a transaction. The ObjectStore asks for the layers it changed to be rebuilt.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <unordered_map>

#include "engine/filter_index.h"
#include "engine/guid.h"
#include "engine/layers.h"
#include "engine/objects.h"

namespace openwfp::engine {

class CalloutSlots;

class PolicyPublisher {
 public:
  using LayerFilters =
      std::array<std::unordered_map<uint64_t, std::shared_ptr<const Filter>>, kLayerCount>;
  using SubLayers = std::unordered_map<Guid, SubLayer, GuidHash>;

  // Starts with an empty snapshot of every layer (generation 0).
  explicit PolicyPublisher(CalloutSlots& slots);
  PolicyPublisher(const PolicyPublisher&) = delete;
  PolicyPublisher& operator=(const PolicyPublisher&) = delete;

  // Lock-free; the snapshot stays valid for as long as the caller keeps it.
  std::shared_ptr<const PolicySnapshot> current() const { return policy_.load(); }

  // Rebuilds the layers marked in `dirty` from their filters (sublayer creation order from
  // `subLayers`) and publishes them, with the other layers unchanged, as the next generation.
  // Callers serialize publish() (the ObjectStore holds its storeMu_).
  void publish(const std::array<bool, kLayerCount>& dirty, const LayerFilters& layerFilters,
               const SubLayers& subLayers);

 private:
  CalloutSlots& slots_;
  std::atomic<std::shared_ptr<const PolicySnapshot>> policy_;  // written by publish() only
};

}  // namespace openwfp::engine

// engine/flow_contexts.cpp - see flow_contexts.h.
#include "engine/flow_contexts.h"

#include "engine/callout_slots.h"

namespace openwfp::engine {

Status FlowContexts::associate(uint64_t flowId, uint16_t layerId, uint32_t calloutId,
                               uint64_t context) {
  if (context == 0) return Status::InvalidParameter;
  auto slot = slots_.byId(calloutId);
  if (!slot) return Status::InvalidParameter;
  auto reg = slot->registration();
  if (!reg || !reg->functions || !reg->functions->hasFlowDelete()) return Status::InvalidParameter;
  std::lock_guard lock(mu_);
  auto key = std::make_tuple(flowId, layerId, calloutId);
  if (flows_.count(key)) return Status::ObjectNameExists;
  flows_.emplace(key, context);
  slot->addFlowContext();
  return Status::Success;
}

Status FlowContexts::remove(uint64_t flowId, uint16_t layerId, uint32_t calloutId) {
  std::vector<Removed> removed;
  {
    std::lock_guard lock(mu_);
    auto it = flows_.find(std::make_tuple(flowId, layerId, calloutId));
    if (it == flows_.end()) return Status::Unsuccessful;
    removed.push_back({layerId, calloutId, it->second});
    flows_.erase(it);
  }
  notifyDeleted(removed);
  return Status::Success;
}

size_t FlowContexts::endFlow(uint64_t flowId) {
  std::vector<Removed> removed;
  {
    std::lock_guard lock(mu_);
    auto it = flows_.lower_bound(std::make_tuple(flowId, uint16_t{0}, uint32_t{0}));
    while (it != flows_.end() && std::get<0>(it->first) == flowId) {
      removed.push_back({std::get<1>(it->first), std::get<2>(it->first), it->second});
      it = flows_.erase(it);
    }
  }
  notifyDeleted(removed);
  return removed.size();
}

size_t FlowContexts::dropCallout(uint32_t calloutId) {
  size_t n = 0;
  std::lock_guard lock(mu_);
  for (auto it = flows_.begin(); it != flows_.end();) {
    if (std::get<2>(it->first) == calloutId) {
      it = flows_.erase(it);
      ++n;
    } else {
      ++it;
    }
  }
  if (auto slot = slots_.byId(calloutId))
    for (size_t i = 0; i < n; ++i) slot->removeFlowContext();
  return n;
}

size_t FlowContexts::count() const {
  std::lock_guard lock(mu_);
  return flows_.size();
}

void FlowContexts::notifyDeleted(const std::vector<Removed>& removed) {
  for (const auto& r : removed) {
    auto slot = slots_.byId(r.calloutId);
    if (!slot) continue;
    // The count drops only after flowDeleteFn returned, so the callout cannot be unregistered
    // (STATUS_DEVICE_BUSY) while its flowDeleteFn still runs.
    auto reg = slot->registration();
    if (reg && reg->functions && reg->functions->hasFlowDelete())
      reg->functions->flowDelete(r.layerId, r.calloutId, r.context);
    slot->removeFlowContext();
  }
}

}  // namespace openwfp::engine

// engine/flow_contexts.cpp - see flow_contexts.h.
#include "engine/flow_contexts.h"

#include "engine/callout_slots.h"

namespace openwfp::engine {

Status FlowContexts::associate(uint64_t flowId, uint16_t layerId, uint32_t calloutId,
                               uint64_t context) {
  auto slot = slots_.byId(calloutId);
  if (!slot) return Status::FwpCalloutNotFound;
  std::lock_guard lock(mu_);
  auto key = std::make_tuple(flowId, layerId, calloutId);
  if (flows_.count(key)) return Status::FwpAlreadyExists;
  flows_.emplace(key, context);
  slot->addFlowContext();
  return Status::Success;
}

Status FlowContexts::remove(uint64_t flowId, uint16_t layerId, uint32_t calloutId) {
  std::lock_guard lock(mu_);
  auto it = flows_.find(std::make_tuple(flowId, layerId, calloutId));
  if (it == flows_.end()) return Status::NotFound;
  flows_.erase(it);
  if (auto slot = slots_.byId(calloutId)) slot->removeFlowContext();
  return Status::Success;
}

}  // namespace openwfp::engine

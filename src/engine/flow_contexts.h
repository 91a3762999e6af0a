// engine/flow_contexts.h - flow contexts (FwpsFlowAssociateContext0 / FwpsFlowRemoveContext0):
// one context per (flow id, layer id, callout id), counted on the callout's slot so that
// unregistering a callout whose flows still carry a context fails with STATUS_DEVICE_BUSY (S3.1).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <tuple>

#include "engine/status.h"

namespace openwfp::engine {

class CalloutSlots;

class FlowContexts {
 public:
  explicit FlowContexts(CalloutSlots& slots) : slots_(slots) {}
  FlowContexts(const FlowContexts&) = delete;
  FlowContexts& operator=(const FlowContexts&) = delete;

  // FwpCalloutNotFound for an unknown callout id, FwpAlreadyExists when the flow already carries
  // a context of this callout at this layer.
  Status associate(uint64_t flowId, uint16_t layerId, uint32_t calloutId, uint64_t context);
  // NotFound when no such context is associated.
  Status remove(uint64_t flowId, uint16_t layerId, uint32_t calloutId);

 private:
  CalloutSlots& slots_;
  // Guards flows_. Lock order: mu_ -> CalloutSlots::mu_ -> CalloutSlot::mu_ (the slot's flow
  // context count changes under it).
  std::mutex mu_;
  std::map<std::tuple<uint64_t, uint16_t, uint32_t>, uint64_t> flows_;
};

}  // namespace openwfp::engine

// engine/flow_contexts.h - flow contexts (FwpsFlowAssociateContext0 / FwpsFlowRemoveContext0,
// SPEC S15.4): one context per (flow id, layer id, callout id), counted on the callout's slot so
// that unregistering a callout whose flows still carry a context fails with STATUS_DEVICE_BUSY
// (S3.1). A flow is a connection: its id is the connection's History id, handed to callouts as
// FWPS_METADATA_FIELD_FLOW_HANDLE at the connect layers. The callout's flowDeleteFn runs once per
// context: when the context is removed, or when the flow ends (endFlow).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <tuple>
#include <vector>

#include "engine/status.h"

namespace openwfp::engine {

class CalloutSlots;

class FlowContexts {
 public:
  explicit FlowContexts(CalloutSlots& slots) : slots_(slots) {}
  FlowContexts(const FlowContexts&) = delete;
  FlowContexts& operator=(const FlowContexts&) = delete;

  // As documented: InvalidParameter when `context` is 0 or the callout has no flowDeleteFn
  // registered (an unknown or unregistered callout id has none); ObjectNameExists (a success
  // code, nothing changed) when the flow already carries a context of this callout at this layer.
  Status associate(uint64_t flowId, uint16_t layerId, uint32_t calloutId, uint64_t context);
  // Unsuccessful when no such context is associated; on success the callout's flowDeleteFn has
  // run (synchronously) with the removed context.
  Status remove(uint64_t flowId, uint16_t layerId, uint32_t calloutId);
  // The flow ended: every context it carries is removed and each callout's flowDeleteFn runs
  // once (on this thread, no engine lock held). Returns how many ran.
  size_t endFlow(uint64_t flowId);
  // The callout's driver is gone (forced unregistration at unload): its contexts are dropped
  // without calling into the driver. Returns how many.
  size_t dropCallout(uint32_t calloutId);
  size_t count() const;

 private:
  struct Removed {
    uint16_t layerId;
    uint32_t calloutId;
    uint64_t context;
  };
  void notifyDeleted(const std::vector<Removed>& removed);

  CalloutSlots& slots_;
  // Guards flows_. Lock order: mu_ -> CalloutSlots::mu_ -> CalloutSlot::mu_ (the slot's flow
  // context count changes under it). Never held while a flowDeleteFn runs.
  mutable std::mutex mu_;
  std::map<std::tuple<uint64_t, uint16_t, uint32_t>, uint64_t> flows_;
};

}  // namespace openwfp::engine

// engine/connection_registry.h - what the engine knows about connections beyond one classify:
// the live connection histories (runtime/records_api.h isLive, SIO_SET of live records, S8.8), the
// records handles of S8.6 and the flow contexts of FwpsFlowAssociateContext0.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "engine/flow_contexts.h"
#include "engine/records_handles.h"

namespace openwfp::redirect {
class History;
}

namespace openwfp::engine {

class CalloutSlots;

class ConnectionRegistry {
 public:
  explicit ConnectionRegistry(CalloutSlots& slots) : flows_(slots) {}
  ConnectionRegistry(const ConnectionRegistry&) = delete;
  ConnectionRegistry& operator=(const ConnectionRegistry&) = delete;

  // Live connection histories: registered by the Classifier when a connect is classified,
  // dropped when it is blocked or reported closed.
  void track(const std::shared_ptr<redirect::History>& h);
  void untrack(uint64_t historyId);
  bool live(uint64_t historyId) const;

  RecordsHandles& recordsHandles() { return records_; }
  FlowContexts& flowContexts() { return flows_; }
  const FlowContexts& flowContexts() const { return flows_; }

 private:
  mutable std::mutex mu_;  // guards connections_; a leaf (nothing is taken under it)
  std::unordered_map<uint64_t, std::weak_ptr<redirect::History>> connections_;
  RecordsHandles records_;  // its own shared mutex (RecordsHandles::mu_)
  FlowContexts flows_;      // its own mutex (FlowContexts::mu_)
};

}  // namespace openwfp::engine

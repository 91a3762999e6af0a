// engine/pended_operations.h - FwpsPendOperation0 / FwpsCompleteOperation0 (SPEC S15.4).
//
// A classify at a layer that allows it (layers.h, canPendOperation: ALE_AUTH_CONNECT; openwfp
// has no RESOURCE_ASSIGNMENT / AUTH_LISTEN / RECV_ACCEPT layer) gets a completion handle, which
// the C ABI hands to callouts as FWPS_METADATA_FIELD_COMPLETION_HANDLE. A callout that pends the
// operation with it gets a completion context; the connect waits (the classify is parked like a
// pended classify, with the same deadline, S6.4) until FwpsCompleteOperation0, after which the
// operation is authorized again: the classify runs again from the first filter with
// FWP_CONDITION_FLAG_IS_REAUTHORIZE set, and in that round FwpsPendOperation0 fails with
// STATUS_FWP_CANNOT_PEND, as documented. Handles and contexts are never reused, so a stale one is
// recognised and reported.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "engine/engine_services.h"
#include "engine/status.h"

namespace openwfp::engine {

class Classify;
class ClassifyRunner;

// FWPS_CLASSIFY_OUT_FLAG_ABSORB: what a callout that pends the operation sets with BLOCK.
inline constexpr uint32_t kClassifyOutFlagAbsorb = 0x00000001;

class PendedOperations {
 public:
  explicit PendedOperations(const EngineServices& services) : services_(services) {}
  PendedOperations(const PendedOperations&) = delete;
  PendedOperations& operator=(const PendedOperations&) = delete;

  // ClassifyRunner::start for a classify at a layer that allows it: its completion handle.
  uint64_t open(const std::shared_ptr<Classify>& c);
  // ClassifyRunner::finish: the classify's completion handle and contexts become stale.
  void close(const Classify& c);

  // FwpsPendOperation0. `current` is the classify whose classifyFn runs on this thread (nullptr
  // outside any). *completionContext is 0 unless Success.
  Status pend(uint64_t completionHandle, Classify* current, uint64_t* completionContext);
  // FwpsCompleteOperation0: re-authorizes the pended operation and drives its classify on this
  // thread (or, when called from inside the classifyFn that pended, on the classifyFn's thread).
  void complete(uint64_t completionContext, ClassifyRunner& runner);

  // Classifies pended with FwpsPendOperation0 now (engine shutdown / blockPended).
  std::vector<std::shared_ptr<Classify>> pended() const;

 private:
  struct ContextEntry {
    std::shared_ptr<Classify> pended;  // keeps the parked classify alive until completed
    std::weak_ptr<Classify> classify;
    bool completed = false;
  };
  const EngineServices& services_;
  // Guards the maps and next_. A leaf: taken under no other engine lock, and no Classify::mu_ is
  // taken under it.
  mutable std::mutex mu_;
  std::unordered_map<uint64_t, std::weak_ptr<Classify>> handles_;  // completion handles
  std::unordered_map<uint64_t, ContextEntry> contexts_;            // completion contexts
  uint64_t next_ = 0x0C0000;
};

}  // namespace openwfp::engine

// engine/classify.h - one classify at one layer: the matched filters, arbitration, callout
// invocations, writable layer data versions, pend state and trace record (SPEC S4, S5, S6).
//
// A Classify is driven by the ClassifyRunner (classify_runner.h) on the thread that started it
// and, after a pend, on the thread that completes it; driver calls through a classify handle
// (ClassifyHandles: acquire/apply/pend/complete) may arrive from any thread. `mu_` guards every
// member below it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "engine/arbitration.h"
#include "engine/callouts.h"
#include "engine/conditions.h"
#include "engine/filter_index.h"
#include "engine/layers.h"
#include "openwfp/stack.h"
#include "openwfp/trace.h"

namespace openwfp::redirect {
class History;
}

namespace openwfp::engine {

class ContextPool;

// Engine form of the writable layer data: FWPS_CONNECT_REQUEST0 (connect-redirect) or
// FWPS_BIND_REQUEST0 (bind-redirect: local + portReservationToken only), without the chain.
struct LayerData {
  Endpoint local;
  Endpoint remote;
  uint64_t portReservationToken = 0;
  uint32_t localRedirectTargetPid = 0;
  uint64_t localRedirectHandle = 0;  // HANDLE value of a redirect handle
  void* localRedirectContext = nullptr;
  size_t localRedirectContextSize = 0;
  uint64_t modifierFilterId = 0;
};

struct ClassifyMetadata {
  uint64_t processId = 0;
  bool hasLocalRedirectTargetPid = false;  // AUTH_CONNECT of a redirected connection
  uint32_t localRedirectTargetPid = 0;
  std::optional<Endpoint> originalDestination;
  uint64_t redirectRecords = 0;  // records handle (connect-redirect), 0 = not present
  uint64_t flowHandle = 0;       // the connection's flow id (FlowContexts), 0 = not present
};

struct ClassifyRequest {
  LayerId layer = LayerId::ConnectRedirectV4;
  ClassifyValues values;
  ClassifyMetadata metadata;
  LayerData data;
  std::shared_ptr<redirect::History> history;  // connect-redirect: the connection's history
  std::shared_ptr<const ApplicationSocket> socket;  // connect-redirect: StackRequest::socket
  std::string processPath;                      // for the trace
};

class Classify {
 public:
  using Done = std::function<void(Classify&)>;
  ~Classify();
  Classify(const Classify&) = delete;
  Classify& operator=(const Classify&) = delete;

  uint64_t id() const { return id_; }
  const LayerInfo& layer() const { return *layer_; }
  // The values/metadata of the current round (flags carry IS_REAUTHORIZE on re-runs). Stable
  // while a callout runs.
  const ClassifyValues& values() const { return values_; }
  const ClassifyMetadata& metadata() const { return request_.metadata; }
  const std::shared_ptr<redirect::History>& history() const { return request_.history; }
  // The application's socket, where the stack backend shares it (null otherwise).
  const std::shared_ptr<const ApplicationSocket>& applicationSocket() const { return request_.socket; }
  uint32_t round() const { return round_; }
  // The classifyContext pointer handed to callouts (identifies this classify).
  const void* context() const { return this; }
  // FWPS_METADATA_FIELD_COMPLETION_HANDLE for FwpsPendOperation0 (pended_operations.h); 0 at a
  // layer that does not allow it. Set before the first callout runs, constant after.
  uint64_t completionHandle() const { return completionHandle_; }

  // Opaque per-classify state of the C ABI (incoming values, metadata and writable-data structs
  // it built). Created on first use with `make`, under the classify's lock.
  template <typename T, typename Make>
  std::shared_ptr<T> abiState(Make&& make) {
    std::lock_guard lock(mu_);
    if (!abi_) abi_ = make();
    return std::static_pointer_cast<T>(abi_);
  }

  // Results, valid once finished (in the Done callback).
  bool permitted() const { return permitted_; }
  bool timedOut() const { return timedOut_; }
  // The errno a deciding callout BLOCK asked for (OPENWFP_SET_BLOCK_ERRNO, openwfp_km_ext.h); 0: none.
  int blockErrno() const { return blockErrno_; }
  const LayerData& finalData() const { return current_; }
  const LayerData& originalData() const { return request_.data; }
  bool modified() const { return !versions_.empty(); }
  // The filter whose FwpsApplyModifiedLayerData0 made finalData(); 0: none (traced or not).
  uint64_t lastModifierFilterId() const { return lastModifierFilterId_; }
  const std::vector<std::string>& reasons() const { return record_.reasons; }
  const trace::ClassifyRecord& record() const { return record_; }
  void addReason(std::string r);
  // The trace's final destination when it is not where finalData() points (a redirect the
  // engine did not apply: the connection goes to the original destination).
  void setFinalDestination(std::string destination);

 private:
  friend class ClassifyRunner;
  friend class ClassifyHandles;
  friend class PendedOperations;
  Classify(const ContextPool& contexts, uint64_t id, ClassifyRequest request, Done done);

  enum class Phase : uint8_t { Running, InCallout, Pended, Finished };
  struct Acquisition {
    uint64_t token = 0;
    uint64_t filterId = 0;
    LayerData base;  // data at acquire time
    bool applied = false;
  };
  struct Invocation {
    const SnapshotFilter* filter = nullptr;
    const Filter* filterPtr = nullptr;  // resolved through the snapshot
    CalloutSlot* slot = nullptr;
    uint32_t rightsIn = 0;
    bool acquired = false;       // writable data acquired for this filter
    bool pendRequested = false;  // FwpsPendClassify0 or FwpsPendOperation0 called
    bool operation = false;      // ... it was FwpsPendOperation0 (completion re-authorizes)
    uint64_t pendHandle = 0;
    bool completed = false;      // FwpsCompleteClassify0 arrived while still in classifyFn
    std::optional<ClassifyOut> completion;  // nullopt + completed = re-authorize
    std::shared_ptr<const Registration> registration;
    size_t stepIndex = SIZE_MAX; // index in record_.filters (SIZE_MAX: not tracing)
  };

  const ContextPool& contexts_;  // frees orphanContexts_ if the classify never finished
  const uint64_t id_;
  const LayerInfo* layer_;
  ClassifyRequest request_;
  Done done_;

  // Guards everything below. Never held while a driver function runs; under it only the
  // History's lock, ContextPool's link and the pool tracker are taken (apply, finish) and the
  // C ABI's abiState() factory runs.
  mutable std::mutex mu_;
  Phase phase_ = Phase::Running;
  std::optional<std::string> finalDestination_;  // setFinalDestination()
  ClassifyValues values_;
  uint32_t round_ = 0;
  std::shared_ptr<const PolicySnapshot> policy_;
  const LayerSnapshot* snap_ = nullptr;  // policy_'s snapshot of this layer
  std::vector<const SnapshotFilter*> matched_;
  size_t next_ = 0;
  Arbiter arbiter_;
  Invocation inv_;
  uint64_t pendGeneration_ = 0;
  uint64_t completionHandle_ = 0;   // written once by ClassifyRunner::start, before any callout
  uint64_t completionContext_ = 0;  // of the FwpsPendOperation0 of this round, 0 = none
  bool pendConsumed_ = false;  // a pend was completed (by the driver or the deadline)
  bool timedOut_ = false;
  int blockErrno_ = 0;
  bool forcedBlock_ = false;
  bool permitted_ = true;
  LayerData current_;
  std::vector<LayerData> versions_;   // applied modifications, oldest first
  uint64_t lastModifierFilterId_ = 0;  // the filter of versions_.back()
  std::vector<Acquisition> acquisitions_;
  uint64_t nextToken_ = 1;
  std::optional<uint64_t> entryToken_;  // this classify's redirect entry in the history
  std::vector<uint64_t> reauthWatchers_;  // filters that applied with REAUTHORIZE_IF_MODIFIED_BY_OTHERS
  bool reauthPending_ = false;
  std::vector<void*> orphanContexts_;  // engine-owned contexts applied without a redirect handle
  std::shared_ptr<void> abi_;
  bool tracing_ = false;   // build record_ (EngineOptions::trace)
  bool registered_ = false;  // in ClassifyHandles' live contexts (valid for FwpsAcquireClassifyHandle0)
  bool emitted_ = false;
  trace::ClassifyRecord record_;
};

}  // namespace openwfp::engine

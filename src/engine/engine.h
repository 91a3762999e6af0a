// engine/engine.h - the filter engine's facade: management objects and transactions (SPEC S2),
// callout registration (S3), classification and arbitration (S4), classify handles, writable
// layer data (S5), pend/complete (S6), the records handles of S8.6 and flow contexts. Pure C++:
// the C ABI in src/kapi maps WDK structs and handles onto this class; stack backends use the
// Classifier (connect_pipeline.h).
//
// The work is done by parts with one job each; Engine owns them and forwards:
//   CalloutSlots        callout slots (key/id -> CalloutSlot), registration     callout_slots.h
//   ObjectStore         providers, sublayers, callout objects, filters, sessions,
//                       transactions + undo log; publishes the PolicySnapshot   object_store.h
//                       through its PolicyPublisher                             policy_publisher.h
//   ClassifyRunner      match, arbitration, callout invocation, pend parking,
//                       re-authorization, deadlines, finish and trace           classify_runner.h
//   ClassifyHandles     classify handles, writable layer data, pend/complete   classify_handles.h
//   PendedOperations    FwpsPendOperation0 / FwpsCompleteOperation0 (S15.4)  pended_operations.h
//   ConnectionRegistry  live connection histories, records handles, flow
//                       contexts                                                connection_registry.h
//   ContextPool         frees engine-owned redirect contexts (S5.6)             context_pool.h
//
// Locks: each part documents the locks it owns next to the data they guard; the order between
// them (docs/architecture.md, "Locks"):
//   ObjectStore::storeMu_ -> CalloutSlots::mu_ -> CalloutSlot::mu_
//   FlowContexts::mu_     -> CalloutSlots::mu_ -> CalloutSlot::mu_
//   Classify::mu_ -> ContextPool link mutex -> verifier::PoolTracker (and the History's lock)
//   ClassifyHandles::mu_ -> ContextPool link mutex (only when teardown drops the last reference
//   to a classify with orphan contexts)
//   ClassifyHandles::liveMu_, ConnectionRegistry::mu_, RecordsHandles::mu_, PendTimer::mu_ and
//   PendedOperations::mu_ are leaves. Beyond these orders only the verifier's lock is taken under an engine lock; no
//   engine lock is held while a driver's classifyFn or DELETE_FILTER notifyFn runs.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/callout_slots.h"
#include "engine/callouts.h"
#include "engine/classify.h"
#include "engine/classify_handles.h"
#include "engine/classify_runner.h"
#include "engine/connection_registry.h"
#include "engine/context_pool.h"
#include "engine/engine_services.h"
#include "engine/filter_index.h"
#include "engine/guid.h"
#include "engine/object_store.h"
#include "engine/objects.h"
#include "engine/pended_operations.h"
#include "engine/records_handles.h"
#include "engine/status.h"
#include "openwfp/stack.h"
#include "redirect/history.h"

namespace openwfp::engine {

class ConnectPipeline;

class Engine {
 public:
  explicit Engine(EngineServices services);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  const EngineServices& services() const { return services_; }
  Classifier& classifier();

  // ---- sessions (FwpmEngineOpen0/Close0). Dynamic sessions delete their objects on close.
  uint64_t openSession(bool dynamic) { return store_.openSession(dynamic); }
  Status closeSession(uint64_t session) { return store_.closeSession(session); }
  bool validSession(uint64_t session) const { return store_.validSession(session); }

  // ---- transactions (S2.2)
  Status beginTransaction(uint64_t session, bool readOnly) {
    return store_.beginTransaction(session, readOnly);
  }
  Status commitTransaction(uint64_t session) { return store_.commitTransaction(session); }
  Status abortTransaction(uint64_t session) { return store_.abortTransaction(session); }

  // ---- objects (S2.1, S2.3)
  Status addProvider(uint64_t session, Provider p) { return store_.addProvider(session, std::move(p)); }
  Status deleteProvider(uint64_t session, const Guid& key) { return store_.deleteProvider(session, key); }
  Status addSubLayer(uint64_t session, SubLayer s) { return store_.addSubLayer(session, std::move(s)); }
  Status deleteSubLayer(uint64_t session, const Guid& key) { return store_.deleteSubLayer(session, key); }
  Status addCallout(uint64_t session, CalloutObject c, uint32_t* id) {
    return store_.addCallout(session, std::move(c), id);
  }
  Status deleteCalloutById(uint64_t session, uint32_t id) { return store_.deleteCalloutById(session, id); }
  Status deleteCalloutByKey(uint64_t session, const Guid& key) {
    return store_.deleteCalloutByKey(session, key);
  }
  Status addFilter(uint64_t session, FilterSpec spec, uint64_t* id) {
    return store_.addFilter(session, std::move(spec), id);
  }
  Status deleteFilterById(uint64_t session, uint64_t id) { return store_.deleteFilterById(session, id); }
  Status deleteFilterByKey(uint64_t session, const Guid& key) {
    return store_.deleteFilterByKey(session, key);
  }

  std::shared_ptr<const Filter> filterById(uint64_t id) const { return store_.filterById(id); }
  std::shared_ptr<const Filter> filterByKey(const Guid& key) const { return store_.filterByKey(key); }
  // Filters ordered by id; all layers when layerKey is nullptr.
  std::vector<std::shared_ptr<const Filter>> filters(const Guid* layerKey = nullptr) const {
    return store_.filters(layerKey);
  }
  std::optional<SubLayer> subLayer(const Guid& key) const { return store_.subLayer(key); }
  std::optional<Provider> provider(const Guid& key) const { return store_.provider(key); }
  std::optional<CalloutObject> calloutObject(const Guid& key) const { return store_.calloutObject(key); }
  std::vector<Provider> providers() const { return store_.providers(); }
  std::vector<SubLayer> subLayers() const { return store_.subLayers(); }
  std::vector<CalloutObject> callouts() const { return store_.callouts(); }

  // The C ABI creates the per-filter view (FWPS_FILTER3) with this factory when a filter is
  // added, before notifyFn sees it.
  using FilterViewFactory = ObjectStore::FilterViewFactory;
  void setFilterViewFactory(FilterViewFactory f) { store_.setFilterViewFactory(std::move(f)); }

  // The layer snapshot classifies currently see (for tests and benchmarks).
  std::shared_ptr<const LayerSnapshot> snapshot(LayerId layer) const { return store_.snapshot(layer); }

  // ---- callout registration (S3.1)
  Status registerCallout(Registration reg, uint32_t* id) { return slots_.registerCallout(std::move(reg), id); }
  Status unregisterCalloutById(uint32_t id) { return slots_.unregisterById(id); }
  Status unregisterCalloutByKey(const Guid& key) { return slots_.unregisterByKey(key); }
  // Callouts `owner` (a driver name) registered and never unregistered, unregistered now (see
  // CalloutSlot::forceUnregister); for DriverHost after DriverUnload or a failed DriverEntry.
  using ForcedUnregister = CalloutSlots::ForcedUnregister;
  // Flow contexts of those callouts are dropped (their flowDeleteFn is not called: the driver
  // is gone) and reported as leaks.
  std::vector<ForcedUnregister> forceUnregisterOwnedBy(const std::string& owner,
                                                       std::chrono::milliseconds wait);
  std::shared_ptr<CalloutSlot> slotByKey(const Guid& key, bool create) { return slots_.byKey(key, create); }
  std::vector<std::shared_ptr<const Registration>> registeredCallouts() const { return slots_.registered(); }
  std::shared_ptr<CalloutSlot> slotById(uint32_t id) const { return slots_.byId(id); }

  // ---- classification (S4). `done` runs exactly once: before start() returns when nobody
  // pends (S4.4), else on the thread that completes the classify or on the deadline timer.
  std::shared_ptr<Classify> start(ClassifyRequest request, Classify::Done done) {
    return runner_.start(std::move(request), std::move(done));
  }

  // ---- classify handles (S5.1) and driver calls during a classify
  Status acquireClassifyHandle(const void* classifyContext, uint32_t flags, uint64_t* handle) {
    return handles_.acquire(classifyContext, flags, handle);
  }
  void releaseClassifyHandle(uint64_t handle) { handles_.release(handle); }
  // The classify behind a handle (nullptr and a verifier report for stale handles).
  std::shared_ptr<Classify> classifyForHandle(uint64_t handle, const char* api) {
    return handles_.classifyFor(handle, api);
  }

  using Writable = engine::Writable;
  // S5.2. rights/actionType: classifyOut members (may be null when classifyOut is NULL).
  Status acquireWritable(uint64_t handle, uint64_t filterId, uint32_t flags, uint32_t* rights,
                         uint32_t* actionType, Writable* out) {
    return handles_.acquireWritable(handle, filterId, flags, rights, actionType, out);
  }
  // S5.4: `data` holds the writable fields the driver set (read-only fields are ignored; the
  // C ABI reports changes to them).
  Status applyWritable(uint64_t handle, uint64_t token, const LayerData& data, uint32_t flags) {
    return handles_.applyWritable(handle, token, data, flags);
  }

  Status pend(uint64_t handle, uint64_t filterId, uint32_t flags) {  // S6.1
    return handles_.pend(handle, filterId, flags);
  }
  // FwpsPendOperation0 / FwpsCompleteOperation0 (S15.4, pended_operations.h).
  Status pendOperation(uint64_t completionHandle, uint64_t* completionContext) {
    return operations_.pend(completionHandle, ClassifyRunner::inCallout(), completionContext);
  }
  void completeOperation(uint64_t completionContext) { operations_.complete(completionContext, runner_); }

  // Adds `note` to the trace record's redirectState of the classify whose classifyFn is running
  // on this thread (e.g. what FwpsQueryConnectionRedirectState0 answered, S4.5); no-op outside.
  void noteRedirectState(const std::string& note) { runner_.noteRedirectState(note); }
  void complete(uint64_t handle, uint32_t flags, const ClassifyOut* classifyOut) {  // S6.2
    handles_.complete(handle, flags, classifyOut, runner_);
  }

  // Classify handles still held by `driver` (for leak reports at driver unload); reports each
  // as ClassifyHandleNotReleased when `report`.
  size_t unreleasedHandles(const std::string& driver, bool report) {
    return handles_.unreleased(driver, report);
  }

  // Ends every pended classify as BLOCK (the engine service stopping, S14.1); how many.
  size_t blockPended(const std::string& reason) { return runner_.blockPended(reason); }
  // Classify handles drivers hold, for `openwfp show state` (S14.7).
  std::vector<HeldClassify> heldClassifies() const { return handles_.describe(); }

  // The records handles of S8.6.
  RecordsHandles& recordsHandles() { return connections_.recordsHandles(); }

  // Live connection histories (runtime/records_api.h isLive): registered by the Classifier.
  void trackConnection(const std::shared_ptr<redirect::History>& h) { connections_.track(h); }
  // The connection (flow) ended or was blocked: flowDeleteFn runs for each flow context (S15.4).
  void untrackConnection(uint64_t historyId) {
    connections_.untrack(historyId);
    connections_.flowContexts().endFlow(historyId);
  }
  bool connectionLive(uint64_t historyId) const { return connections_.live(historyId); }
  // Reports classify handles still held for classifies of this connection (flow end).
  void reportHandlesOfConnection(uint64_t historyId) { handles_.reportHandlesOfConnection(historyId); }

  // Flow contexts (FwpsFlowAssociateContext0 / FwpsFlowRemoveContext0).
  Status associateFlowContext(uint64_t flowId, uint16_t layerId, uint32_t calloutId, uint64_t context) {
    return connections_.flowContexts().associate(flowId, layerId, calloutId, context);
  }
  Status removeFlowContext(uint64_t flowId, uint16_t layerId, uint32_t calloutId) {
    return connections_.flowContexts().remove(flowId, layerId, calloutId);
  }
  size_t flowContextCount() const { return connections_.flowContexts().count(); }

  // Emits the classify's trace record once (S4.5); finish() does it after the Done callback,
  // the Classifier earlier so that records appear in layer order.
  void emitTrace(Classify& c) { runner_.emitTrace(c); }

  // Frees a context the engine owns (S5.6) through the pool tracker, if the engine still exists.
  redirect::ContextFree contextFree() { return contexts_.contextFree(); }

 private:
  // Declared in construction order; destroyed in reverse (the pipeline first).
  EngineServices services_;
  ContextPool contexts_;
  CalloutSlots slots_;
  ObjectStore store_;
  ConnectionRegistry connections_;
  ClassifyHandles handles_;
  PendedOperations operations_;
  ClassifyRunner runner_;
  std::unique_ptr<ConnectPipeline> pipeline_;
};

// setDefaultFilterViewFactory (object_store.h): the process-wide default FilterViewFactory that
// the C ABI installs when the library loads; every Engine starts with it.

}  // namespace openwfp::engine

// engine/engine.h - the filter engine: management objects and transactions (SPEC S2), callout
// registration (S3), classification and arbitration (S4), classify handles, writable layer data
// (S5), pend/complete (S6) and the records handles of S8.6. Pure C++: the C ABI in src/kapi maps
// WDK structs and handles onto this class; stack backends use the Classifier (classifier.h).
//
// Locks (see docs/architecture.md):
//   storeMu_    management objects, sessions, transaction state, the undo log; writers hold it
//               while validating and changing objects and while rebuilding layer snapshots.
//               Lock order: storeMu_ -> slotsMu_ -> CalloutSlot::mu_.
//   policy_     atomic shared_ptr to the current PolicySnapshot; classifies load it lock-free.
//   slotsMu_    the callout slot maps (key -> slot, id -> slot).
//   handlesMu_  classify handles; liveMu_ the set of live classify contexts.
//   Classify::mu_  the state of one classify.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <unordered_map>
#include <unordered_set>
#include <variant>
#include <vector>

#include "engine/callouts.h"
#include "engine/classify.h"
#include "engine/engine_services.h"
#include "engine/filter_index.h"
#include "engine/guid.h"
#include "engine/objects.h"
#include "engine/records_handles.h"
#include "engine/status.h"
#include "redirect/history.h"

namespace openwfp::engine {

class PendTimer;
class ConnectPipeline;

// FWPS_CLASSIFY_FLAG_REAUTHORIZE_IF_MODIFIED_BY_OTHERS
inline constexpr uint32_t kApplyReauthorizeIfModifiedByOthers = 0x00000001;

class Engine {
 public:
  explicit Engine(EngineServices services);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  const EngineServices& services() const { return services_; }
  Classifier& classifier();

  // ---- sessions (FwpmEngineOpen0/Close0). Dynamic sessions delete their objects on close.
  uint64_t openSession(bool dynamic);
  Status closeSession(uint64_t session);
  bool validSession(uint64_t session) const;

  // ---- transactions (S2.2)
  Status beginTransaction(uint64_t session, bool readOnly);
  Status commitTransaction(uint64_t session);
  Status abortTransaction(uint64_t session);

  // ---- objects (S2.1, S2.3)
  Status addProvider(uint64_t session, Provider p);
  Status deleteProvider(uint64_t session, const Guid& key);
  Status addSubLayer(uint64_t session, SubLayer s);
  Status deleteSubLayer(uint64_t session, const Guid& key);
  Status addCallout(uint64_t session, CalloutObject c, uint32_t* id);
  Status deleteCalloutById(uint64_t session, uint32_t id);
  Status deleteCalloutByKey(uint64_t session, const Guid& key);
  Status addFilter(uint64_t session, FilterSpec spec, uint64_t* id);
  Status deleteFilterById(uint64_t session, uint64_t id);
  Status deleteFilterByKey(uint64_t session, const Guid& key);

  std::shared_ptr<const Filter> filterById(uint64_t id) const;
  std::shared_ptr<const Filter> filterByKey(const Guid& key) const;
  // Filters ordered by id; all layers when layerKey is nullptr.
  std::vector<std::shared_ptr<const Filter>> filters(const Guid* layerKey = nullptr) const;
  std::optional<SubLayer> subLayer(const Guid& key) const;
  std::optional<Provider> provider(const Guid& key) const;
  std::optional<CalloutObject> calloutObject(const Guid& key) const;

  // The C ABI creates the per-filter view (FWPS_FILTER3) with this factory when a filter is
  // added, before notifyFn sees it.
  using FilterViewFactory = std::function<std::shared_ptr<void>(const Filter&)>;
  void setFilterViewFactory(FilterViewFactory f);

  // The layer snapshot classifies currently see (for tests and benchmarks).
  std::shared_ptr<const LayerSnapshot> snapshot(LayerId layer) const;

  // ---- callout registration (S3.1)
  Status registerCallout(Registration reg, uint32_t* id);
  Status unregisterCalloutById(uint32_t id);
  Status unregisterCalloutByKey(const Guid& key);
  // Callouts `owner` (a driver name) registered and never unregistered, unregistered now (see
  // CalloutSlot::forceUnregister); for DriverHost after DriverUnload or a failed DriverEntry.
  struct ForcedUnregister {
    Guid key;
    uint32_t id = 0;
    bool stillRunning = false;  // a classifyFn call had not returned after `wait`
  };
  std::vector<ForcedUnregister> forceUnregisterOwnedBy(const std::string& owner, std::chrono::milliseconds wait);
  std::shared_ptr<CalloutSlot> slotByKey(const Guid& key, bool create);
  std::shared_ptr<CalloutSlot> slotById(uint32_t id) const;

  // ---- classification (S4). `done` runs exactly once: before start() returns when nobody
  // pends (S4.4), else on the thread that completes the classify or on the deadline timer.
  std::shared_ptr<Classify> start(ClassifyRequest request, Classify::Done done);

  // ---- classify handles (S5.1) and driver calls during a classify
  Status acquireClassifyHandle(const void* classifyContext, uint32_t flags, uint64_t* handle);
  void releaseClassifyHandle(uint64_t handle);
  // The classify behind a handle (nullptr and a verifier report for stale handles).
  std::shared_ptr<Classify> classifyForHandle(uint64_t handle, const char* api);

  struct Writable {
    uint64_t token = 0;
    LayerData data;                     // current data (copy handed to the driver)
    std::vector<LayerData> previous;    // earlier applied versions, newest first
  };
  // S5.2. rights/actionType: classifyOut members (may be null when classifyOut is NULL).
  Status acquireWritable(uint64_t handle, uint64_t filterId, uint32_t flags, uint32_t* rights,
                         uint32_t* actionType, Writable* out);
  // S5.4: `data` holds the writable fields the driver set (read-only fields are ignored; the
  // C ABI reports changes to them).
  Status applyWritable(uint64_t handle, uint64_t token, const LayerData& data, uint32_t flags);

  Status pend(uint64_t handle, uint64_t filterId, uint32_t flags);                  // S6.1
  // Adds `note` to the trace record's redirectState of the classify whose classifyFn is running
  // on this thread (e.g. what FwpsQueryConnectionRedirectState0 answered, S4.5); no-op outside.
  void noteRedirectState(const std::string& note);
  void complete(uint64_t handle, uint32_t flags, const ClassifyOut* classifyOut);   // S6.2

  // Classify handles still held by `driver` (for leak reports at driver unload); reports each
  // as ClassifyHandleNotReleased when `report`.
  size_t unreleasedHandles(const std::string& driver, bool report);

  // The records handles of S8.6.
  RecordsHandles& recordsHandles() { return recordsHandles_; }

  // Live connection histories (records_api.h isLive): registered by the Classifier.
  void trackConnection(const std::shared_ptr<redirect::History>& h);
  void untrackConnection(uint64_t historyId);
  bool connectionLive(uint64_t historyId) const;
  // Reports classify handles still held for classifies of this connection (flow end).
  void reportHandlesOfConnection(uint64_t historyId);

  // Emits the classify's trace record once (S4.5); finish() does it after the Done callback,
  // the Classifier earlier so that records appear in layer order.
  void emitTrace(Classify& c);

  // Frees a context the engine owns (S5.6) through the pool tracker, if the engine still exists.
  redirect::ContextFree contextFree();

 private:
  friend class ConnectPipeline;
  struct Session {
    bool dynamic = false;
  };
  struct UndoEntry;
  struct HandleEntry {
    std::shared_ptr<Classify> classify;
    uint32_t refs = 0;
    bool driverReleased = false;
    std::string owner;
    uint64_t historyId = 0;
  };
  struct PoolRef;

  // store helpers (storeMu_ held)
  Status waitForTxn(std::unique_lock<std::mutex>& lock, uint64_t session);
  bool inTxn(uint64_t session) const { return txnOwner_ != 0 && txnOwner_ == session; }
  void markDirty(const LayerInfo* layer);
  void publishDirty();
  void finishChange(uint64_t session);
  Status removeFilterLocked(uint64_t session, uint64_t id);
  void notifyDelete(const std::shared_ptr<const Filter>& f);
  Status deleteCalloutLocked(uint64_t session, const Guid& key);

  // classify helpers (engine_classify.cpp)
  void drive(const std::shared_ptr<Classify>& c);
  void restart(Classify& c, std::unique_lock<std::mutex>& lock);
  void evaluateStatic(Classify& c, const SnapshotFilter& sf);
  bool invokeCallout(const std::shared_ptr<Classify>& c, const SnapshotFilter& sf);
  void applyCalloutResult(Classify& c, const ClassifyOut& out);
  void finish(const std::shared_ptr<Classify>& c);
  void expire(const std::weak_ptr<Classify>& wc, uint64_t generation);
  void resumeAfterPend(const std::shared_ptr<Classify>& c);
  HandleEntry* handleEntry(uint64_t handle);  // handlesMu_ held
  void dropHandleRef(uint64_t handle);
  void reportViolation(int code, std::string message, const Classify* c, uint64_t filterId);

  EngineServices services_;
  std::shared_ptr<PoolRef> poolRef_;

  mutable std::mutex storeMu_;
  std::condition_variable txnCv_;
  std::unordered_map<uint64_t, Session> sessions_;
  uint64_t nextSession_ = 1;
  uint64_t txnOwner_ = 0;
  bool txnReadOnly_ = false;
  std::vector<UndoEntry> undo_;
  std::vector<std::shared_ptr<const Filter>> deferredDeleteNotify_;
  std::unordered_map<Guid, Provider, GuidHash> providers_;
  std::unordered_map<Guid, SubLayer, GuidHash> subLayers_;
  std::unordered_map<Guid, CalloutObject, GuidHash> callouts_;
  std::unordered_map<uint64_t, std::shared_ptr<const Filter>> filters_;
  std::unordered_map<Guid, uint64_t, GuidHash> filterKeys_;
  std::array<std::unordered_map<uint64_t, std::shared_ptr<const Filter>>, kLayerCount> layerFilters_;
  std::unordered_map<Guid, uint32_t, GuidHash> subLayerUse_, calloutUse_, providerUse_;
  std::array<bool, kLayerCount> dirty_{};
  uint64_t nextFilterId_ = 1;
  uint64_t nextSubLayerOrder_ = 1;
  FilterViewFactory viewFactory_;

  std::atomic<std::shared_ptr<const PolicySnapshot>> policy_;

  mutable std::mutex slotsMu_;
  std::unordered_map<Guid, std::shared_ptr<CalloutSlot>, GuidHash> slotsByKey_;
  std::unordered_map<uint32_t, std::shared_ptr<CalloutSlot>> slotsById_;
  uint32_t nextCalloutId_ = 0x100;

  mutable std::mutex liveMu_;  // guards live_ and connections_
  std::unordered_map<const void*, std::weak_ptr<Classify>> live_;
  std::unordered_map<uint64_t, std::weak_ptr<redirect::History>> connections_;

  mutable std::mutex handlesMu_;  // guards handles_ and nextHandle_
  std::unordered_map<uint64_t, HandleEntry> handles_;
  uint64_t nextHandle_ = 0x1000;

  std::atomic<uint64_t> nextClassifyId_{1};
  RecordsHandles recordsHandles_;
  std::unique_ptr<PendTimer> timer_;
  std::unique_ptr<ConnectPipeline> pipeline_;
};

// Process-wide default FilterViewFactory: the C ABI installs it when the library loads, and
// every Engine starts with it (keeps the engine free of WDK types).
void setDefaultFilterViewFactory(Engine::FilterViewFactory f);

}  // namespace openwfp::engine

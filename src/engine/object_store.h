// engine/object_store.h - the management objects of the engine (SPEC S2): providers, sublayers,
// callout objects and filters, the sessions that own them, write transactions with their undo
// log; it republishes the PolicySnapshot classifies see (policy_publisher.h) after changes.
//
// Outside a transaction every change republishes the layers it touched; inside one, changes go
// to the store plus the undo log and the dirty layers are published together at commit (S2.2).
#pragma once

#include <array>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

#include "engine/filter_index.h"
#include "engine/guid.h"
#include "engine/layers.h"
#include "engine/objects.h"
#include "engine/policy_publisher.h"
#include "engine/status.h"

namespace openwfp::engine {

class CalloutSlots;

class ObjectStore {
 public:
  // The C ABI creates the per-filter view (FWPS_FILTER3) with this factory when a filter is
  // added, before notifyFn sees it.
  using FilterViewFactory = std::function<std::shared_ptr<void>(const Filter&)>;

  // Starts with the built-in sublayers, an empty policy and the process-wide default factory.
  explicit ObjectStore(CalloutSlots& slots);
  ~ObjectStore();
  ObjectStore(const ObjectStore&) = delete;
  ObjectStore& operator=(const ObjectStore&) = delete;

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
  // Every object of a kind (object_store_lists.cpp): providers ordered by key, sublayers by
  // creation, callout objects by id.
  std::vector<Provider> providers() const;
  std::vector<SubLayer> subLayers() const;
  std::vector<CalloutObject> callouts() const;

  void setFilterViewFactory(FilterViewFactory f);

  // What classifies see: loaded once when a classify starts (or restarts), without a lock.
  std::shared_ptr<const PolicySnapshot> policy() const { return publisher_.current(); }
  std::shared_ptr<const LayerSnapshot> snapshot(LayerId layer) const {
    return publisher_.current()->layers[static_cast<size_t>(layer)];
  }

 private:
  struct Session {
    bool dynamic = false;
  };
  struct UndoEntry;

  // storeMu_ held
  Status waitForTxn(std::unique_lock<std::mutex>& lock, uint64_t session);
  bool inTxn(uint64_t session) const { return txnOwner_ != 0 && txnOwner_ == session; }
  void markDirty(const LayerInfo* layer) { dirty_[static_cast<size_t>(layer->id)] = true; }
  void publishDirty();
  void finishChange(uint64_t session);
  Status removeFilterLocked(uint64_t session, uint64_t id);
  Status deleteCalloutLocked(uint64_t session, const Guid& key);
  // No lock held: DELETE_FILTER to the filter's callout.
  void notifyDelete(const std::shared_ptr<const Filter>& f);

  CalloutSlots& slots_;

  // Guards every member below. Held while validating and changing objects and
  // while rebuilding layer snapshots; the ADD_FILTER notifyFn and the filter view factory run
  // under it, DELETE_FILTER without it. Lock order: storeMu_ -> CalloutSlots::mu_ ->
  // CalloutSlot::mu_ (addFilter reads the callout's registration under it).
  mutable std::mutex storeMu_;
  std::condition_variable txnCv_;  // txnOwner_ became 0: other sessions' changes may go on
  std::unordered_map<uint64_t, Session> sessions_;
  uint64_t nextSession_ = 1;
  uint64_t txnOwner_ = 0;  // session holding the write transaction, 0 = none
  bool txnReadOnly_ = false;
  std::vector<UndoEntry> undo_;
  std::vector<std::shared_ptr<const Filter>> deferredDeleteNotify_;  // DELETE_FILTER at commit
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
  PolicyPublisher publisher_;  // publish() only under storeMu_; current() needs no lock
};

// Process-wide default FilterViewFactory: the C ABI installs it when the library loads, and
// every ObjectStore (so every Engine) starts with it (keeps the engine free of WDK types).
void setDefaultFilterViewFactory(ObjectStore::FilterViewFactory f);

}  // namespace openwfp::engine

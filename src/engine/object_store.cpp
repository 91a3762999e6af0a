// engine/object_store.cpp - management objects, sessions, transactions and snapshot publishing
// (SPEC S2). See object_store.h.
#include "engine/object_store.h"

#include <algorithm>

#include "engine/callout_slots.h"

namespace openwfp::engine {

struct ObjectStore::UndoEntry {
  enum class Kind { AddedProvider, DeletedProvider, AddedSubLayer, DeletedSubLayer, AddedCallout,
                    DeletedCallout, AddedFilter, DeletedFilter };
  Kind kind;
  Guid key;
  uint64_t filterId = 0;
  std::optional<Provider> provider;
  std::optional<SubLayer> subLayer;
  std::optional<CalloutObject> callout;
  std::shared_ptr<const Filter> filter;
};

namespace {
std::mutex& defaultFactoryMu() {
  static std::mutex mu;
  return mu;
}
ObjectStore::FilterViewFactory& defaultFactory() {
  static ObjectStore::FilterViewFactory f;
  return f;
}
}  // namespace

void setDefaultFilterViewFactory(ObjectStore::FilterViewFactory f) {
  std::lock_guard lock(defaultFactoryMu());
  defaultFactory() = std::move(f);
}

ObjectStore::ObjectStore(CalloutSlots& slots) : slots_(slots), publisher_(slots) {
  {
    std::lock_guard lock(defaultFactoryMu());
    viewFactory_ = defaultFactory();
  }

  SubLayer universal;
  universal.key = universalSubLayerKey();
  universal.display = {L"FWPM_SUBLAYER_UNIVERSAL", L"openwfp default sublayer", true};
  universal.weight = kUniversalSubLayerWeight;
  universal.builtin = true;
  universal.order = nextSubLayerOrder_++;
  subLayers_.emplace(universal.key, universal);
  SubLayer inspection;
  inspection.key = inspectionSubLayerKey();
  inspection.display = {L"FWPM_SUBLAYER_INSPECTION", L"lowest weighted sublayer", true};
  inspection.weight = kInspectionSubLayerWeight;
  inspection.builtin = true;
  inspection.order = nextSubLayerOrder_++;
  subLayers_.emplace(inspection.key, inspection);
}

ObjectStore::~ObjectStore() = default;

// ---- sessions ----------------------------------------------------------------------------------

uint64_t ObjectStore::openSession(bool dynamic) {
  std::lock_guard lock(storeMu_);
  uint64_t id = nextSession_++;
  sessions_[id] = Session{dynamic};
  return id;
}

bool ObjectStore::validSession(uint64_t session) const {
  std::lock_guard lock(storeMu_);
  return sessions_.count(session) != 0;
}

Status ObjectStore::closeSession(uint64_t session) {
  std::vector<std::shared_ptr<const Filter>> notify;
  {
    std::unique_lock lock(storeMu_);
    auto it = sessions_.find(session);
    if (it == sessions_.end()) return Status::InvalidHandle;
    bool dynamic = it->second.dynamic;
    if (txnOwner_ == session) {
      lock.unlock();
      abortTransaction(session);
      lock.lock();
    }
    if (dynamic) {
      std::vector<uint64_t> ids;
      for (auto& [id, f] : filters_)
        if (f->session == session) ids.push_back(id);
      for (uint64_t id : ids) {
        auto f = filters_[id];
        if (removeFilterLocked(session, id) == Status::Success) notify.push_back(f);
      }
      std::vector<Guid> keys;
      for (auto& [k, c] : callouts_)
        if (c.session == session && calloutUse_[k] == 0) keys.push_back(k);
      for (auto& k : keys) deleteCalloutLocked(session, k);
      keys.clear();
      for (auto& [k, s] : subLayers_)
        if (!s.builtin && s.session == session && subLayerUse_[k] == 0) keys.push_back(k);
      for (auto& k : keys) {
        auto& s = subLayers_[k];
        if (s.providerKey) --providerUse_[*s.providerKey];
        subLayers_.erase(k);
      }
      keys.clear();
      for (auto& [k, p] : providers_)
        if (p.session == session && providerUse_[k] == 0) keys.push_back(k);
      for (auto& k : keys) providers_.erase(k);
      publishDirty();
    }
    sessions_.erase(session);
  }
  for (auto& f : notify) notifyDelete(f);
  return Status::Success;
}

// ---- transactions ------------------------------------------------------------------------------

Status ObjectStore::waitForTxn(std::unique_lock<std::mutex>& lock, uint64_t session) {
  if (!sessions_.count(session)) return Status::InvalidHandle;
  if (txnOwner_ == 0 || txnOwner_ == session) return Status::Success;
  bool ok = txnCv_.wait_for(lock, std::chrono::seconds(10),
                            [&] { return txnOwner_ == 0 || txnOwner_ == session; });
  if (!ok) return Status::FwpTimeout;
  if (!sessions_.count(session)) return Status::InvalidHandle;
  return Status::Success;
}

Status ObjectStore::beginTransaction(uint64_t session, bool readOnly) {
  std::unique_lock lock(storeMu_);
  if (!sessions_.count(session)) return Status::InvalidHandle;
  if (txnOwner_ == session) return Status::FwpTxnInProgress;
  Status s = waitForTxn(lock, session);
  if (s != Status::Success) return s;
  txnOwner_ = session;
  txnReadOnly_ = readOnly;
  undo_.clear();
  deferredDeleteNotify_.clear();
  return Status::Success;
}

Status ObjectStore::commitTransaction(uint64_t session) {
  std::vector<std::shared_ptr<const Filter>> notify;
  {
    std::lock_guard lock(storeMu_);
    if (!sessions_.count(session)) return Status::InvalidHandle;
    if (txnOwner_ != session) return Status::FwpNoTxnInProgress;
    publishDirty();  // all changes of the transaction become visible at once
    txnOwner_ = 0;
    txnReadOnly_ = false;
    undo_.clear();
    notify.swap(deferredDeleteNotify_);
    txnCv_.notify_all();
  }
  for (auto& f : notify) notifyDelete(f);
  return Status::Success;
}

Status ObjectStore::abortTransaction(uint64_t session) {
  std::vector<std::shared_ptr<const Filter>> notify;
  {
    std::lock_guard lock(storeMu_);
    if (!sessions_.count(session)) return Status::InvalidHandle;
    if (txnOwner_ != session) return Status::FwpNoTxnInProgress;
    for (auto it = undo_.rbegin(); it != undo_.rend(); ++it) {
      UndoEntry& u = *it;
      switch (u.kind) {
        case UndoEntry::Kind::AddedProvider:
          providers_.erase(u.key);
          break;
        case UndoEntry::Kind::DeletedProvider:
          providers_.emplace(u.key, *u.provider);
          break;
        case UndoEntry::Kind::AddedSubLayer:
          if (auto s = subLayers_.find(u.key); s != subLayers_.end()) {
            if (s->second.providerKey) --providerUse_[*s->second.providerKey];
            subLayers_.erase(s);
          }
          break;
        case UndoEntry::Kind::DeletedSubLayer:
          if (u.subLayer->providerKey) ++providerUse_[*u.subLayer->providerKey];
          subLayers_.emplace(u.key, *u.subLayer);
          break;
        case UndoEntry::Kind::AddedCallout:
          if (auto c = callouts_.find(u.key); c != callouts_.end()) {
            if (c->second.providerKey) --providerUse_[*c->second.providerKey];
            callouts_.erase(c);
          }
          break;
        case UndoEntry::Kind::DeletedCallout:
          if (u.callout->providerKey) ++providerUse_[*u.callout->providerKey];
          callouts_.emplace(u.key, *u.callout);
          break;
        case UndoEntry::Kind::AddedFilter: {
          auto f = filters_.find(u.filterId);
          if (f != filters_.end()) {
            auto filter = f->second;
            filters_.erase(f);
            filterKeys_.erase(filter->spec.key);
            layerFilters_[static_cast<size_t>(filter->layer->id)].erase(filter->id);
            --subLayerUse_[filter->subLayerKey];
            if (isCalloutAction(filter->spec.action)) --calloutUse_[filter->spec.filterTypeOrCalloutKey];
            if (filter->spec.providerKey) --providerUse_[*filter->spec.providerKey];
            markDirty(filter->layer);
            notify.push_back(filter);  // the callout saw ADD_FILTER: tell it the filter is gone
          }
          break;
        }
        case UndoEntry::Kind::DeletedFilter: {
          auto filter = u.filter;
          filters_.emplace(filter->id, filter);
          filterKeys_.emplace(filter->spec.key, filter->id);
          layerFilters_[static_cast<size_t>(filter->layer->id)].emplace(filter->id, filter);
          ++subLayerUse_[filter->subLayerKey];
          if (isCalloutAction(filter->spec.action)) ++calloutUse_[filter->spec.filterTypeOrCalloutKey];
          if (filter->spec.providerKey) ++providerUse_[*filter->spec.providerKey];
          markDirty(filter->layer);
          break;
        }
      }
    }
    undo_.clear();
    deferredDeleteNotify_.clear();
    // Nothing of the transaction was published; the dirty marks only restore the old state.
    dirty_.fill(false);
    txnOwner_ = 0;
    txnReadOnly_ = false;
    txnCv_.notify_all();
  }
  for (auto& f : notify) notifyDelete(f);
  return Status::Success;
}

void ObjectStore::publishDirty() {
  bool any = false;
  for (bool d : dirty_) any = any || d;
  if (!any) return;
  publisher_.publish(dirty_, layerFilters_, subLayers_);
  dirty_.fill(false);
}

void ObjectStore::finishChange(uint64_t session) {
  if (!inTxn(session)) publishDirty();
}

// ---- providers ---------------------------------------------------------------------------------

Status ObjectStore::addProvider(uint64_t session, Provider p) {
  std::unique_lock lock(storeMu_);
  if (Status s = waitForTxn(lock, session); s != Status::Success) return s;
  if (inTxn(session) && txnReadOnly_) return Status::FwpIncompatibleTxn;
  if (!p.display.hasName) return Status::FwpNullDisplayName;
  if (p.key.isNull()) p.key = generateGuid();
  if (providers_.count(p.key)) return Status::FwpAlreadyExists;
  p.session = session;
  Guid key = p.key;
  providers_.emplace(key, std::move(p));
  if (inTxn(session)) undo_.push_back(UndoEntry{UndoEntry::Kind::AddedProvider, key, 0, {}, {}, {}, {}});
  return Status::Success;
}

Status ObjectStore::deleteProvider(uint64_t session, const Guid& key) {
  std::unique_lock lock(storeMu_);
  if (Status s = waitForTxn(lock, session); s != Status::Success) return s;
  if (inTxn(session) && txnReadOnly_) return Status::FwpIncompatibleTxn;
  auto it = providers_.find(key);
  if (it == providers_.end()) return Status::FwpProviderNotFound;
  if (providerUse_[key] > 0) return Status::FwpInUse;
  if (inTxn(session)) {
    UndoEntry u{UndoEntry::Kind::DeletedProvider, key, 0, {}, {}, {}, {}};
    u.provider = it->second;
    undo_.push_back(std::move(u));
  }
  providers_.erase(it);
  return Status::Success;
}

std::optional<Provider> ObjectStore::provider(const Guid& key) const {
  std::lock_guard lock(storeMu_);
  auto it = providers_.find(key);
  if (it == providers_.end()) return std::nullopt;
  return it->second;
}

// ---- sublayers ---------------------------------------------------------------------------------

Status ObjectStore::addSubLayer(uint64_t session, SubLayer s) {
  std::unique_lock lock(storeMu_);
  if (Status st = waitForTxn(lock, session); st != Status::Success) return st;
  if (inTxn(session) && txnReadOnly_) return Status::FwpIncompatibleTxn;
  if (!s.display.hasName) return Status::FwpNullDisplayName;
  if (s.key.isNull()) s.key = generateGuid();
  if (subLayers_.count(s.key)) return Status::FwpAlreadyExists;
  if (s.providerKey && !providers_.count(*s.providerKey)) return Status::FwpProviderNotFound;
  s.builtin = false;
  s.order = nextSubLayerOrder_++;
  s.session = session;
  if (s.providerKey) ++providerUse_[*s.providerKey];
  Guid key = s.key;
  subLayers_.emplace(key, std::move(s));
  if (inTxn(session)) undo_.push_back(UndoEntry{UndoEntry::Kind::AddedSubLayer, key, 0, {}, {}, {}, {}});
  return Status::Success;
}

Status ObjectStore::deleteSubLayer(uint64_t session, const Guid& key) {
  std::unique_lock lock(storeMu_);
  if (Status s = waitForTxn(lock, session); s != Status::Success) return s;
  if (inTxn(session) && txnReadOnly_) return Status::FwpIncompatibleTxn;
  auto it = subLayers_.find(key);
  if (it == subLayers_.end()) return Status::FwpSubLayerNotFound;
  if (it->second.builtin) return Status::FwpBuiltinObject;
  if (subLayerUse_[key] > 0) return Status::FwpInUse;
  if (it->second.providerKey) --providerUse_[*it->second.providerKey];
  if (inTxn(session)) {
    UndoEntry u{UndoEntry::Kind::DeletedSubLayer, key, 0, {}, {}, {}, {}};
    u.subLayer = it->second;
    undo_.push_back(std::move(u));
  }
  subLayers_.erase(it);
  return Status::Success;
}

std::optional<SubLayer> ObjectStore::subLayer(const Guid& key) const {
  std::lock_guard lock(storeMu_);
  auto it = subLayers_.find(key);
  if (it == subLayers_.end()) return std::nullopt;
  return it->second;
}

// ---- callout objects ---------------------------------------------------------------------------

Status ObjectStore::addCallout(uint64_t session, CalloutObject c, uint32_t* id) {
  std::unique_lock lock(storeMu_);
  if (Status s = waitForTxn(lock, session); s != Status::Success) return s;
  if (inTxn(session) && txnReadOnly_) return Status::FwpIncompatibleTxn;
  if (!c.display.hasName) return Status::FwpNullDisplayName;
  if (c.key.isNull()) c.key = generateGuid();
  if (callouts_.count(c.key)) return Status::FwpAlreadyExists;
  if (!findLayer(c.applicableLayer)) return Status::FwpLayerNotFound;
  if (c.providerKey && !providers_.count(*c.providerKey)) return Status::FwpProviderNotFound;
  c.id = slots_.byKey(c.key, true)->id();
  c.session = session;
  if (c.providerKey) ++providerUse_[*c.providerKey];
  if (id) *id = c.id;
  Guid key = c.key;
  callouts_.emplace(key, std::move(c));
  if (inTxn(session)) undo_.push_back(UndoEntry{UndoEntry::Kind::AddedCallout, key, 0, {}, {}, {}, {}});
  return Status::Success;
}

Status ObjectStore::deleteCalloutLocked(uint64_t session, const Guid& key) {
  auto it = callouts_.find(key);
  if (it == callouts_.end()) return Status::FwpCalloutNotFound;
  if (calloutUse_[key] > 0) return Status::FwpInUse;
  if (it->second.providerKey) --providerUse_[*it->second.providerKey];
  if (inTxn(session)) {
    UndoEntry u{UndoEntry::Kind::DeletedCallout, key, 0, {}, {}, {}, {}};
    u.callout = it->second;
    undo_.push_back(std::move(u));
  }
  callouts_.erase(it);
  return Status::Success;
}

Status ObjectStore::deleteCalloutByKey(uint64_t session, const Guid& key) {
  std::unique_lock lock(storeMu_);
  if (Status s = waitForTxn(lock, session); s != Status::Success) return s;
  if (inTxn(session) && txnReadOnly_) return Status::FwpIncompatibleTxn;
  return deleteCalloutLocked(session, key);
}

Status ObjectStore::deleteCalloutById(uint64_t session, uint32_t id) {
  std::unique_lock lock(storeMu_);
  if (Status s = waitForTxn(lock, session); s != Status::Success) return s;
  if (inTxn(session) && txnReadOnly_) return Status::FwpIncompatibleTxn;
  for (auto& [k, c] : callouts_)
    if (c.id == id) return deleteCalloutLocked(session, Guid(k));
  return Status::FwpCalloutNotFound;
}

std::optional<CalloutObject> ObjectStore::calloutObject(const Guid& key) const {
  std::lock_guard lock(storeMu_);
  auto it = callouts_.find(key);
  if (it == callouts_.end()) return std::nullopt;
  return it->second;
}

// ---- filters -----------------------------------------------------------------------------------

void ObjectStore::setFilterViewFactory(FilterViewFactory f) {
  std::lock_guard lock(storeMu_);
  viewFactory_ = std::move(f);
}

Status ObjectStore::addFilter(uint64_t session, FilterSpec spec, uint64_t* idOut) {
  std::unique_lock lock(storeMu_);
  if (Status s = waitForTxn(lock, session); s != Status::Success) return s;
  if (inTxn(session) && txnReadOnly_) return Status::FwpIncompatibleTxn;
  if (!spec.display.hasName) return Status::FwpNullDisplayName;

  const LayerInfo* layer = findLayer(spec.layerKey);
  if (!layer) return Status::FwpLayerNotFound;
  Guid subKey = spec.subLayerKey.isNull() ? universalSubLayerKey() : spec.subLayerKey;
  auto sub = subLayers_.find(subKey);
  if (sub == subLayers_.end()) return Status::FwpSubLayerNotFound;
  if (spec.providerKey && !providers_.count(*spec.providerKey)) return Status::FwpProviderNotFound;

  // Flags.
  if (spec.flags & ~kFilterFlagsKnown) return Status::FwpInvalidFlags;
  if ((spec.flags & kFilterFlagPersistent) && (spec.flags & kFilterFlagBoottime))
    return Status::FwpInvalidFlags;
  if (spec.flags & kFilterFlagDisabled) return Status::FwpInvalidFlags;
  if (spec.flags & kFilterFlagHasProviderContext) return Status::FwpProviderContextNotFound;

  // Action.
  switch (spec.action) {
    case ActionType::Block:
    case ActionType::Permit:
    case ActionType::CalloutTerminating:
    case ActionType::CalloutInspection:
    case ActionType::CalloutUnknown:
      break;
    default:
      return Status::FwpInvalidActionType;
  }
  if ((spec.flags & kFilterFlagPermitIfCalloutUnregistered) &&
      spec.action != ActionType::CalloutTerminating && spec.action != ActionType::CalloutUnknown)
    return Status::FwpInvalidFlags;
  uint32_t calloutId = 0;
  std::shared_ptr<CalloutSlot> slot;
  if (isCalloutAction(spec.action)) {
    auto c = callouts_.find(spec.filterTypeOrCalloutKey);
    if (c == callouts_.end()) return Status::FwpCalloutNotFound;
    if (c->second.applicableLayer != layer->key) return Status::FwpIncompatibleLayer;
    calloutId = c->second.id;
    slot = slots_.byKey(c->first, true);
  }

  // Conditions.
  for (const auto& c : spec.conditions) {
    Status s = validateCondition(*layer, c);
    if (s != Status::Success) return s;
  }
  auto groups = groupConditions(spec.conditions);

  uint64_t weight = 0;
  if (!effectiveWeight(spec.weight, groups, weight)) return Status::FwpInvalidWeight;

  if (spec.key.isNull()) {
    do {
      spec.key = generateGuid();
    } while (filterKeys_.count(spec.key));
  } else if (filterKeys_.count(spec.key)) {
    return Status::FwpAlreadyExists;
  }

  auto f = std::make_shared<Filter>();
  f->id = nextFilterId_++;
  f->effectiveWeight = weight;
  f->layer = layer;
  f->subLayerKey = subKey;
  f->subLayerWeight = sub->second.weight;
  f->calloutId = calloutId;
  f->session = session;
  if (spec.flags & kFilterFlagClearActionRight) f->runtimeFlags |= kRuntimeFlagClearActionRight;
  if (spec.flags & kFilterFlagPermitIfCalloutUnregistered)
    f->runtimeFlags |= kRuntimeFlagPermitIfCalloutUnregistered;
  for (const auto& g : groups)
    if (g.anyOf.size() > 1) f->runtimeFlags |= kRuntimeFlagOrConditions;
  f->groups = std::move(groups);
  f->spec = std::move(spec);
  if (viewFactory_) f->abiView = viewFactory_(*f);

  // S3.3: a registered callout hears about the new filter; a failure rejects the add.
  if (slot) {
    auto reg = slot->registration();
    if (reg && reg->functions && reg->functions->hasNotify()) {
      int32_t st = reg->functions->notify(NotifyType::AddFilter, *f);
      if (st < 0) return Status::FwpCalloutNotificationFailed;
    }
  }

  filters_.emplace(f->id, f);
  filterKeys_.emplace(f->spec.key, f->id);
  layerFilters_[static_cast<size_t>(layer->id)].emplace(f->id, f);
  ++subLayerUse_[subKey];
  if (isCalloutAction(f->spec.action)) ++calloutUse_[f->spec.filterTypeOrCalloutKey];
  if (f->spec.providerKey) ++providerUse_[*f->spec.providerKey];
  markDirty(layer);
  if (inTxn(session)) {
    UndoEntry u{UndoEntry::Kind::AddedFilter, f->spec.key, 0, {}, {}, {}, {}};
    u.filterId = f->id;
    undo_.push_back(std::move(u));
  }
  if (idOut) *idOut = f->id;
  finishChange(session);
  return Status::Success;
}

Status ObjectStore::removeFilterLocked(uint64_t session, uint64_t id) {
  auto it = filters_.find(id);
  if (it == filters_.end()) return Status::FwpFilterNotFound;
  auto f = it->second;
  filters_.erase(it);
  filterKeys_.erase(f->spec.key);
  layerFilters_[static_cast<size_t>(f->layer->id)].erase(id);
  --subLayerUse_[f->subLayerKey];
  if (isCalloutAction(f->spec.action)) --calloutUse_[f->spec.filterTypeOrCalloutKey];
  if (f->spec.providerKey) --providerUse_[*f->spec.providerKey];
  markDirty(f->layer);
  if (inTxn(session)) {
    UndoEntry u{UndoEntry::Kind::DeletedFilter, f->spec.key, 0, {}, {}, {}, {}};
    u.filter = f;
    undo_.push_back(std::move(u));
  }
  return Status::Success;
}

void ObjectStore::notifyDelete(const std::shared_ptr<const Filter>& f) {
  if (!isCalloutAction(f->spec.action)) return;
  auto slot = slots_.byKey(f->spec.filterTypeOrCalloutKey, false);
  if (!slot) return;
  auto reg = slot->registration();
  if (reg && reg->functions && reg->functions->hasNotify()) {
    // S3.3: a failure for DELETE_FILTER does not stop the delete.
    (void)reg->functions->notify(NotifyType::DeleteFilter, *f);
  }
}

Status ObjectStore::deleteFilterById(uint64_t session, uint64_t id) {
  std::shared_ptr<const Filter> f;
  {
    std::unique_lock lock(storeMu_);
    if (Status s = waitForTxn(lock, session); s != Status::Success) return s;
    if (inTxn(session) && txnReadOnly_) return Status::FwpIncompatibleTxn;
    auto it = filters_.find(id);
    if (it == filters_.end()) return Status::FwpFilterNotFound;
    f = it->second;
    removeFilterLocked(session, id);
    if (inTxn(session)) {
      deferredDeleteNotify_.push_back(f);
      return Status::Success;
    }
    publishDirty();
  }
  notifyDelete(f);
  return Status::Success;
}

Status ObjectStore::deleteFilterByKey(uint64_t session, const Guid& key) {
  uint64_t id = 0;
  {
    std::lock_guard lock(storeMu_);
    auto it = filterKeys_.find(key);
    if (it == filterKeys_.end()) return Status::FwpFilterNotFound;
    id = it->second;
  }
  return deleteFilterById(session, id);
}

std::shared_ptr<const Filter> ObjectStore::filterById(uint64_t id) const {
  std::lock_guard lock(storeMu_);
  auto it = filters_.find(id);
  return it == filters_.end() ? nullptr : it->second;
}

std::shared_ptr<const Filter> ObjectStore::filterByKey(const Guid& key) const {
  std::lock_guard lock(storeMu_);
  auto it = filterKeys_.find(key);
  if (it == filterKeys_.end()) return nullptr;
  return filters_.at(it->second);
}

std::vector<std::shared_ptr<const Filter>> ObjectStore::filters(const Guid* layerKey) const {
  std::vector<std::shared_ptr<const Filter>> out;
  std::lock_guard lock(storeMu_);
  for (auto& [id, f] : filters_)
    if (!layerKey || f->layer->key == *layerKey) out.push_back(f);
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a->id < b->id; });
  return out;
}

}  // namespace openwfp::engine

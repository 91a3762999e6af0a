// engine/engine.cpp - management objects, sessions, transactions and snapshot publishing.
#include "engine/engine.h"

#include <algorithm>

#include "engine/connect_pipeline.h"
#include "engine/pend_timer.h"
#include "verifier/pool.h"
#include "verifier/verifier.h"

namespace openwfp::engine {

struct Engine::UndoEntry {
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

struct Engine::PoolRef {
  std::mutex mu;
  verifier::PoolTracker* pool = nullptr;
};

std::string Filter::nameUtf8() const {
  std::string out;
  for (wchar_t wc : spec.display.name) {
    uint32_t cp = static_cast<uint32_t>(wc);
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else {
      out.push_back('?');
    }
  }
  return out;
}

const char* toString(ActionType a) {
  switch (a) {
    case ActionType::Block: return "BLOCK";
    case ActionType::Permit: return "PERMIT";
    case ActionType::CalloutTerminating: return "CALLOUT_TERMINATING";
    case ActionType::CalloutInspection: return "CALLOUT_INSPECTION";
    case ActionType::CalloutUnknown: return "CALLOUT_UNKNOWN";
    case ActionType::Continue: return "CONTINUE";
    case ActionType::None: return "NONE";
    case ActionType::NoneNoMatch: return "NONE_NO_MATCH";
  }
  return "?";
}

uint64_t autoWeight(const std::vector<ConditionGroup>& groups) {
  // Specificity score (<= 16 per field, 10 fields) shifted into bits 40..48: well inside the
  // automatic range [0, 2^60). Equal scores tie; ties are broken by filter id (older first).
  return static_cast<uint64_t>(specificityScore(groups)) << 40;
}

bool effectiveWeight(const WeightSpec& spec, const std::vector<ConditionGroup>& groups,
                     uint64_t& out) {
  switch (spec.type) {
    case DataType::Empty:
      out = autoWeight(groups);
      return true;
    case DataType::Uint8:
      if (spec.value > 15) return false;
      out = (spec.value << 60) | autoWeight(groups);
      return true;
    case DataType::Uint64:
      out = spec.value;
      return true;
    default:
      return false;
  }
}

const char* toString(Status s) {
  switch (s) {
    case Status::Success: return "STATUS_SUCCESS";
    case Status::Pending: return "STATUS_PENDING";
    case Status::DeviceBusy: return "STATUS_DEVICE_BUSY";
    case Status::InvalidHandle: return "STATUS_INVALID_HANDLE";
    case Status::InvalidParameter: return "STATUS_INVALID_PARAMETER";
    case Status::AccessDenied: return "STATUS_ACCESS_DENIED";
    case Status::NoMemory: return "STATUS_NO_MEMORY";
    case Status::BufferTooSmall: return "STATUS_BUFFER_TOO_SMALL";
    case Status::DatatypeMisalignment: return "STATUS_DATATYPE_MISALIGNMENT";
    case Status::InsufficientResources: return "STATUS_INSUFFICIENT_RESOURCES";
    case Status::NotFound: return "STATUS_NOT_FOUND";
    case Status::FwpCalloutNotFound: return "STATUS_FWP_CALLOUT_NOT_FOUND";
    case Status::FwpConditionNotFound: return "STATUS_FWP_CONDITION_NOT_FOUND";
    case Status::FwpFilterNotFound: return "STATUS_FWP_FILTER_NOT_FOUND";
    case Status::FwpLayerNotFound: return "STATUS_FWP_LAYER_NOT_FOUND";
    case Status::FwpProviderNotFound: return "STATUS_FWP_PROVIDER_NOT_FOUND";
    case Status::FwpProviderContextNotFound: return "STATUS_FWP_PROVIDER_CONTEXT_NOT_FOUND";
    case Status::FwpSubLayerNotFound: return "STATUS_FWP_SUBLAYER_NOT_FOUND";
    case Status::FwpNotFound: return "STATUS_FWP_NOT_FOUND";
    case Status::FwpAlreadyExists: return "STATUS_FWP_ALREADY_EXISTS";
    case Status::FwpInUse: return "STATUS_FWP_IN_USE";
    case Status::FwpNoTxnInProgress: return "STATUS_FWP_NO_TXN_IN_PROGRESS";
    case Status::FwpTxnInProgress: return "STATUS_FWP_TXN_IN_PROGRESS";
    case Status::FwpIncompatibleTxn: return "STATUS_FWP_INCOMPATIBLE_TXN";
    case Status::FwpTimeout: return "STATUS_FWP_TIMEOUT";
    case Status::FwpIncompatibleLayer: return "STATUS_FWP_INCOMPATIBLE_LAYER";
    case Status::FwpBuiltinObject: return "STATUS_FWP_BUILTIN_OBJECT";
    case Status::FwpNullPointer: return "STATUS_FWP_NULL_POINTER";
    case Status::FwpInvalidEnumerator: return "STATUS_FWP_INVALID_ENUMERATOR";
    case Status::FwpInvalidFlags: return "STATUS_FWP_INVALID_FLAGS";
    case Status::FwpInvalidNetMask: return "STATUS_FWP_INVALID_NET_MASK";
    case Status::FwpInvalidRange: return "STATUS_FWP_INVALID_RANGE";
    case Status::FwpNullDisplayName: return "STATUS_FWP_NULL_DISPLAY_NAME";
    case Status::FwpInvalidActionType: return "STATUS_FWP_INVALID_ACTION_TYPE";
    case Status::FwpInvalidWeight: return "STATUS_FWP_INVALID_WEIGHT";
    case Status::FwpMatchTypeMismatch: return "STATUS_FWP_MATCH_TYPE_MISMATCH";
    case Status::FwpTypeMismatch: return "STATUS_FWP_TYPE_MISMATCH";
    case Status::FwpOutOfBounds: return "STATUS_FWP_OUT_OF_BOUNDS";
    case Status::FwpActionIncompatibleWithLayer: return "STATUS_FWP_ACTION_INCOMPATIBLE_WITH_LAYER";
    case Status::FwpInvalidParameter: return "STATUS_FWP_INVALID_PARAMETER";
    case Status::FwpCalloutNotificationFailed: return "STATUS_FWP_CALLOUT_NOTIFICATION_FAILED";
    case Status::FwpCannotPend: return "STATUS_FWP_CANNOT_PEND";
  }
  return "STATUS_?";
}

// ---------------------------------------------------------------------------------------------

namespace {
std::mutex& defaultFactoryMu() {
  static std::mutex mu;
  return mu;
}
Engine::FilterViewFactory& defaultFactory() {
  static Engine::FilterViewFactory f;
  return f;
}
}  // namespace

void setDefaultFilterViewFactory(Engine::FilterViewFactory f) {
  std::lock_guard lock(defaultFactoryMu());
  defaultFactory() = std::move(f);
}

Engine::Engine(EngineServices services)
    : services_(std::move(services)), poolRef_(std::make_shared<PoolRef>()) {
  {
    std::lock_guard lock(defaultFactoryMu());
    viewFactory_ = defaultFactory();
  }
  poolRef_->pool = services_.pool;
  auto policy = std::make_shared<PolicySnapshot>();
  for (const auto& l : allLayers()) policy->layers[static_cast<size_t>(l.id)] = LayerSnapshot::empty(l);
  policy_.store(std::move(policy));

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

  timer_ = std::make_unique<PendTimer>();
  pipeline_ = std::make_unique<ConnectPipeline>(*this);
}

Engine::~Engine() {
  timer_->stop();
  // Pended classifies end as BLOCK so that every done() runs exactly once.
  std::vector<std::shared_ptr<Classify>> pended;
  {
    std::lock_guard lock(handlesMu_);
    for (auto& [h, e] : handles_)
      if (e.classify) pended.push_back(e.classify);
  }
  for (auto& c : pended) {
    bool resume = false;
    {
      std::lock_guard lock(c->mu_);
      if (c->phase_ == Classify::Phase::Pended) {
        c->phase_ = Classify::Phase::Running;
        c->forcedBlock_ = true;
        c->pendConsumed_ = true;
        c->record_.reasons.push_back("engine shut down while the classify was pended");
        resume = true;
      }
    }
    if (resume) finish(c);
  }
  {
    std::lock_guard lock(handlesMu_);
    handles_.clear();
  }
  std::lock_guard lock(poolRef_->mu);
  poolRef_->pool = nullptr;
}

Classifier& Engine::classifier() { return *pipeline_; }

redirect::ContextFree Engine::contextFree() {
  auto ref = poolRef_;
  return [ref](void* p) {
    std::lock_guard lock(ref->mu);
    if (ref->pool && p) ref->pool->freeEngineOwned(p);
  };
}

// ---- sessions ----------------------------------------------------------------------------------

uint64_t Engine::openSession(bool dynamic) {
  std::lock_guard lock(storeMu_);
  uint64_t id = nextSession_++;
  sessions_[id] = Session{dynamic};
  return id;
}

bool Engine::validSession(uint64_t session) const {
  std::lock_guard lock(storeMu_);
  return sessions_.count(session) != 0;
}

Status Engine::closeSession(uint64_t session) {
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

Status Engine::waitForTxn(std::unique_lock<std::mutex>& lock, uint64_t session) {
  if (!sessions_.count(session)) return Status::InvalidHandle;
  if (txnOwner_ == 0 || txnOwner_ == session) return Status::Success;
  bool ok = txnCv_.wait_for(lock, std::chrono::seconds(10),
                            [&] { return txnOwner_ == 0 || txnOwner_ == session; });
  if (!ok) return Status::FwpTimeout;
  if (!sessions_.count(session)) return Status::InvalidHandle;
  return Status::Success;
}

Status Engine::beginTransaction(uint64_t session, bool readOnly) {
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

Status Engine::commitTransaction(uint64_t session) {
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

Status Engine::abortTransaction(uint64_t session) {
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

void Engine::markDirty(const LayerInfo* layer) { dirty_[static_cast<size_t>(layer->id)] = true; }

void Engine::publishDirty() {
  bool any = false;
  for (bool d : dirty_) any = any || d;
  if (!any) return;
  auto old = policy_.load();
  auto next = std::make_shared<PolicySnapshot>(*old);
  next->generation = old->generation + 1;
  for (size_t i = 0; i < kLayerCount; ++i) {
    if (!dirty_[i]) continue;
    std::vector<FilterInput> inputs;
    inputs.reserve(layerFilters_[i].size());
    for (auto& [id, f] : layerFilters_[i]) {
      FilterInput in;
      in.filter = f;
      if (isCalloutAction(f->spec.action)) in.callout = slotByKey(f->spec.filterTypeOrCalloutKey, true);
      auto s = subLayers_.find(f->subLayerKey);
      in.subLayerOrder = s != subLayers_.end() ? s->second.order : 0;
      inputs.push_back(std::move(in));
    }
    next->layers[i] = LayerSnapshot::build(allLayers()[i], std::move(inputs));
  }
  dirty_.fill(false);
  policy_.store(std::move(next));
}

void Engine::finishChange(uint64_t session) {
  if (!inTxn(session)) publishDirty();
}

std::shared_ptr<const LayerSnapshot> Engine::snapshot(LayerId layer) const {
  return policy_.load()->layers[static_cast<size_t>(layer)];
}

// ---- providers ---------------------------------------------------------------------------------

Status Engine::addProvider(uint64_t session, Provider p) {
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

Status Engine::deleteProvider(uint64_t session, const Guid& key) {
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

std::optional<Provider> Engine::provider(const Guid& key) const {
  std::lock_guard lock(storeMu_);
  auto it = providers_.find(key);
  if (it == providers_.end()) return std::nullopt;
  return it->second;
}

// ---- sublayers ---------------------------------------------------------------------------------

Status Engine::addSubLayer(uint64_t session, SubLayer s) {
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

Status Engine::deleteSubLayer(uint64_t session, const Guid& key) {
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

std::optional<SubLayer> Engine::subLayer(const Guid& key) const {
  std::lock_guard lock(storeMu_);
  auto it = subLayers_.find(key);
  if (it == subLayers_.end()) return std::nullopt;
  return it->second;
}

// ---- callout objects ---------------------------------------------------------------------------

Status Engine::addCallout(uint64_t session, CalloutObject c, uint32_t* id) {
  std::unique_lock lock(storeMu_);
  if (Status s = waitForTxn(lock, session); s != Status::Success) return s;
  if (inTxn(session) && txnReadOnly_) return Status::FwpIncompatibleTxn;
  if (!c.display.hasName) return Status::FwpNullDisplayName;
  if (c.key.isNull()) c.key = generateGuid();
  if (callouts_.count(c.key)) return Status::FwpAlreadyExists;
  if (!findLayer(c.applicableLayer)) return Status::FwpLayerNotFound;
  if (c.providerKey && !providers_.count(*c.providerKey)) return Status::FwpProviderNotFound;
  c.id = slotByKey(c.key, true)->id();
  c.session = session;
  if (c.providerKey) ++providerUse_[*c.providerKey];
  if (id) *id = c.id;
  Guid key = c.key;
  callouts_.emplace(key, std::move(c));
  if (inTxn(session)) undo_.push_back(UndoEntry{UndoEntry::Kind::AddedCallout, key, 0, {}, {}, {}, {}});
  return Status::Success;
}

Status Engine::deleteCalloutLocked(uint64_t session, const Guid& key) {
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

Status Engine::deleteCalloutByKey(uint64_t session, const Guid& key) {
  std::unique_lock lock(storeMu_);
  if (Status s = waitForTxn(lock, session); s != Status::Success) return s;
  if (inTxn(session) && txnReadOnly_) return Status::FwpIncompatibleTxn;
  return deleteCalloutLocked(session, key);
}

Status Engine::deleteCalloutById(uint64_t session, uint32_t id) {
  std::unique_lock lock(storeMu_);
  if (Status s = waitForTxn(lock, session); s != Status::Success) return s;
  if (inTxn(session) && txnReadOnly_) return Status::FwpIncompatibleTxn;
  for (auto& [k, c] : callouts_)
    if (c.id == id) return deleteCalloutLocked(session, Guid(k));
  return Status::FwpCalloutNotFound;
}

std::optional<CalloutObject> Engine::calloutObject(const Guid& key) const {
  std::lock_guard lock(storeMu_);
  auto it = callouts_.find(key);
  if (it == callouts_.end()) return std::nullopt;
  return it->second;
}

// ---- filters -----------------------------------------------------------------------------------

void Engine::setFilterViewFactory(FilterViewFactory f) {
  std::lock_guard lock(storeMu_);
  viewFactory_ = std::move(f);
}

Status Engine::addFilter(uint64_t session, FilterSpec spec, uint64_t* idOut) {
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
    slot = slotByKey(c->first, true);
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

Status Engine::removeFilterLocked(uint64_t session, uint64_t id) {
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

void Engine::notifyDelete(const std::shared_ptr<const Filter>& f) {
  if (!isCalloutAction(f->spec.action)) return;
  auto slot = slotByKey(f->spec.filterTypeOrCalloutKey, false);
  if (!slot) return;
  auto reg = slot->registration();
  if (reg && reg->functions && reg->functions->hasNotify()) {
    // S3.3: a failure for DELETE_FILTER does not stop the delete.
    (void)reg->functions->notify(NotifyType::DeleteFilter, *f);
  }
}

Status Engine::deleteFilterById(uint64_t session, uint64_t id) {
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

Status Engine::deleteFilterByKey(uint64_t session, const Guid& key) {
  uint64_t id = 0;
  {
    std::lock_guard lock(storeMu_);
    auto it = filterKeys_.find(key);
    if (it == filterKeys_.end()) return Status::FwpFilterNotFound;
    id = it->second;
  }
  return deleteFilterById(session, id);
}

std::shared_ptr<const Filter> Engine::filterById(uint64_t id) const {
  std::lock_guard lock(storeMu_);
  auto it = filters_.find(id);
  return it == filters_.end() ? nullptr : it->second;
}

std::shared_ptr<const Filter> Engine::filterByKey(const Guid& key) const {
  std::lock_guard lock(storeMu_);
  auto it = filterKeys_.find(key);
  if (it == filterKeys_.end()) return nullptr;
  return filters_.at(it->second);
}

std::vector<std::shared_ptr<const Filter>> Engine::filters(const Guid* layerKey) const {
  std::vector<std::shared_ptr<const Filter>> out;
  std::lock_guard lock(storeMu_);
  for (auto& [id, f] : filters_)
    if (!layerKey || f->layer->key == *layerKey) out.push_back(f);
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a->id < b->id; });
  return out;
}

// ---- callout registration ----------------------------------------------------------------------

std::shared_ptr<CalloutSlot> Engine::slotByKey(const Guid& key, bool create) {
  std::lock_guard lock(slotsMu_);
  auto it = slotsByKey_.find(key);
  if (it != slotsByKey_.end()) return it->second;
  if (!create) return nullptr;
  auto slot = std::make_shared<CalloutSlot>(key, nextCalloutId_++);
  slotsByKey_.emplace(key, slot);
  slotsById_.emplace(slot->id(), slot);
  return slot;
}

std::shared_ptr<CalloutSlot> Engine::slotById(uint32_t id) const {
  std::lock_guard lock(slotsMu_);
  auto it = slotsById_.find(id);
  return it == slotsById_.end() ? nullptr : it->second;
}

Status Engine::registerCallout(Registration reg, uint32_t* id) {
  auto slot = slotByKey(reg.key, true);
  reg.id = slot->id();
  Status s = slot->registerWith(std::make_shared<const Registration>(std::move(reg)));
  if (s == Status::Success && id) *id = slot->id();
  return s;
}

Status Engine::unregisterCalloutById(uint32_t id) {
  auto slot = slotById(id);
  if (!slot) return Status::FwpCalloutNotFound;
  return slot->unregister();
}

std::vector<Engine::ForcedUnregister> Engine::forceUnregisterOwnedBy(const std::string& owner,
                                                                     std::chrono::milliseconds wait) {
  std::vector<ForcedUnregister> out;
  if (owner.empty()) return out;  // "" is the application itself, never a driver
  std::vector<std::shared_ptr<CalloutSlot>> slots;
  {
    std::lock_guard lock(slotsMu_);
    for (const auto& [key, slot] : slotsByKey_) slots.push_back(slot);
  }
  for (const auto& slot : slots) {
    auto reg = slot->registration();
    if (!reg || reg->owner != owner) continue;
    ForcedUnregister f;
    f.key = slot->key();
    f.id = slot->id();
    f.stillRunning = !slot->forceUnregister(wait);
    out.push_back(f);
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  return out;
}

Status Engine::unregisterCalloutByKey(const Guid& key) {
  auto slot = slotByKey(key, false);
  if (!slot) return Status::FwpCalloutNotFound;
  return slot->unregister();
}

}  // namespace openwfp::engine

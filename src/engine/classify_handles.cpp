// engine/classify_handles.cpp - classify handles, writable layer data and pend/complete
// (SPEC S5, S6). See classify_handles.h.
#include "engine/classify_handles.h"

#include <algorithm>

#include "engine/classify_runner.h"
#include "engine/context_pool.h"
#include "engine/diagnostics.h"
#include "redirect/history.h"
#include "verifier/pool.h"
#include "verifier/verifier.h"

namespace openwfp::engine {
namespace {

std::string describeData(const LayerInfo& layer, const LayerData& before, const LayerData& after) {
  std::string s;
  if (layer.writable == WritableData::BindRequest) {
    s = "local " + before.local.str() + " -> " + after.local.str();
  } else {
    s = "remote " + before.remote.str() + " -> " + after.remote.str();
    if (after.localRedirectTargetPid) s += ", targetPID " + std::to_string(after.localRedirectTargetPid);
    if (after.localRedirectHandle) s += ", handle " + hex(after.localRedirectHandle);
    if (after.localRedirectContext)
      s += ", context " + std::to_string(after.localRedirectContextSize) + " bytes";
  }
  if (after.portReservationToken) s += ", portReservationToken " + hex(after.portReservationToken);
  return s;
}

constexpr uint32_t kActionBlock = static_cast<uint32_t>(ActionType::Block);

}  // namespace

ClassifyHandles::ClassifyHandles(const EngineServices& services, const ContextPool& contexts)
    : services_(services), contexts_(contexts) {}

// ---- live classify contexts --------------------------------------------------------------------

void ClassifyHandles::addLive(const std::shared_ptr<Classify>& c) {
  std::lock_guard lock(liveMu_);
  live_.emplace(c->context(), c);
}

void ClassifyHandles::removeLive(const Classify& c) {
  std::lock_guard lock(liveMu_);
  live_.erase(c.context());
}

// ---- classify handles --------------------------------------------------------------------------

ClassifyHandles::HandleEntry* ClassifyHandles::entry(uint64_t handle) {
  auto it = handles_.find(handle);
  return it == handles_.end() ? nullptr : &it->second;
}

void ClassifyHandles::dropRef(uint64_t handle) {
  std::shared_ptr<Classify> drop;
  std::lock_guard lock(mu_);
  auto it = handles_.find(handle);
  if (it == handles_.end()) return;
  if (it->second.refs > 0) --it->second.refs;
  if (it->second.refs == 0) {
    drop = std::move(it->second.classify);
    handles_.erase(it);
  }
}

Status ClassifyHandles::acquire(const void* classifyContext, uint32_t flags, uint64_t* handle) {
  if (!classifyContext || flags != 0 || !handle) return Status::InvalidParameter;
  std::shared_ptr<Classify> c;
  {
    std::lock_guard lock(liveMu_);
    auto it = live_.find(classifyContext);
    if (it != live_.end()) c = it->second.lock();
  }
  if (!c) return Status::InvalidParameter;
  std::lock_guard lock(mu_);
  uint64_t h = nextHandle_;
  nextHandle_ += 0x10;
  HandleEntry e;
  e.classify = c;
  e.refs = 1;
  e.owner = verifier::currentDriver();
  e.acquiredAt = std::chrono::steady_clock::now();
  e.historyId = c->request_.history ? c->request_.history->id() : 0;
  handles_.emplace(h, std::move(e));
  *handle = h;
  return Status::Success;
}

void ClassifyHandles::release(uint64_t handle) {
  bool ok = false;
  {
    std::lock_guard lock(mu_);
    HandleEntry* e = entry(handle);
    ok = e && !e->driverReleased;
    if (ok) e->driverReleased = true;
  }
  if (!ok) {
    reportViolation(services_, verifier::Code::UseAfterRelease,
                    "FwpsReleaseClassifyHandle0 on a released or unknown classify handle " +
                        hex(handle),
                    0);
    return;
  }
  dropRef(handle);
}

std::shared_ptr<Classify> ClassifyHandles::classifyFor(uint64_t handle, const char* api) {
  {
    std::lock_guard lock(mu_);
    HandleEntry* e = entry(handle);
    if (e && !e->driverReleased) return e->classify;
  }
  reportViolation(services_, verifier::Code::UseAfterRelease,
                  std::string(api) + " with a released or unknown classify handle " + hex(handle),
                  0);
  return nullptr;
}

size_t ClassifyHandles::unreleased(const std::string& driver, bool report) {
  std::vector<std::pair<uint64_t, uint64_t>> found;  // handle, classify id
  {
    std::lock_guard lock(mu_);
    for (auto& [h, e] : handles_)
      if (!e.driverReleased && e.owner == driver) found.emplace_back(h, e.classify->id());
  }
  if (report && services_.verifier) {
    for (auto& [h, id] : found) {
      verifier::Violation v{verifier::Code::ClassifyHandleNotReleased,
                            "classify handle " + hex(h) + " of classify " + std::to_string(id) +
                                " never released (FwpsReleaseClassifyHandle0)",
                            driver, {}, 0};
      services_.verifier->report(std::move(v));
    }
  }
  return found.size();
}

void ClassifyHandles::reportHandlesOfConnection(uint64_t historyId) {
  std::vector<std::pair<uint64_t, std::string>> found;
  {
    std::lock_guard lock(mu_);
    for (auto& [h, e] : handles_)
      if (!e.driverReleased && e.historyId == historyId && historyId != 0)
        found.emplace_back(h, e.owner);
  }
  if (!services_.verifier) return;
  for (auto& [h, owner] : found) {
    verifier::Violation v{verifier::Code::ClassifyHandleNotReleased,
                          "classify handle " + hex(h) +
                              " still held when its connection ended (FwpsReleaseClassifyHandle0)",
                          owner, {}, 0};
    services_.verifier->report(std::move(v));
  }
}

std::vector<std::shared_ptr<Classify>> ClassifyHandles::classifiesHeld() const {
  std::vector<std::shared_ptr<Classify>> out;
  std::lock_guard lock(mu_);
  for (auto& [h, e] : handles_)
    if (e.classify) out.push_back(e.classify);
  return out;
}

std::vector<HeldClassify> ClassifyHandles::describe() const {
  using std::chrono::duration_cast;
  using std::chrono::milliseconds;
  const auto now = std::chrono::steady_clock::now();
  std::vector<HeldClassify> out;
  std::lock_guard lock(mu_);
  for (const auto& [h, e] : handles_) {
    if (!e.classify) continue;
    HeldClassify d;
    d.handle = h;
    d.classifyId = e.classify->id();
    d.layer = std::string(e.classify->layer().name);
    d.owner = e.owner;
    d.pended = e.pendedAt != std::chrono::steady_clock::time_point{};
    d.driverReleased = e.driverReleased;
    d.age = duration_cast<milliseconds>(now - e.acquiredAt);
    if (d.pended) d.pendedFor = duration_cast<milliseconds>(now - e.pendedAt);
    out.push_back(std::move(d));
  }
  return out;
}

void ClassifyHandles::clear() {
  std::lock_guard lock(mu_);
  handles_.clear();
}

// ---- pend / complete ---------------------------------------------------------------------------

Status ClassifyHandles::pend(uint64_t handle, uint64_t filterId, uint32_t flags) {
  (void)filterId;
  if (flags != 0) return Status::InvalidParameter;
  auto c = classifyFor(handle, "FwpsPendClassify0");
  if (!c) return Status::InvalidHandle;
  if (!c->layer_->canPend) return Status::FwpCannotPend;
  {
    std::lock_guard lock(c->mu_);
    if (c->phase_ != Classify::Phase::InCallout) return Status::FwpCannotPend;
    if (c->inv_.pendRequested) return Status::Success;
    c->inv_.pendRequested = true;
    c->inv_.pendHandle = handle;
  }
  std::lock_guard lock(mu_);
  if (auto* e = entry(handle)) {
    ++e->refs;  // the pend holds a reference (S6.1)
    e->pendedAt = std::chrono::steady_clock::now();
  }
  return Status::Success;
}

void ClassifyHandles::complete(uint64_t handle, uint32_t flags, const ClassifyOut* out,
                               ClassifyRunner& runner) {
  std::shared_ptr<Classify> c;
  {
    std::lock_guard lock(mu_);
    HandleEntry* e = entry(handle);
    if (!e) {
      reportViolation(services_, verifier::Code::UseAfterRelease,
                      "FwpsCompleteClassify0 with a released or unknown classify handle " +
                          hex(handle),
                      0);
      return;
    }
    if (e->driverReleased)
      reportViolation(services_, verifier::Code::UseAfterRelease,
                      "FwpsCompleteClassify0 after FwpsReleaseClassifyHandle0 (complete first, "
                      "then release)",
                      0);
    c = e->classify;
  }
  if (flags != 0)
    reportViolation(services_, verifier::Code::InvalidArgument,
                    "FwpsCompleteClassify0: flags must be 0", 0);
  CalloutSlot* slot = nullptr;
  {
    std::unique_lock lock(c->mu_);
    if (c->phase_ == Classify::Phase::InCallout && c->inv_.pendRequested && !c->inv_.completed &&
        c->inv_.pendHandle == handle) {
      c->inv_.completed = true;
      if (out) c->inv_.completion = *out;
      c->record_.completeNs = nowNs();
    } else if (c->phase_ != Classify::Phase::Pended || c->inv_.pendHandle != handle) {
      bool twice = c->pendConsumed_;
      std::string msg =
          twice ? "FwpsCompleteClassify0 on a classify that was already completed"
                : "FwpsCompleteClassify0 on a classify that is not pended";
      if (twice && c->timedOut_) msg += " (by its deadline)";
      lock.unlock();
      reportViolation(services_,
                      twice ? verifier::Code::DoubleComplete : verifier::Code::InvalidArgument,
                      msg, 0);
      return;
    } else {
      c->phase_ = Classify::Phase::Running;
      c->pendConsumed_ = true;
      c->record_.completeNs = nowNs();
      slot = c->inv_.slot;
      if (out) {
        ClassifyRunner::applyCalloutResult(*c, *out);
        ++c->next_;
      }
    }
  }
  dropRef(handle);
  if (!slot) return;  // completed inline: the thread inside classifyFn continues
  slot->leave();
  if (!out) {
    std::unique_lock lock(c->mu_);
    runner.restart(*c, lock);
  }
  runner.resume(c);
}

// ---- writable layer data -----------------------------------------------------------------------

Status ClassifyHandles::acquireWritable(uint64_t handle, uint64_t filterId, uint32_t flags,
                                        uint32_t* rights, uint32_t* actionType, Writable* out) {
  if (flags != 0 || !out) return Status::InvalidParameter;
  auto c = classifyFor(handle, "FwpsAcquireWritableLayerDataPointer0");
  if (!c) return Status::InvalidHandle;
  if (c->layer_->writable == WritableData::None) return Status::FwpIncompatibleLayer;
  if (rights && !(*rights & kRightActionWrite)) return Status::AccessDenied;
  std::lock_guard lock(c->mu_);
  if (c->phase_ == Classify::Phase::Finished) return Status::InvalidParameter;
  Classify::Acquisition a;
  a.token = c->nextToken_++;
  a.filterId = filterId;
  a.base = c->current_;
  c->acquisitions_.push_back(a);
  if (c->inv_.filterPtr && c->inv_.filterPtr->id == filterId) c->inv_.acquired = true;
  out->token = a.token;
  out->data = c->current_;
  out->previous.assign(c->versions_.rbegin(), c->versions_.rend());
  if (actionType) *actionType = kActionBlock;
  if (rights) *rights &= ~kRightActionWrite;
  return Status::Success;
}

Status ClassifyHandles::applyWritable(uint64_t handle, uint64_t token, const LayerData& data,
                                      uint32_t flags) {
  auto c = classifyFor(handle, "FwpsApplyModifiedLayerData0");
  if (!c) return Status::InvalidHandle;
  bool inline_ = false;
  std::unique_lock lock(c->mu_);
  auto it = std::find_if(c->acquisitions_.begin(), c->acquisitions_.end(),
                         [&](const Classify::Acquisition& a) { return a.token == token; });
  if (it == c->acquisitions_.end() || it->applied) return Status::InvalidParameter;
  if (c->phase_ == Classify::Phase::Finished) return Status::InvalidParameter;
  it->applied = true;
  const uint64_t filterId = it->filterId;
  LayerData next = it->base;
  if (c->layer_->writable == WritableData::BindRequest) {
    next.local = data.local;
    next.portReservationToken = data.portReservationToken;
  } else {
    next.remote = data.remote;
    next.portReservationToken = data.portReservationToken;
    next.localRedirectTargetPid = data.localRedirectTargetPid;
    next.localRedirectHandle = data.localRedirectHandle;
    next.localRedirectContext = data.localRedirectContext;
    next.localRedirectContextSize = data.localRedirectContextSize;
  }
  next.modifierFilterId = filterId;

  // S5.7: a modification by another filter re-authorizes the watchers; the flag is only valid
  // for a pended classify.
  for (uint64_t w : c->reauthWatchers_)
    if (w != filterId) c->reauthPending_ = true;
  if (flags & kApplyReauthorizeIfModifiedByOthers) {
    const bool pended = c->phase_ == Classify::Phase::Pended ||
                        (c->phase_ == Classify::Phase::InCallout && c->inv_.pendRequested);
    if (pended) {
      c->reauthWatchers_.push_back(filterId);
    } else {
      inline_ = true;
    }
  }

  // S5.6: the engine owns the context from now on.
  if (next.localRedirectContext && next.localRedirectContext != it->base.localRedirectContext &&
      services_.pool && services_.pool->isLive(next.localRedirectContext)) {
    services_.pool->markEngineOwned(next.localRedirectContext);
  }
  const bool ownsContext =
      next.localRedirectContext && services_.pool && services_.pool->isLive(next.localRedirectContext);

  // S5.8: the redirect entry of this classify.
  if (c->layer_->writable == WritableData::ConnectRequest && next.localRedirectHandle != 0 &&
      c->request_.history) {
    redirect::Entry e;
    e.redirectHandle = next.localRedirectHandle;
    e.targetPid = next.localRedirectTargetPid;
    e.originalDestination = c->request_.data.remote;
    e.redirectedTo = next.remote;
    e.filterId = filterId;
    e.context = next.localRedirectContext;
    e.contextSize = next.localRedirectContextSize;
    auto free = ownsContext ? contexts_.contextFree() : redirect::ContextFree{};
    if (c->entryToken_) {
      c->request_.history->replace(*c->entryToken_, e, free);
    } else {
      c->entryToken_ = c->request_.history->add(e, free);
    }
  } else if (ownsContext) {
    // Applied without a redirect handle: no entry holds it; freed when the classify blocks, else
    // when the classify object goes away.
    if (std::find(c->orphanContexts_.begin(), c->orphanContexts_.end(),
                  next.localRedirectContext) == c->orphanContexts_.end())
      c->orphanContexts_.push_back(next.localRedirectContext);
  }

  if (c->tracing_) {
    trace::Modification m;
    m.filterId = filterId;
    m.what = describeData(*c->layer_, c->current_, next);
    c->record_.modifications.push_back(std::move(m));
  }
  c->versions_.push_back(next);
  c->lastModifierFilterId_ = filterId;
  c->current_ = next;
  lock.unlock();
  if (inline_)
    reportViolation(services_, verifier::Code::ReauthorizeFlagInline,
                    "FwpsApplyModifiedLayerData0 with FWPS_CLASSIFY_FLAG_REAUTHORIZE_IF_MODIFIED_BY_"
                    "OTHERS in a classify that is not pended (flag ignored)",
                    filterId);
  return Status::Success;
}

}  // namespace openwfp::engine

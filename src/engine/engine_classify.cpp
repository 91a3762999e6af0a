// engine/engine_classify.cpp - running a classify: matching, arbitration, callout invocation,
// classify handles, writable layer data, pend/complete and deadlines (SPEC S4, S5, S6).
#include <cstdio>

#include "engine/engine.h"
#include "engine/pend_timer.h"
#include "redirect/history.h"
#include "verifier/pool.h"
#include "verifier/verifier.h"

namespace openwfp::engine {
namespace {

thread_local Classify* tlsInCallout = nullptr;

int64_t nowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string actionName(uint32_t a) { return toString(static_cast<ActionType>(a)); }

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
constexpr uint32_t kActionPermit = static_cast<uint32_t>(ActionType::Permit);
constexpr uint32_t kActionContinue = static_cast<uint32_t>(ActionType::Continue);

}  // namespace

// ---- Classify ----------------------------------------------------------------------------------

Classify::Classify(Engine& engine, uint64_t id, ClassifyRequest request, Done done)
    : engine_(engine),
      id_(id),
      layer_(&layerInfo(request.layer)),
      request_(std::move(request)),
      done_(std::move(done)) {
  values_ = std::move(request_.values);  // request_.values is not used afterwards
  current_ = request_.data;
}

Classify::~Classify() {
  // Engine-owned contexts of a classify that never reached finish() (engine torn down).
  if (!orphanContexts_.empty()) {
    auto free = engine_.contextFree();
    for (void* p : orphanContexts_) free(p);
  }
}

void Classify::addReason(std::string r) {
  std::lock_guard lock(mu_);
  record_.reasons.push_back(std::move(r));
}

void Engine::reportViolation(int code, std::string message, const Classify* c, uint64_t filterId) {
  if (!services_.verifier) return;
  verifier::Violation v{static_cast<verifier::Code>(code), std::move(message), {}, {}, filterId};
  v.driver = verifier::currentDriver();
  (void)c;
  services_.verifier->report(std::move(v));
}

// ---- start / drive -----------------------------------------------------------------------------

std::shared_ptr<Classify> Engine::start(ClassifyRequest request, Classify::Done done) {
  uint64_t id = nextClassifyId_.fetch_add(1);
  std::shared_ptr<Classify> c(new Classify(*this, id, std::move(request), std::move(done)));
  {
    std::lock_guard lock(c->mu_);
    c->tracing_ = services_.options.trace && services_.tracer;
    auto& r = c->record_;
    if (c->tracing_) {
    const auto& req = c->request_;
    r.id = id;
    r.layer = std::string(c->layer_->name);
    r.pid = req.metadata.processId;
    r.app = req.processPath;
    r.uid = c->values_.userId;
    r.protocol = c->values_.protocol == 6 ? "tcp" : c->values_.protocol == 17 ? "udp"
                                                  : std::to_string(c->values_.protocol);
    r.local = c->values_.local.str();
    if (c->layer_->hasField(Field::RemoteAddress)) r.remote = c->values_.remote.str();
    r.flags = flagNames(c->values_.flags);
    r.startNs = nowNs();
    }
    c->policy_ = policy_.load();
    c->snap_ = c->policy_->layers[static_cast<size_t>(c->layer_->id)].get();
    c->snap_->match(c->values_, c->matched_);
  }
  drive(c);
  return c;
}

void Engine::restart(Classify& c, std::unique_lock<std::mutex>& lock) {
  (void)lock;
  ++c.round_;
  if (c.round_ > services_.options.reauthorizeLimit) {
    c.forcedBlock_ = true;
    std::string why = "re-authorization limit of " +
                      std::to_string(services_.options.reauthorizeLimit) +
                      " rounds exceeded: BLOCK";
    c.record_.reasons.push_back(why);
    reportViolation(static_cast<int>(verifier::Code::ReauthorizeLimit), why, &c, 0);
    return;
  }
  c.values_.flags |= kFlagIsReauthorize;
  c.policy_ = policy_.load();
  c.snap_ = c.policy_->layers[static_cast<size_t>(c.layer_->id)].get();
  c.matched_.clear();
  c.snap_->match(c.values_, c.matched_);
  c.next_ = 0;
  c.arbiter_.reset();
  c.reauthWatchers_.clear();
  c.reauthPending_ = false;
  if (c.tracing_) {
    trace::FilterStep marker;
    marker.kind = "reauthorize";
    marker.result = "ROUND " + std::to_string(c.round_);
    marker.note = "classify runs again with FWP_CONDITION_FLAG_IS_REAUTHORIZE";
    c.record_.filters.push_back(std::move(marker));
    c.record_.flags = flagNames(c.values_.flags);
  }
}

void Engine::drive(const std::shared_ptr<Classify>& c) {
  for (;;) {
    const SnapshotFilter* sf = nullptr;
    {
      std::unique_lock lock(c->mu_);
      if (c->forcedBlock_) break;
      if (c->next_ >= c->matched_.size()) {
        if (c->reauthPending_) {
          restart(*c, lock);
          continue;
        }
        break;
      }
      sf = c->matched_[c->next_];
      if (c->arbiter_.skip(sf->subLayerRank)) {
        if (!c->tracing_) {
          ++c->next_;
          continue;
        }
        const Filter& skipped = c->snap_->filterOf(*sf);
        trace::FilterStep step;
        step.filterId = skipped.id;
        step.filterName = skipped.nameUtf8();
        step.subLayerWeight = skipped.subLayerWeight;
        step.weight = skipped.effectiveWeight;
        step.kind = isCalloutAction(skipped.spec.action) ? "callout" : "static";
        step.result = "SKIPPED";
        step.note = "its sublayer already decided";
        c->record_.filters.push_back(std::move(step));
        ++c->next_;
        continue;
      }
      if (!isCalloutAction(sf->action)) {
        evaluateStatic(*c, *sf);
        ++c->next_;
        continue;
      }
    }
    if (!invokeCallout(c, *sf)) return;  // pended: the completing thread goes on
  }
  finish(c);
}

void Engine::evaluateStatic(Classify& c, const SnapshotFilter& sf) {
  if (!c.tracing_) {
    if (sf.action == ActionType::Permit) {
      c.arbiter_.decide(Arbiter::Decision::Permit, sf.runtimeFlags & kRuntimeFlagClearActionRight,
                        false);
    } else {
      c.arbiter_.decide(Arbiter::Decision::Block, true, false);
    }
    return;
  }
  const Filter& f = c.snap_->filterOf(sf);
  trace::FilterStep step;
  step.filterId = f.id;
  step.filterName = f.nameUtf8();
  step.subLayerWeight = f.subLayerWeight;
  step.weight = f.effectiveWeight;
  Arbiter::Outcome o;
  if (f.spec.action == ActionType::Permit) {
    step.kind = "permit";
    step.result = "PERMIT";
    bool hard = f.runtimeFlags & kRuntimeFlagClearActionRight;
    if (hard) step.note = "hard permit (CLEAR_ACTION_RIGHT)";
    o = c.arbiter_.decide(Arbiter::Decision::Permit, hard, false);
  } else {
    step.kind = "block";
    step.result = "BLOCK";
    o = c.arbiter_.decide(Arbiter::Decision::Block, true, false);
  }
  if (o.ignored) {
    step.note += step.note.empty() ? "" : "; ";
    step.note += c.arbiter_.current() == Arbiter::Decision::Block
                     ? "ignored: BLOCK of an earlier sublayer overrides PERMIT"
                     : "ignored: hard PERMIT of an earlier sublayer (only a callout veto overrides it)";
  }
  c.record_.filters.push_back(std::move(step));
}

// Returns false when the classify was pended (the caller must stop driving it).
bool Engine::invokeCallout(const std::shared_ptr<Classify>& c, const SnapshotFilter& sf) {
  const Filter& f = c->snap_->filterOf(sf);
  CalloutSlot* slot = c->snap_->calloutOf(sf);
  trace::FilterStep step;
  if (c->tracing_) {
    step.filterId = f.id;
    step.filterName = f.nameUtf8();
    step.subLayerWeight = f.subLayerWeight;
    step.weight = f.effectiveWeight;
    step.kind = "callout";
    step.callout = slot->key().str();
  }

  auto reg = slot->enter();
  if (reg && c->layer_->redirectLayer && reg->version == 0) {
    slot->leave();
    reg.reset();
    step.note = "callout registered with FwpsCalloutRegister0: the redirect layers need "
                "FwpsCalloutRegister1 or later, treated as unregistered (S3.2)";
  }
  if (!reg) {
    std::lock_guard lock(c->mu_);
    if (!step.note.empty()) c->record_.reasons.push_back("filter " + std::to_string(f.id) + ": " + step.note);
    if (f.spec.action == ActionType::CalloutInspection) {
      step.result = "UNREGISTERED->SKIPPED";
    } else if (f.runtimeFlags & kRuntimeFlagPermitIfCalloutUnregistered) {
      step.result = "UNREGISTERED->PERMIT";
      c->arbiter_.decide(Arbiter::Decision::Permit, f.runtimeFlags & kRuntimeFlagClearActionRight,
                         false);
    } else {
      step.result = "UNREGISTERED->BLOCK";
      c->arbiter_.decide(Arbiter::Decision::Block, true, false);
    }
    if (c->tracing_) c->record_.filters.push_back(std::move(step));
    ++c->next_;
    return true;
  }
  if (reg->flags & kCalloutFlagConditionalOnFlow) {
    slot->leave();
    std::lock_guard lock(c->mu_);
    step.result = "SKIPPED";
    step.note = "FWP_CALLOUT_FLAG_CONDITIONAL_ON_FLOW and no flow context";
    if (c->tracing_) c->record_.filters.push_back(std::move(step));
    ++c->next_;
    return true;
  }

  if (!c->registered_) {
    // The classifyContext becomes valid for FwpsAcquireClassifyHandle0 once a callout sees it.
    std::lock_guard lock(liveMu_);
    live_.emplace(c->context(), c);
    c->registered_ = true;
  }
  ClassifyOut out;
  {
    std::lock_guard lock(c->mu_);
    out.actionType = c->arbiter_.actionForCallout();
    out.rights = c->arbiter_.rightsForCallout();
    out.filterId = f.id;
    c->inv_ = Classify::Invocation{};
    c->inv_.filter = &sf;
    c->inv_.filterPtr = &f;
    c->inv_.slot = slot;
    c->inv_.rightsIn = out.rights;
    c->inv_.registration = reg;
    if (c->tracing_) {
      c->inv_.stepIndex = c->record_.filters.size();
      c->record_.filters.push_back(std::move(step));
    }
    c->phase_ = Classify::Phase::InCallout;
  }

  {
    // The classify whose classifyFn runs on this thread, for noteRedirectState().
    struct InCallout {
      explicit InCallout(Classify* c) : previous(tlsInCallout) { tlsInCallout = c; }
      ~InCallout() { tlsInCallout = previous; }
      Classify* previous;
    } inCallout(c.get());
    slot->callStarted();
    reg->functions->classify(*c, f, out);
    slot->callReturned();
  }

  bool pendWithoutBlock = false;
  bool reauthorize = false;
  {
    std::unique_lock lock(c->mu_);
    c->phase_ = Classify::Phase::Running;
    if (c->inv_.pendRequested) {
      pendWithoutBlock = out.actionType != kActionBlock || (out.rights & kRightActionWrite);
      if (c->inv_.completed) {
        // Completed from inside classifyFn (or by another thread before classifyFn returned).
        c->inv_.completed = false;
        c->pendConsumed_ = true;
        if (c->inv_.completion) {
          out = *c->inv_.completion;
        } else {
          reauthorize = true;
        }
      } else {
        c->phase_ = Classify::Phase::Pended;
        if (c->tracing_) {
          c->record_.filters[c->inv_.stepIndex].result = "PENDED";
          c->record_.pendNs = nowNs();
        }
        uint64_t gen = ++c->pendGeneration_;
        lock.unlock();
        if (pendWithoutBlock)
          reportViolation(static_cast<int>(verifier::Code::PendWithoutBlock),
                          "classify pended but classifyFn returned " + actionName(out.actionType) +
                              (out.rights & kRightActionWrite ? " with the write right still set"
                                                             : "") +
                              " (must return BLOCK with FWPS_RIGHT_ACTION_WRITE cleared)",
                          c.get(), f.id);
        auto deadline = services_.options.pendDeadline;
        if (deadline.count() > 0) {
          std::weak_ptr<Classify> weak = c;
          timer_->schedule(PendTimer::Clock::now() + deadline,
                           [this, weak, gen] { expire(weak, gen); });
        }
        return false;
      }
    }
  }
  if (pendWithoutBlock)
    reportViolation(static_cast<int>(verifier::Code::PendWithoutBlock),
                    "classify pended but classifyFn did not return BLOCK with the write right "
                    "cleared",
                    c.get(), f.id);
  slot->leave();
  std::unique_lock lock(c->mu_);
  if (reauthorize) {
    restart(*c, lock);
    return true;
  }
  applyCalloutResult(*c, out);
  ++c->next_;
  return true;
}

// c.mu_ held. Interprets what the callout of c.inv_ returned (S4.2).
void Engine::applyCalloutResult(Classify& c, const ClassifyOut& out) {
  const Filter& f = *c.inv_.filterPtr;
  trace::FilterStep scratch;
  auto& step = c.inv_.stepIndex != SIZE_MAX ? c.record_.filters[c.inv_.stepIndex] : scratch;
  std::string note;
  Arbiter::Decision d = Arbiter::Decision::None;
  if (f.spec.action == ActionType::CalloutInspection) {
    step.result = "CONTINUE";
    if (out.actionType != kActionContinue)
      note = "inspection callout returned " + actionName(out.actionType) + ": counted as CONTINUE";
  } else if (out.actionType == kActionPermit) {
    d = Arbiter::Decision::Permit;
    step.result = "PERMIT";
  } else if (out.actionType == kActionBlock) {
    d = Arbiter::Decision::Block;
    step.result = "BLOCK";
  } else if (f.spec.action == ActionType::CalloutTerminating) {
    d = Arbiter::Decision::Block;
    step.result = "BLOCK";
    note = "terminating callout returned " + actionName(out.actionType) + ": counted as BLOCK";
  } else {
    step.result = "CONTINUE";
    if (out.actionType != kActionContinue)
      note = "callout returned " + actionName(out.actionType) + ": counted as CONTINUE";
  }
  if (d != Arbiter::Decision::None) {
    const bool rightHeld = c.inv_.rightsIn & kRightActionWrite;
    bool hard = (f.runtimeFlags & kRuntimeFlagClearActionRight) ||
                (rightHeld && !(out.rights & kRightActionWrite));
    // openwfp choice: the right that FwpsAcquireWritableLayerDataPointer0 clears does not make
    // the redirecting callout's PERMIT hard, so later redirectors still get the write right.
    if (d == Arbiter::Decision::Permit && c.inv_.acquired &&
        !(f.runtimeFlags & kRuntimeFlagClearActionRight))
      hard = false;
    const bool veto = d == Arbiter::Decision::Block && !rightHeld;
    auto o = c.arbiter_.decide(d, hard, veto);
    if (o.veto) {
      note += note.empty() ? "" : "; ";
      note += "VETO: BLOCK returned without the write right overrides a hard PERMIT";
      c.record_.reasons.push_back("filter " + std::to_string(f.id) +
                                  " vetoed a hard permit of an earlier sublayer");
    } else if (o.ignored) {
      note += note.empty() ? "" : "; ";
      note += c.arbiter_.current() == Arbiter::Decision::Block
                  ? "ignored: BLOCK of an earlier sublayer overrides PERMIT"
                  : "ignored: hard PERMIT of an earlier sublayer";
    } else if (hard) {
      note += note.empty() ? "" : "; ";
      note += "hard decision (write right cleared)";
    }
  }
  if (!note.empty() && c.tracing_) step.note += (step.note.empty() ? "" : "; ") + note;
}

void Engine::finish(const std::shared_ptr<Classify>& c) {
  std::vector<std::string> unapplied;
  Classify::Done done;
  {
    std::lock_guard lock(c->mu_);
    c->phase_ = Classify::Phase::Finished;
    c->permitted_ = !c->forcedBlock_ && c->arbiter_.permitted();
    for (const auto& a : c->acquisitions_)
      if (!a.applied) unapplied.push_back(std::to_string(a.filterId));
    if (!c->permitted_) {
      // S5.8 / S5.6: a blocked classify withdraws its redirect entry and frees its contexts.
      if (c->entryToken_ && c->request_.history) c->request_.history->remove(*c->entryToken_);
      c->entryToken_.reset();
    }
    if (!c->orphanContexts_.empty() && !c->permitted_) {
      auto free = contextFree();
      for (void* p : c->orphanContexts_) free(p);
      c->orphanContexts_.clear();
    }
    auto& r = c->record_;
    if (c->tracing_) {
    r.verdict = c->permitted_ ? "PERMIT" : "BLOCK";
    if (c->layer_->writable == WritableData::BindRequest) {
      r.finalDestination = c->current_.local.str();
    } else if (c->layer_->hasField(Field::RemoteAddress)) {
      r.finalDestination = c->current_.remote.str();
    }
    if (c->matched_.empty() && c->round_ == 0 && !c->forcedBlock_)
      r.reasons.push_back("no filter matched: PERMIT");
    r.endNs = nowNs();
    }
    done = std::move(c->done_);
  }
  for (const auto& id : unapplied)
    reportViolation(static_cast<int>(verifier::Code::AcquireWithoutApply),
                    "FwpsAcquireWritableLayerDataPointer0 by filter " + id +
                        " without FwpsApplyModifiedLayerData0 before the classify ended",
                    c.get(), std::stoull(id));
  if (c->registered_) {
    std::lock_guard lock(liveMu_);
    live_.erase(c->context());
  }
  if (done) done(*c);
  emitTrace(*c);
}

void Engine::emitTrace(Classify& c) {
  trace::ClassifyRecord copy;
  {
    std::lock_guard lock(c.mu_);
    if (c.emitted_ || !c.tracing_) return;
    c.emitted_ = true;
    copy = c.record_;
  }
  if (services_.tracer && services_.options.trace) services_.tracer->emit(copy);
}

// ---- pend / complete / deadline ----------------------------------------------------------------

void Engine::resumeAfterPend(const std::shared_ptr<Classify>& c) { drive(c); }

void Engine::expire(const std::weak_ptr<Classify>& weak, uint64_t generation) {
  auto c = weak.lock();
  if (!c) return;
  uint64_t handle = 0;
  const Filter* pendedFilter = nullptr;
  CalloutSlot* slot = nullptr;
  {
    std::unique_lock lock(c->mu_);
    if (c->phase_ != Classify::Phase::Pended || c->pendGeneration_ != generation) return;
    c->phase_ = Classify::Phase::Running;
    c->timedOut_ = true;
    c->forcedBlock_ = true;
    c->pendConsumed_ = true;
    handle = c->inv_.pendHandle;
    pendedFilter = c->inv_.filterPtr;
    slot = c->inv_.slot;
    c->record_.completeNs = nowNs();
    if (c->inv_.stepIndex != SIZE_MAX) c->record_.filters[c->inv_.stepIndex].result = "TIMED OUT->BLOCK";
    c->record_.reasons.push_back("pended classify not completed within " +
                                 std::to_string(services_.options.pendDeadline.count()) +
                                 " ms: BLOCK");
  }
  std::string owner = c->inv_.registration ? c->inv_.registration->owner : std::string();
  if (services_.verifier) {
    verifier::Violation v{verifier::Code::PendNeverCompleted,
                          "pended classify " + std::to_string(c->id()) + " at " +
                              std::string(c->layer_->name) + " never completed (deadline " +
                              std::to_string(services_.options.pendDeadline.count()) + " ms)",
                          owner, slot ? slot->key().str() : std::string(),
                          pendedFilter ? pendedFilter->id : 0};
    services_.verifier->report(std::move(v));
  }
  dropHandleRef(handle);
  if (slot) slot->leave();
  drive(c);
}

Status Engine::pend(uint64_t handle, uint64_t filterId, uint32_t flags) {
  (void)filterId;
  if (flags != 0) return Status::InvalidParameter;
  auto c = classifyForHandle(handle, "FwpsPendClassify0");
  if (!c) return Status::InvalidHandle;
  if (!c->layer_->canPend) return Status::FwpCannotPend;
  {
    std::lock_guard lock(c->mu_);
    if (c->phase_ != Classify::Phase::InCallout) return Status::FwpCannotPend;
    if (c->inv_.pendRequested) return Status::Success;
    c->inv_.pendRequested = true;
    c->inv_.pendHandle = handle;
  }
  std::lock_guard lock(handlesMu_);
  if (auto* e = handleEntry(handle)) ++e->refs;  // the pend holds a reference (S6.1)
  return Status::Success;
}

void Engine::complete(uint64_t handle, uint32_t flags, const ClassifyOut* out) {
  std::shared_ptr<Classify> c;
  {
    std::lock_guard lock(handlesMu_);
    HandleEntry* e = handleEntry(handle);
    if (!e) {
      reportViolation(static_cast<int>(verifier::Code::UseAfterRelease),
                      "FwpsCompleteClassify0 with a released or unknown classify handle " +
                          hex(handle),
                      nullptr, 0);
      return;
    }
    if (e->driverReleased)
      reportViolation(static_cast<int>(verifier::Code::UseAfterRelease),
                      "FwpsCompleteClassify0 after FwpsReleaseClassifyHandle0 (complete first, "
                      "then release)",
                      nullptr, 0);
    c = e->classify;
  }
  if (flags != 0)
    reportViolation(static_cast<int>(verifier::Code::InvalidArgument),
                    "FwpsCompleteClassify0: flags must be 0", c.get(), 0);
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
      reportViolation(static_cast<int>(twice ? verifier::Code::DoubleComplete
                                             : verifier::Code::InvalidArgument),
                      msg, c.get(), 0);
      return;
    } else {
      c->phase_ = Classify::Phase::Running;
      c->pendConsumed_ = true;
      c->record_.completeNs = nowNs();
      slot = c->inv_.slot;
      if (out) {
        applyCalloutResult(*c, *out);
        ++c->next_;
      }
    }
  }
  dropHandleRef(handle);
  if (!slot) return;  // completed inline: the thread inside classifyFn continues
  slot->leave();
  if (!out) {
    std::unique_lock lock(c->mu_);
    restart(*c, lock);
  }
  resumeAfterPend(c);
}

// ---- classify handles --------------------------------------------------------------------------

Engine::HandleEntry* Engine::handleEntry(uint64_t handle) {
  auto it = handles_.find(handle);
  return it == handles_.end() ? nullptr : &it->second;
}

void Engine::dropHandleRef(uint64_t handle) {
  std::shared_ptr<Classify> drop;
  std::lock_guard lock(handlesMu_);
  auto it = handles_.find(handle);
  if (it == handles_.end()) return;
  if (it->second.refs > 0) --it->second.refs;
  if (it->second.refs == 0) {
    drop = std::move(it->second.classify);
    handles_.erase(it);
  }
}

Status Engine::acquireClassifyHandle(const void* classifyContext, uint32_t flags,
                                     uint64_t* handle) {
  if (!classifyContext || flags != 0 || !handle) return Status::InvalidParameter;
  std::shared_ptr<Classify> c;
  {
    std::lock_guard lock(liveMu_);
    auto it = live_.find(classifyContext);
    if (it != live_.end()) c = it->second.lock();
  }
  if (!c) return Status::InvalidParameter;
  std::lock_guard lock(handlesMu_);
  uint64_t h = nextHandle_;
  nextHandle_ += 0x10;
  HandleEntry e;
  e.classify = c;
  e.refs = 1;
  e.owner = verifier::currentDriver();
  e.historyId = c->request_.history ? c->request_.history->id() : 0;
  handles_.emplace(h, std::move(e));
  *handle = h;
  return Status::Success;
}

void Engine::releaseClassifyHandle(uint64_t handle) {
  bool ok = false;
  {
    std::lock_guard lock(handlesMu_);
    HandleEntry* e = handleEntry(handle);
    ok = e && !e->driverReleased;
    if (ok) e->driverReleased = true;
  }
  if (!ok) {
    reportViolation(static_cast<int>(verifier::Code::UseAfterRelease),
                    "FwpsReleaseClassifyHandle0 on a released or unknown classify handle " +
                        hex(handle),
                    nullptr, 0);
    return;
  }
  dropHandleRef(handle);
}

std::shared_ptr<Classify> Engine::classifyForHandle(uint64_t handle, const char* api) {
  {
    std::lock_guard lock(handlesMu_);
    HandleEntry* e = handleEntry(handle);
    if (e && !e->driverReleased) return e->classify;
  }
  reportViolation(static_cast<int>(verifier::Code::UseAfterRelease),
                  std::string(api) + " with a released or unknown classify handle " + hex(handle),
                  nullptr, 0);
  return nullptr;
}

size_t Engine::unreleasedHandles(const std::string& driver, bool report) {
  std::vector<std::pair<uint64_t, uint64_t>> found;  // handle, classify id
  {
    std::lock_guard lock(handlesMu_);
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

void Engine::reportHandlesOfConnection(uint64_t historyId) {
  std::vector<std::pair<uint64_t, std::string>> found;
  {
    std::lock_guard lock(handlesMu_);
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

// ---- writable layer data -----------------------------------------------------------------------

Status Engine::acquireWritable(uint64_t handle, uint64_t filterId, uint32_t flags,
                               uint32_t* rights, uint32_t* actionType, Writable* out) {
  if (flags != 0 || !out) return Status::InvalidParameter;
  auto c = classifyForHandle(handle, "FwpsAcquireWritableLayerDataPointer0");
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

Status Engine::applyWritable(uint64_t handle, uint64_t token, const LayerData& data,
                             uint32_t flags) {
  auto c = classifyForHandle(handle, "FwpsApplyModifiedLayerData0");
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
    auto free = ownsContext ? contextFree() : redirect::ContextFree{};
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
  c->current_ = next;
  lock.unlock();
  if (inline_)
    reportViolation(static_cast<int>(verifier::Code::ReauthorizeFlagInline),
                    "FwpsApplyModifiedLayerData0 with FWPS_CLASSIFY_FLAG_REAUTHORIZE_IF_MODIFIED_BY_"
                    "OTHERS in a classify that is not pended (flag ignored)",
                    c.get(), filterId);
  return Status::Success;
}

// ---- connections -------------------------------------------------------------------------------

void Engine::trackConnection(const std::shared_ptr<redirect::History>& h) {
  std::lock_guard lock(liveMu_);
  connections_[h->id()] = h;
}

void Engine::untrackConnection(uint64_t historyId) {
  std::lock_guard lock(liveMu_);
  connections_.erase(historyId);
}

bool Engine::connectionLive(uint64_t historyId) const {
  std::lock_guard lock(liveMu_);
  auto it = connections_.find(historyId);
  return it != connections_.end() && !it->second.expired();
}

void Engine::noteRedirectState(const std::string& note) {
  Classify* c = tlsInCallout;
  if (!c) return;
  std::lock_guard lock(c->mu_);
  if (!c->tracing_) return;
  if (!c->record_.redirectState.empty()) c->record_.redirectState += "; ";
  c->record_.redirectState += note;
}

}  // namespace openwfp::engine

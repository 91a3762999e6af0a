// engine/classify_runner.cpp - running a classify: matching, arbitration, callout invocation,
// re-authorization, deadlines and finishing (SPEC S4, S5.7, S6). See classify_runner.h.
#include "engine/classify_runner.h"

#include "engine/classify_handles.h"
#include "engine/context_pool.h"
#include "engine/diagnostics.h"
#include "engine/object_store.h"
#include "engine/pended_operations.h"
#include "redirect/history.h"
#include "verifier/verifier.h"

namespace openwfp::engine {
namespace {

thread_local Classify* tlsInCallout = nullptr;

std::string actionName(uint32_t a) { return toString(static_cast<ActionType>(a)); }

constexpr uint32_t kActionBlock = static_cast<uint32_t>(ActionType::Block);
constexpr uint32_t kActionPermit = static_cast<uint32_t>(ActionType::Permit);
constexpr uint32_t kActionContinue = static_cast<uint32_t>(ActionType::Continue);

}  // namespace

ClassifyRunner::ClassifyRunner(const EngineServices& services, const ObjectStore& store,
                               ClassifyHandles& handles, PendedOperations& operations,
                               const ContextPool& contexts)
    : services_(services), store_(store), handles_(handles), operations_(operations),
      contexts_(contexts) {}

Classify* ClassifyRunner::inCallout() { return tlsInCallout; }

// ---- start / drive -----------------------------------------------------------------------------

std::shared_ptr<Classify> ClassifyRunner::start(ClassifyRequest request, Classify::Done done) {
  uint64_t id = nextClassifyId_.fetch_add(1);
  std::shared_ptr<Classify> c(new Classify(contexts_, id, std::move(request), std::move(done)));
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
    c->policy_ = store_.policy();
    c->snap_ = c->policy_->layers[static_cast<size_t>(c->layer_->id)].get();
    c->snap_->match(c->values_, c->matched_);
  }
  // S15.4: the completion handle of FwpsPendOperation0, before any callout sees the metadata.
  if (canPendOperation(*c->layer_)) c->completionHandle_ = operations_.open(c);
  drive(c);
  return c;
}

void ClassifyRunner::restart(Classify& c, std::unique_lock<std::mutex>& lock) {
  (void)lock;
  ++c.round_;
  if (c.round_ > services_.options.reauthorizeLimit) {
    c.forcedBlock_ = true;
    std::string why = "re-authorization limit of " +
                      std::to_string(services_.options.reauthorizeLimit) +
                      " rounds exceeded: BLOCK";
    c.record_.reasons.push_back(why);
    reportViolation(services_, verifier::Code::ReauthorizeLimit, why, 0);
    return;
  }
  c.values_.flags |= kFlagIsReauthorize;
  c.blockErrno_ = 0;
  c.policy_ = store_.policy();
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

void ClassifyRunner::drive(const std::shared_ptr<Classify>& c) {
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

void ClassifyRunner::evaluateStatic(Classify& c, const SnapshotFilter& sf) {
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
bool ClassifyRunner::invokeCallout(const std::shared_ptr<Classify>& c, const SnapshotFilter& sf) {
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
    handles_.addLive(c);
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
    verifier::DriverNoteScope notes(
        [](void* ctx, const std::string& note) {
          auto* cl = static_cast<Classify*>(ctx);
          std::lock_guard lock(cl->mu_);
          if (cl->tracing_ && cl->record_.reasons.size() < 16) cl->record_.reasons.push_back("driver said: " + note);
        },
        c.get());
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
      // FwpsPendClassify0: BLOCK with the write right cleared; FwpsPendOperation0: BLOCK with
      // FWPS_CLASSIFY_OUT_FLAG_ABSORB (documented).
      pendWithoutBlock = out.actionType != kActionBlock ||
                         (c->inv_.operation ? !(out.flags & kClassifyOutFlagAbsorb)
                                            : (out.rights & kRightActionWrite) != 0);
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
          c->record_.filters[c->inv_.stepIndex].result =
              c->inv_.operation ? "PENDED (FwpsPendOperation0)" : "PENDED";
          c->record_.pendNs = nowNs();
        }
        uint64_t gen = ++c->pendGeneration_;
        const bool operation = c->inv_.operation;
        lock.unlock();
        if (pendWithoutBlock && operation)
          reportViolation(services_, verifier::Code::PendWithoutBlock,
                          "operation pended with FwpsPendOperation0 but classifyFn returned " +
                              actionName(out.actionType) +
                              (out.flags & kClassifyOutFlagAbsorb ? "" : " without FWPS_CLASSIFY_OUT_FLAG_ABSORB") +
                              " (must return BLOCK with FWPS_CLASSIFY_OUT_FLAG_ABSORB)",
                          f.id);
        else if (pendWithoutBlock)
          reportViolation(services_, verifier::Code::PendWithoutBlock,
                          "classify pended but classifyFn returned " + actionName(out.actionType) +
                              (out.rights & kRightActionWrite ? " with the write right still set"
                                                             : "") +
                              " (must return BLOCK with FWPS_RIGHT_ACTION_WRITE cleared)",
                          f.id);
        auto deadline = services_.options.pendDeadline;
        if (deadline.count() > 0) {
          std::weak_ptr<Classify> weak = c;
          timer_.schedule(PendTimer::Clock::now() + deadline,
                          [this, weak, gen] { expire(weak, gen); });
        }
        return false;
      }
    }
  }
  if (pendWithoutBlock)
    reportViolation(services_, verifier::Code::PendWithoutBlock,
                    "classify pended but classifyFn did not return BLOCK with the write right "
                    "cleared",
                    f.id);
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
void ClassifyRunner::applyCalloutResult(Classify& c, const ClassifyOut& out) {
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
    if (d == Arbiter::Decision::Block && o.changed) c.blockErrno_ = markedBlockErrno(out.reserved);
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

void ClassifyRunner::finish(const std::shared_ptr<Classify>& c) {
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
      auto free = contexts_.contextFree();
      for (void* p : c->orphanContexts_) free(p);
      c->orphanContexts_.clear();
    }
    auto& r = c->record_;
    if (c->tracing_) {
    r.verdict = c->permitted_ ? "PERMIT" : "BLOCK";
    if (c->finalDestination_) {
      r.finalDestination = *c->finalDestination_;
    } else if (c->layer_->writable == WritableData::BindRequest) {
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
    reportViolation(services_, verifier::Code::AcquireWithoutApply,
                    "FwpsAcquireWritableLayerDataPointer0 by filter " + id +
                        " without FwpsApplyModifiedLayerData0 before the classify ended",
                    std::stoull(id));
  if (c->registered_) {
    handles_.removeLive(*c);
  }
  if (c->completionHandle_) operations_.close(*c);
  if (done) done(*c);
  emitTrace(*c);
}

void ClassifyRunner::emitTrace(Classify& c) {
  trace::ClassifyRecord copy;
  {
    std::lock_guard lock(c.mu_);
    if (c.emitted_ || !c.tracing_) return;
    c.emitted_ = true;
    copy = c.record_;
  }
  if (services_.tracer && services_.options.trace) services_.tracer->emit(copy);
}

// ---- deadline / shutdown ----------------------------------------------------------------------

void ClassifyRunner::expire(const std::weak_ptr<Classify>& weak, uint64_t generation) {
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
  if (handle) handles_.dropRef(handle);  // 0: pended with FwpsPendOperation0 (no classify handle)
  if (slot) slot->leave();
  drive(c);
}

void ClassifyRunner::shutdown() {
  timer_.stop();
  blockPended("engine shut down while the classify was pended");
  handles_.clear();
}

size_t ClassifyRunner::blockPended(const std::string& reason) {
  // Pended classifies end as BLOCK so that every done() runs exactly once.
  size_t n = 0;
  auto held = handles_.classifiesHeld();
  for (auto& c : operations_.pended()) held.push_back(std::move(c));
  for (auto& c : held) {
    bool resume = false;
    {
      std::lock_guard lock(c->mu_);
      if (c->phase_ == Classify::Phase::Pended) {
        c->phase_ = Classify::Phase::Running;
        c->forcedBlock_ = true;
        c->pendConsumed_ = true;
        c->record_.reasons.push_back(reason);
        resume = true;
      }
    }
    if (resume) {
      finish(c);
      ++n;
    }
  }
  return n;
}

void ClassifyRunner::noteRedirectState(const std::string& note) {
  Classify* c = tlsInCallout;
  if (!c) return;
  std::lock_guard lock(c->mu_);
  if (!c->tracing_) return;
  if (!c->record_.redirectState.empty()) c->record_.redirectState += "; ";
  c->record_.redirectState += note;
}

}  // namespace openwfp::engine

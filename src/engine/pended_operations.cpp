// engine/pended_operations.cpp - see pended_operations.h.
#include "engine/pended_operations.h"

#include "engine/classify.h"
#include "engine/classify_runner.h"
#include "engine/diagnostics.h"

namespace openwfp::engine {

uint64_t PendedOperations::open(const std::shared_ptr<Classify>& c) {
  std::lock_guard lock(mu_);
  uint64_t h = ++next_;
  handles_.emplace(h, c);
  return h;
}

void PendedOperations::close(const Classify& c) {
  std::unique_lock lock(mu_);
  if (c.completionHandle_) handles_.erase(c.completionHandle_);
  // Erasing may drop the last reference to another classify; destroy those outside the lock.
  std::vector<std::shared_ptr<Classify>> drop;
  for (auto it = contexts_.begin(); it != contexts_.end();) {
    auto owner = it->second.classify.lock();
    if (!owner || owner.get() == &c) {
      if (it->second.pended) drop.push_back(std::move(it->second.pended));
      it = contexts_.erase(it);
    } else {
      ++it;
    }
  }
  lock.unlock();
  drop.clear();
}

Status PendedOperations::pend(uint64_t completionHandle, Classify* current,
                              uint64_t* completionContext) {
  if (completionContext) *completionContext = 0;
  if (completionHandle == 0) {
    if (current && !canPendOperation(current->layer())) {
      reportViolation(services_, verifier::Code::InvalidArgument,
                      "FwpsPendOperation0 at " + std::string(current->layer().name) +
                          ": this layer supplies no completion handle "
                          "(FWPS_METADATA_FIELD_COMPLETION_HANDLE); FwpsPendOperation0 is allowed "
                          "at ALE_AUTH_CONNECT, the redirect layers pend with FwpsPendClassify0",
                      0);
      return Status::FwpCannotPend;
    }
    reportViolation(services_, verifier::Code::InvalidArgument,
                    "FwpsPendOperation0 with a NULL completionHandle", 0);
    return Status::FwpNullPointer;
  }
  if (!completionContext) {
    reportViolation(services_, verifier::Code::InvalidArgument,
                    "FwpsPendOperation0 with a NULL completionContext", 0);
    return Status::FwpNullPointer;
  }
  std::shared_ptr<Classify> c;
  {
    std::lock_guard lock(mu_);
    auto it = handles_.find(completionHandle);
    if (it != handles_.end()) c = it->second.lock();
  }
  if (!c) {
    reportViolation(services_, verifier::Code::UseAfterRelease,
                    "FwpsPendOperation0 with a completion handle of a classify that has ended (" +
                        hex(completionHandle) + ")",
                    0);
    return Status::InvalidHandle;
  }
  std::unique_lock lock(c->mu_);
  if (c->values_.flags & kFlagIsReauthorize) {
    // Documented: only the initial authorization can be pended. Not a driver error (drivers
    // learn it from this status), so only the trace says it.
    if (c->tracing_) c->record_.reasons.push_back(
        "FwpsPendOperation0 in a re-authorization round: STATUS_FWP_CANNOT_PEND");
    return Status::FwpCannotPend;
  }
  if (c->phase_ != Classify::Phase::InCallout || current != c.get()) {
    lock.unlock();
    reportViolation(services_, verifier::Code::InvalidArgument,
                    "FwpsPendOperation0 outside the classifyFn that received the completion handle",
                    0);
    return Status::FwpCannotPend;
  }
  if (c->inv_.pendRequested) {
    const uint64_t filterId = c->inv_.filterPtr ? c->inv_.filterPtr->id : 0;
    lock.unlock();
    reportViolation(services_, verifier::Code::InvalidArgument,
                    "FwpsPendOperation0 twice in one classifyFn", filterId);
    return Status::FwpCannotPend;
  }
  c->inv_.pendRequested = true;
  c->inv_.operation = true;
  c->inv_.pendHandle = 0;
  uint64_t ctx;
  {
    std::lock_guard mapLock(mu_);
    ctx = ++next_;
    contexts_.emplace(ctx, ContextEntry{c, c, false});
  }
  c->completionContext_ = ctx;
  *completionContext = ctx;
  return Status::Success;
}

void PendedOperations::complete(uint64_t completionContext, ClassifyRunner& runner) {
  std::shared_ptr<Classify> c;
  bool twice = false;
  {
    std::lock_guard lock(mu_);
    auto it = contexts_.find(completionContext);
    if (it != contexts_.end()) {
      c = it->second.classify.lock();
      twice = it->second.completed;
      it->second.completed = true;
      it->second.pended.reset();  // c holds it from here
    }
  }
  if (!c) {
    reportViolation(services_, verifier::Code::UseAfterRelease,
                    "FwpsCompleteOperation0 with an unknown completion context " +
                        hex(completionContext) + " (never returned by FwpsPendOperation0, or its "
                        "classify has ended)",
                    0);
    return;
  }
  CalloutSlot* slot = nullptr;
  {
    std::unique_lock lock(c->mu_);
    const bool ours = c->inv_.operation && c->completionContext_ == completionContext;
    if (!twice && ours && c->phase_ == Classify::Phase::InCallout && !c->inv_.completed) {
      // Completed inside the classifyFn that pended: that thread re-authorizes when it returns.
      c->inv_.completed = true;
      c->inv_.completion.reset();
      c->record_.completeNs = nowNs();
      return;
    }
    if (twice || !ours || c->phase_ != Classify::Phase::Pended) {
      std::string msg = twice ? "FwpsCompleteOperation0 twice with the same completion context"
                              : "FwpsCompleteOperation0 on an operation that is no longer pended";
      if (c->timedOut_) msg += " (its deadline completed it as BLOCK)";
      lock.unlock();
      reportViolation(services_, verifier::Code::DoubleComplete, msg, 0);
      return;
    }
    c->phase_ = Classify::Phase::Running;
    c->pendConsumed_ = true;
    c->completionContext_ = 0;
    c->record_.completeNs = nowNs();
    slot = c->inv_.slot;
    runner.restart(*c, lock);  // the operation is authorized again (IS_REAUTHORIZE)
  }
  if (slot) slot->leave();
  runner.resume(c);
}

std::vector<std::shared_ptr<Classify>> PendedOperations::pended() const {
  std::vector<std::shared_ptr<Classify>> out;
  std::lock_guard lock(mu_);
  for (const auto& [ctx, e] : contexts_) {
    (void)ctx;
    if (!e.completed && e.pended) out.push_back(e.pended);
  }
  return out;
}

}  // namespace openwfp::engine

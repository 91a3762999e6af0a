#include "engine/callouts.h"

namespace openwfp::engine {

std::shared_ptr<const Registration> CalloutSlot::registration() const {
  std::lock_guard lock(mu_);
  return reg_;
}

std::shared_ptr<const Registration> CalloutSlot::enter() {
  std::lock_guard lock(mu_);
  if (reg_) ++active_;
  return reg_;
}

void CalloutSlot::leave() {
  std::lock_guard lock(mu_);
  if (active_ > 0) --active_;
}

Status CalloutSlot::registerWith(std::shared_ptr<const Registration> reg) {
  std::lock_guard lock(mu_);
  if (transitioning_) return Status::FwpInUse;
  if (reg_) return Status::FwpAlreadyExists;
  reg_ = std::move(reg);
  return Status::Success;
}

Status CalloutSlot::unregister() {
  std::lock_guard lock(mu_);
  if (transitioning_) return Status::FwpInUse;
  if (!reg_) return Status::FwpCalloutNotFound;
  if (active_ > 0 || flowContexts_ > 0) return Status::DeviceBusy;
  reg_.reset();
  return Status::Success;
}

bool CalloutSlot::forceUnregister(std::chrono::milliseconds wait) {
  std::unique_lock lock(mu_);
  reg_.reset();
  active_ = 0;
  return returned_.wait_for(lock, wait, [this] { return running_ == 0; });
}

void CalloutSlot::callStarted() {
  std::lock_guard lock(mu_);
  ++running_;
}

void CalloutSlot::callReturned() {
  std::lock_guard lock(mu_);
  if (running_ > 0 && --running_ == 0) returned_.notify_all();
}

void CalloutSlot::addFlowContext() {
  std::lock_guard lock(mu_);
  ++flowContexts_;
}

void CalloutSlot::removeFlowContext() {
  std::lock_guard lock(mu_);
  if (flowContexts_ > 0) --flowContexts_;
}

CalloutSlot::Transition::Transition(CalloutSlot& s) : slot_(s) {
  std::lock_guard lock(s.mu_);
  acquired_ = !s.transitioning_;
  s.transitioning_ = true;
}

CalloutSlot::Transition::~Transition() {
  if (!acquired_) return;
  std::lock_guard lock(slot_.mu_);
  slot_.transitioning_ = false;
}

}  // namespace openwfp::engine

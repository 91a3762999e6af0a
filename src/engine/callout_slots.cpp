// engine/callout_slots.cpp - see callout_slots.h.
#include "engine/callout_slots.h"

#include <algorithm>

namespace openwfp::engine {

std::shared_ptr<CalloutSlot> CalloutSlots::byKey(const Guid& key, bool create) {
  std::lock_guard lock(mu_);
  auto it = byKey_.find(key);
  if (it != byKey_.end()) return it->second;
  if (!create) return nullptr;
  auto slot = std::make_shared<CalloutSlot>(key, nextId_++);
  byKey_.emplace(key, slot);
  byId_.emplace(slot->id(), slot);
  return slot;
}

std::shared_ptr<CalloutSlot> CalloutSlots::byId(uint32_t id) const {
  std::lock_guard lock(mu_);
  auto it = byId_.find(id);
  return it == byId_.end() ? nullptr : it->second;
}

Status CalloutSlots::registerCallout(Registration reg, uint32_t* id) {
  auto slot = byKey(reg.key, true);
  reg.id = slot->id();
  Status s = slot->registerWith(std::make_shared<const Registration>(std::move(reg)));
  if (s == Status::Success && id) *id = slot->id();
  return s;
}

Status CalloutSlots::unregisterById(uint32_t id) {
  auto slot = byId(id);
  if (!slot) return Status::FwpCalloutNotFound;
  return slot->unregister();
}

Status CalloutSlots::unregisterByKey(const Guid& key) {
  auto slot = byKey(key, false);
  if (!slot) return Status::FwpCalloutNotFound;
  return slot->unregister();
}

std::vector<CalloutSlots::ForcedUnregister> CalloutSlots::forceUnregisterOwnedBy(
    const std::string& owner, std::chrono::milliseconds wait) {
  std::vector<ForcedUnregister> out;
  if (owner.empty()) return out;  // "" is the application itself, never a driver
  std::vector<std::shared_ptr<CalloutSlot>> slots;
  {
    std::lock_guard lock(mu_);
    for (const auto& [key, slot] : byKey_) slots.push_back(slot);
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

std::vector<std::shared_ptr<const Registration>> CalloutSlots::registered() const {
  std::vector<std::shared_ptr<CalloutSlot>> slots;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, slot] : byId_) slots.push_back(slot);
  }
  std::vector<std::shared_ptr<const Registration>> out;
  for (const auto& slot : slots) {
    if (auto reg = slot->registration()) out.push_back(std::move(reg));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a->id < b->id; });
  return out;
}

}  // namespace openwfp::engine

// engine/callout_slots.h - the run-time callouts of the engine (SPEC S3.1): one CalloutSlot per
// callout key, created the first time the key is seen (FwpsCalloutRegister* or FwpmCalloutAdd0),
// so the run-time id is the same whichever comes first; and registration / unregistration.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/callouts.h"
#include "engine/guid.h"
#include "engine/status.h"

namespace openwfp::engine {

class CalloutSlots {
 public:
  CalloutSlots() = default;
  CalloutSlots(const CalloutSlots&) = delete;
  CalloutSlots& operator=(const CalloutSlots&) = delete;

  std::shared_ptr<CalloutSlot> byKey(const Guid& key, bool create);
  std::shared_ptr<CalloutSlot> byId(uint32_t id) const;

  Status registerCallout(Registration reg, uint32_t* id);
  Status unregisterById(uint32_t id);
  Status unregisterByKey(const Guid& key);

  // Callouts `owner` (a driver name) registered and never unregistered, unregistered now (see
  // CalloutSlot::forceUnregister); for DriverHost after DriverUnload or a failed DriverEntry.
  struct ForcedUnregister {
    Guid key;
    uint32_t id = 0;
    bool stillRunning = false;  // a classifyFn call had not returned after `wait`
  };
  std::vector<ForcedUnregister> forceUnregisterOwnedBy(const std::string& owner,
                                                       std::chrono::milliseconds wait);

  // The callouts registered now (diagnostics: openwfp show state), ordered by id.
  std::vector<std::shared_ptr<const Registration>> registered() const;

 private:
  // Guards the two maps and nextId_. Lock order: ObjectStore::storeMu_ and FlowContexts::mu_
  // come before it; CalloutSlot::mu_ after it (no slot lock is taken while it is held today).
  mutable std::mutex mu_;
  std::unordered_map<Guid, std::shared_ptr<CalloutSlot>, GuidHash> byKey_;
  std::unordered_map<uint32_t, std::shared_ptr<CalloutSlot>> byId_;
  uint32_t nextId_ = 0x100;
};

}  // namespace openwfp::engine

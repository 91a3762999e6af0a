// engine/callouts.h - run-time callouts: the driver functions registered with
// FwpsCalloutRegister0..3 (SPEC S3), behind a WDK-free interface that the C ABI implements.
//
// One CalloutSlot exists per callout key, created the first time the key is seen (by
// FwpsCalloutRegister* or FwpmCalloutAdd0), so the run-time id is the same whichever comes first.
// Slots live as long as the engine. Filters in layer snapshots point at their slot.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "engine/guid.h"
#include "engine/status.h"

namespace openwfp::engine {

class Classify;
struct Filter;

// Engine form of FWPS_CLASSIFY_OUT0.
struct ClassifyOut {
  uint32_t actionType = 0;  // FWP_ACTION_TYPE
  uint64_t outContext = 0;
  uint64_t filterId = 0;
  uint32_t rights = 0;
  uint32_t flags = 0;
  uint32_t reserved = 0;
};
inline constexpr uint32_t kRightActionWrite = 0x00000001;
// ClassifyOut::reserved marked by OPENWFP_SET_BLOCK_ERRNO (include/openwfp/km/openwfp_km_ext.h).
inline constexpr uint32_t kBlockErrnoMark = 0x4F450000;
inline int markedBlockErrno(uint32_t reserved) {
  return (reserved & 0xFFFF0000u) == kBlockErrnoMark && (reserved & 0xFFFFu) > 0 && (reserved & 0xFFFFu) < 4096
             ? static_cast<int>(reserved & 0xFFFFu)
             : 0;
}

enum class NotifyType : uint32_t { AddFilter = 0, DeleteFilter = 1 };

// The callout driver's functions, as the C ABI wraps them (version dispatch, FWPS_* structs,
// CurrentDriverScope). Called without engine locks held, except notify (see ObjectStore::addFilter).
class CalloutFunctions {
 public:
  virtual ~CalloutFunctions() = default;
  virtual void classify(Classify& classify, const Filter& filter, ClassifyOut& out) = 0;
  // Returns an NTSTATUS; only called when the driver supplied a notifyFn.
  virtual int32_t notify(NotifyType type, const Filter& filter) = 0;
  virtual bool hasNotify() const = 0;
  // flowDeleteFn (FWPS_CALLOUT_FLOW_DELETE_NOTIFY_FN0): a flow that carries a context of this
  // callout ended, or the context was removed. Only called when hasFlowDelete().
  virtual void flowDelete(uint16_t layerId, uint32_t calloutId, uint64_t flowContext) {
    (void)layerId;
    (void)calloutId;
    (void)flowContext;
  }
  virtual bool hasFlowDelete() const { return false; }
};

struct Registration {
  Guid key;
  uint32_t id = 0;
  int version = 0;      // 0..3: which FwpsCalloutRegisterN was used
  uint32_t flags = 0;   // FWP_CALLOUT_FLAG_*
  std::string owner;    // verifier::currentDriver() at registration
  std::shared_ptr<CalloutFunctions> functions;
};

inline constexpr uint32_t kCalloutFlagConditionalOnFlow = 0x00000001;

class CalloutSlot {
 public:
  CalloutSlot(Guid key, uint32_t id) : key_(key), id_(id) {}
  const Guid& key() const { return key_; }
  uint32_t id() const { return id_; }

  std::shared_ptr<const Registration> registration() const;

  // A classify is about to call the callout: returns its registration (nullptr if unregistered)
  // and, when registered, counts one active use until leave().
  std::shared_ptr<const Registration> enter();
  void leave();

  Status registerWith(std::shared_ptr<const Registration> reg);
  // STATUS_DEVICE_BUSY while classifies run in it / are pended in it or flows carry its context.
  Status unregister();
  // For the host when the driver that registered it is gone (unloaded, or DriverEntry failed)
  // without unregistering: no classify calls it from now on (it acts as unregistered, S3.4), and
  // this waits up to `wait` for classifyFn calls already running to return. Pended classifies
  // are left to their completion or deadline; they never call this classifyFn again. false when
  // a call was still running after `wait`.
  bool forceUnregister(std::chrono::milliseconds wait);

  // Bracket one call into the driver's classifyFn (see forceUnregister).
  void callStarted();
  void callReturned();

  // Flow contexts associated with this callout (FwpsFlowAssociateContext0, if implemented).
  void addFlowContext();
  void removeFlowContext();

  // Marks the slot as being registered/unregistered by another thread for as long as the guard
  // lives: a concurrent register/unregister then fails with STATUS_FWP_IN_USE (S3.1).
  class Transition {
   public:
    explicit Transition(CalloutSlot& s);
    ~Transition();
    Transition(const Transition&) = delete;
    Transition& operator=(const Transition&) = delete;
    bool acquired() const { return acquired_; }

   private:
    CalloutSlot& slot_;
    bool acquired_;
  };

 private:
  const Guid key_;
  const uint32_t id_;
  mutable std::mutex mu_;  // guards everything below
  std::shared_ptr<const Registration> reg_;
  std::condition_variable returned_;  // signalled when running_ drops to 0
  uint32_t active_ = 0;        // classifies currently inside classifyFn or pended in it
  uint32_t running_ = 0;       // threads currently inside classifyFn
  uint32_t flowContexts_ = 0;
  bool transitioning_ = false;
};

}  // namespace openwfp::engine

// engine/classify_handles.h - what a driver does to a running classify through a classify handle
// (SPEC S5, S6): FwpsAcquireClassifyHandle0/Release, writable layer data (acquire / apply, with
// the History entry of S5.8 and context ownership of S5.6), FwpsPendClassify0 and
// FwpsCompleteClassify0. Handles are never reused, so a stale one is recognised and reported.
#pragma once

#include <cstdint>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/callouts.h"
#include "engine/classify.h"
#include "engine/engine_services.h"
#include "engine/status.h"

namespace openwfp::engine {

class ClassifyRunner;
class ContextPool;

// FWPS_CLASSIFY_FLAG_REAUTHORIZE_IF_MODIFIED_BY_OTHERS
inline constexpr uint32_t kApplyReauthorizeIfModifiedByOthers = 0x00000001;

// FwpsAcquireWritableLayerDataPointer0's answer.
struct Writable {
  uint64_t token = 0;
  LayerData data;                   // current data (copy handed to the driver)
  std::vector<LayerData> previous;  // earlier applied versions, newest first
};

// One classify handle a driver holds (S5.1), for `openwfp show state` (S14.7).
struct HeldClassify {
  uint64_t handle = 0;
  uint64_t classifyId = 0;
  std::string layer;   // e.g. FWPM_LAYER_ALE_CONNECT_REDIRECT_V4
  std::string owner;   // the driver that acquired it
  bool pended = false;
  bool driverReleased = false;  // released by the driver, still held by its pend
  std::chrono::milliseconds age{0};      // since acquired
  std::chrono::milliseconds pendedFor{0};
};

class ClassifyHandles {
 public:
  ClassifyHandles(const EngineServices& services, const ContextPool& contexts);
  ClassifyHandles(const ClassifyHandles&) = delete;
  ClassifyHandles& operator=(const ClassifyHandles&) = delete;

  // ---- live classify contexts: a classifyContext becomes valid for FwpsAcquireClassifyHandle0
  // once a callout sees it (ClassifyRunner), until the classify finishes.
  void addLive(const std::shared_ptr<Classify>& c);
  void removeLive(const Classify& c);

  // ---- handles (S5.1)
  Status acquire(const void* classifyContext, uint32_t flags, uint64_t* handle);
  void release(uint64_t handle);
  // The classify behind a handle (nullptr and a verifier report for stale handles).
  std::shared_ptr<Classify> classifyFor(uint64_t handle, const char* api);
  // Drops one reference (the driver's, or the pend's); the last one frees the handle.
  void dropRef(uint64_t handle);

  // ---- writable layer data. S5.2: rights/actionType are classifyOut members (may be null when
  // classifyOut is NULL). S5.4: `data` holds the writable fields the driver set (read-only
  // fields are ignored; the C ABI reports changes to them).
  Status acquireWritable(uint64_t handle, uint64_t filterId, uint32_t flags, uint32_t* rights,
                         uint32_t* actionType, Writable* out);
  Status applyWritable(uint64_t handle, uint64_t token, const LayerData& data, uint32_t flags);

  // ---- pend / complete (S6.1, S6.2). complete() continues the classify on this thread through
  // `runner` (remaining filters, or a re-authorization round for a NULL classifyOut).
  Status pend(uint64_t handle, uint64_t filterId, uint32_t flags);
  void complete(uint64_t handle, uint32_t flags, const ClassifyOut* classifyOut,
                ClassifyRunner& runner);

  // Handles still held by `driver` (leak reports at driver unload); reports each as
  // ClassifyHandleNotReleased when `report`.
  size_t unreleased(const std::string& driver, bool report);
  // Reports handles still held for classifies of this connection (flow end).
  void reportHandlesOfConnection(uint64_t historyId);

  // Engine teardown: the classifies behind the handles, then drop every handle.
  std::vector<std::shared_ptr<Classify>> classifiesHeld() const;
  // The handles held now, for diagnostics (openwfp show state).
  std::vector<HeldClassify> describe() const;
  void clear();

 private:
  struct HandleEntry {
    std::shared_ptr<Classify> classify;
    uint32_t refs = 0;  // the driver's (acquire) + the pend's
    bool driverReleased = false;
    std::string owner;
    uint64_t historyId = 0;
    std::chrono::steady_clock::time_point acquiredAt{};
    std::chrono::steady_clock::time_point pendedAt{};  // epoch: not pended
  };
  HandleEntry* entry(uint64_t handle);  // mu_ held

  const EngineServices& services_;
  const ContextPool& contexts_;

  // Guards handles_ and nextHandle_. Never taken with a Classify::mu_ held, nor held while one
  // is taken; under it only the verifier's lock, and in clear() (teardown) the ContextPool link
  // mutex when dropping the last reference to a classify frees its orphan contexts.
  mutable std::mutex mu_;
  std::unordered_map<uint64_t, HandleEntry> handles_;
  uint64_t nextHandle_ = 0x1000;

  // Guards live_ (classifyContext -> classify). A leaf: nothing is taken under it.
  mutable std::mutex liveMu_;
  std::unordered_map<const void*, std::weak_ptr<Classify>> live_;
};

}  // namespace openwfp::engine

// km/eresource.cpp - executive resources: ExInitializeResourceLite, ExReinitializeResourceLite,
// ExDeleteResourceLite, ExAcquireResourceExclusiveLite, ExAcquireResourceSharedLite,
// ExAcquireSharedStarveExclusive, ExReleaseResourceLite, ExReleaseResourceForThreadLite,
// ExConvertExclusiveToSharedLite, ExIsResourceAcquiredExclusiveLite,
// ExIsResourceAcquiredSharedLite, ExGetCurrentResourceThread and the
// ExEnterCriticalRegionAndAcquireResource* helpers.
//
// The state (exclusive owner and its recursion count, shared owners and theirs, exclusive
// waiters) lives in an allocation that ExERESOURCE.OpenwfpState points to. As on Windows an
// owner may acquire again (exclusive owner: exclusive or shared; shared owner: shared), a new
// shared acquirer waits while an exclusive acquirer waits (except with StarveExclusive), and a
// shared owner asking for exclusive access (a deadlock on Windows) is reported and refused.
#include <fmt/format.h>

#include <condition_variable>
#include <mutex>
#include <unordered_map>

#include "km/internal.h"
#include "km/support.h"

namespace {

using openwfp::km::internal::reportMisuse;

struct Resource {
  std::mutex mu;
  std::condition_variable cv;
  ERESOURCE_THREAD exclusiveOwner = 0;
  ULONG exclusiveCount = 0;
  std::unordered_map<ERESOURCE_THREAD, ULONG> shared;
  ULONG exclusiveWaiters = 0;
};

Resource* stateOf(PERESOURCE r, const char* api) {
  if (r == nullptr || r->OpenwfpState == nullptr) {
    reportMisuse(fmt::format("{}: not a resource initialized by ExInitializeResourceLite", api));
    return nullptr;
  }
  return static_cast<Resource*>(r->OpenwfpState);
}

ERESOURCE_THREAD self() { return reinterpret_cast<ERESOURCE_THREAD>(KeGetCurrentThread()); }

bool checkIrql(const char* api) {
  if (KeGetCurrentIrql() <= APC_LEVEL) return true;
  reportMisuse(fmt::format("{} at IRQL {}: requires IRQL <= APC_LEVEL; not acquired", api, KeGetCurrentIrql()));
  return false;
}

BOOLEAN acquireShared(PERESOURCE Resource_, BOOLEAN Wait, bool starveExclusive, const char* api) {
  Resource* r = stateOf(Resource_, api);
  if (r == nullptr || !checkIrql(api)) return FALSE;
  const ERESOURCE_THREAD me = self();
  std::unique_lock lock(r->mu);
  if (r->exclusiveOwner == me) {  // the exclusive owner may also acquire shared (counted as exclusive)
    ++r->exclusiveCount;
    return TRUE;
  }
  auto it = r->shared.find(me);
  if (it != r->shared.end()) {
    ++it->second;
    return TRUE;
  }
  auto grantable = [&] { return r->exclusiveCount == 0 && (starveExclusive || r->exclusiveWaiters == 0); };
  if (!grantable()) {
    if (!Wait) return FALSE;
    r->cv.wait(lock, grantable);
  }
  r->shared[me] = 1;
  return TRUE;
}

}  // namespace

extern "C" {

NTSTATUS NTAPI ExInitializeResourceLite(PERESOURCE Resource_) {
  if (Resource_ == nullptr) {
    reportMisuse("ExInitializeResourceLite(NULL)");
    return STATUS_INVALID_PARAMETER;
  }
  *Resource_ = ERESOURCE{};
  Resource_->OpenwfpState = new Resource;
  return STATUS_SUCCESS;
}

NTSTATUS NTAPI ExDeleteResourceLite(PERESOURCE Resource_) {
  Resource* r = stateOf(Resource_, "ExDeleteResourceLite");
  if (r == nullptr) return STATUS_INVALID_PARAMETER;
  {
    std::lock_guard lock(r->mu);
    if (r->exclusiveCount != 0 || !r->shared.empty()) {
      reportMisuse("ExDeleteResourceLite: the resource is still acquired; deleted anyway");
    }
  }
  delete r;
  Resource_->OpenwfpState = nullptr;
  return STATUS_SUCCESS;
}

NTSTATUS NTAPI ExReinitializeResourceLite(PERESOURCE Resource_) {
  if (Resource_ != nullptr && Resource_->OpenwfpState != nullptr) ExDeleteResourceLite(Resource_);
  return ExInitializeResourceLite(Resource_);
}

BOOLEAN NTAPI ExAcquireResourceExclusiveLite(PERESOURCE Resource_, BOOLEAN Wait) {
  Resource* r = stateOf(Resource_, "ExAcquireResourceExclusiveLite");
  if (r == nullptr || !checkIrql("ExAcquireResourceExclusiveLite")) return FALSE;
  const ERESOURCE_THREAD me = self();
  std::unique_lock lock(r->mu);
  if (r->exclusiveOwner == me) {
    ++r->exclusiveCount;
    return TRUE;
  }
  if (r->shared.count(me) == 1) {
    reportMisuse("ExAcquireResourceExclusiveLite: the calling thread holds the resource shared (a deadlock on "
                 "Windows); not acquired");
    return FALSE;
  }
  auto free = [&] { return r->exclusiveCount == 0 && r->shared.empty(); };
  if (!free()) {
    if (!Wait) return FALSE;
    ++r->exclusiveWaiters;
    r->cv.wait(lock, free);
    --r->exclusiveWaiters;
  }
  r->exclusiveOwner = me;
  r->exclusiveCount = 1;
  return TRUE;
}

BOOLEAN NTAPI ExAcquireResourceSharedLite(PERESOURCE Resource_, BOOLEAN Wait) {
  return acquireShared(Resource_, Wait, false, "ExAcquireResourceSharedLite");
}

BOOLEAN NTAPI ExAcquireSharedStarveExclusive(PERESOURCE Resource_, BOOLEAN Wait) {
  return acquireShared(Resource_, Wait, true, "ExAcquireSharedStarveExclusive");
}

void NTAPI ExReleaseResourceForThreadLite(PERESOURCE Resource_, ERESOURCE_THREAD ResourceThreadId) {
  Resource* r = stateOf(Resource_, "ExReleaseResourceLite");
  if (r == nullptr) return;
  std::lock_guard lock(r->mu);
  if (r->exclusiveOwner == ResourceThreadId && r->exclusiveCount > 0) {
    if (--r->exclusiveCount == 0) r->exclusiveOwner = 0;
  } else if (auto it = r->shared.find(ResourceThreadId); it != r->shared.end()) {
    if (--it->second == 0) r->shared.erase(it);
  } else {
    reportMisuse("ExReleaseResourceLite: the thread does not hold the resource; not released");
    return;
  }
  r->cv.notify_all();
}

void FASTCALL ExReleaseResourceLite(PERESOURCE Resource_) { ExReleaseResourceForThreadLite(Resource_, self()); }

void NTAPI ExConvertExclusiveToSharedLite(PERESOURCE Resource_) {
  Resource* r = stateOf(Resource_, "ExConvertExclusiveToSharedLite");
  if (r == nullptr) return;
  std::lock_guard lock(r->mu);
  if (r->exclusiveOwner != self()) {
    reportMisuse("ExConvertExclusiveToSharedLite: the calling thread does not hold the resource exclusive");
    return;
  }
  r->shared[self()] = r->exclusiveCount;
  r->exclusiveCount = 0;
  r->exclusiveOwner = 0;
  r->cv.notify_all();
}

BOOLEAN NTAPI ExIsResourceAcquiredExclusiveLite(PERESOURCE Resource_) {
  Resource* r = stateOf(Resource_, "ExIsResourceAcquiredExclusiveLite");
  if (r == nullptr) return FALSE;
  std::lock_guard lock(r->mu);
  return r->exclusiveOwner == self() && r->exclusiveCount > 0 ? TRUE : FALSE;
}

ULONG NTAPI ExIsResourceAcquiredSharedLite(PERESOURCE Resource_) {
  Resource* r = stateOf(Resource_, "ExIsResourceAcquiredSharedLite");
  if (r == nullptr) return 0;
  std::lock_guard lock(r->mu);
  if (r->exclusiveOwner == self()) return r->exclusiveCount;
  auto it = r->shared.find(self());
  return it == r->shared.end() ? 0 : it->second;
}

ERESOURCE_THREAD NTAPI ExGetCurrentResourceThread(void) { return self(); }

PVOID NTAPI ExEnterCriticalRegionAndAcquireResourceExclusive(PERESOURCE Resource_) {
  KeEnterCriticalRegion();
  ExAcquireResourceExclusiveLite(Resource_, TRUE);
  return KeGetCurrentThread();
}

PVOID NTAPI ExEnterCriticalRegionAndAcquireResourceShared(PERESOURCE Resource_) {
  KeEnterCriticalRegion();
  ExAcquireResourceSharedLite(Resource_, TRUE);
  return KeGetCurrentThread();
}

void FASTCALL ExReleaseResourceAndLeaveCriticalRegion(PERESOURCE Resource_) {
  ExReleaseResourceLite(Resource_);
  KeLeaveCriticalRegion();
}

}  // extern "C"

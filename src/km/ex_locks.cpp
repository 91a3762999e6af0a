// km/ex_locks.cpp - the executive's small locks: FAST_MUTEX (ExInitializeFastMutex,
// ExAcquireFastMutex(Unsafe), ExReleaseFastMutex(Unsafe), ExTryToAcquireFastMutex), guarded
// mutexes (KeInitializeGuardedMutex, KeAcquire/ReleaseGuardedMutex(Unsafe),
// KeTryToAcquireGuardedMutex), critical and guarded regions, push locks (ExInitializePushLock,
// ExAcquire/ReleasePushLockExclusive/SharedEx) and rundown protection
// (ExInitialize/ReInitializeRundownProtection, ExAcquire/ReleaseRundownProtection(Ex),
// ExWaitForRundownProtectionRelease, ExRundownCompleted).
//
// A fast (or guarded) mutex is the classic count + event: Count 1 = free; an acquirer whose
// decrement does not reach 0 waits on the synchronization event that the releaser sets. Neither is
// recursive: a second acquire by the owner would deadlock on Windows and is reported instead.
// A push lock word holds bit 0 = held exclusive, bits 1.. = number of shared holders; a
// rundown reference holds bit 0 = rundown started, bits 1.. = number of holders. Waiters of
// both sleep on one condition variable (Park) and re-check the word when it changes.
#include <fmt/format.h>

#include <condition_variable>
#include <mutex>

#include <ntifs.h>

#include "km/internal.h"
#include "km/support.h"

namespace {

using openwfp::km::internal::reportMisuse;

struct Park {
  std::mutex mu;
  std::condition_variable cv;
};
Park& park() {
  static Park* p = new Park;
  return *p;
}
void wakeAll() {
  std::lock_guard lock(park().mu);
  park().cv.notify_all();
}
template <typename Pred>
void sleepUntil(Pred pred) {
  std::unique_lock lock(park().mu);
  park().cv.wait(lock, pred);
}

thread_local int tlsCriticalRegion = 0;

bool acquireFast(PFAST_MUTEX m, const char* api, bool tryOnly) {
  if (m == nullptr) {
    reportMisuse(fmt::format("{}(NULL)", api));
    return false;
  }
  if (KeGetCurrentIrql() > APC_LEVEL) {
    reportMisuse(fmt::format("{} at IRQL {}: requires IRQL <= APC_LEVEL; not acquired", api, KeGetCurrentIrql()));
    return false;
  }
  if (m->Owner == KeGetCurrentThread()) {
    reportMisuse(fmt::format("{}({}): the calling thread already owns this mutex (not recursive: a deadlock on "
                             "Windows); not acquired again",
                             api, static_cast<void*>(m)));
    return false;
  }
  if (tryOnly) {
    if (InterlockedCompareExchange(&m->Count, 0, 1) != 1) return false;
  } else if (InterlockedDecrement(&m->Count) != 0) {
    InterlockedIncrement(reinterpret_cast<volatile LONG*>(&m->Contention));
    KeWaitForSingleObject(&m->Event, Executive, KernelMode, FALSE, nullptr);
  }
  m->Owner = KeGetCurrentThread();
  return true;
}

void releaseFast(PFAST_MUTEX m, const char* api) {
  if (m == nullptr) {
    reportMisuse(fmt::format("{}(NULL)", api));
    return;
  }
  if (m->Owner != KeGetCurrentThread()) {
    reportMisuse(fmt::format("{}({}): the calling thread does not own the mutex; not released", api,
                             static_cast<void*>(m)));
    return;
  }
  m->Owner = nullptr;
  if (InterlockedIncrement(&m->Count) != 1) KeSetEvent(&m->Event, 0, FALSE);
}

constexpr ULONG_PTR kExclusive = 1;
constexpr ULONG_PTR kOne = 2;

ULONG_PTR load(const volatile ULONG_PTR* p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
bool cas(volatile ULONG_PTR* p, ULONG_PTR expected, ULONG_PTR desired) {
  return __atomic_compare_exchange_n(p, &expected, desired, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

}  // namespace

extern "C" {

void NTAPI ExInitializeFastMutex(PFAST_MUTEX FastMutex) {
  if (FastMutex == nullptr) {
    reportMisuse("ExInitializeFastMutex(NULL)");
    return;
  }
  FastMutex->Count = 1;
  FastMutex->Owner = nullptr;
  FastMutex->Contention = 0;
  FastMutex->OldIrql = PASSIVE_LEVEL;
  KeInitializeEvent(&FastMutex->Event, SynchronizationEvent, FALSE);
}

void FASTCALL ExAcquireFastMutex(PFAST_MUTEX FastMutex) {
  const KIRQL old = KeGetCurrentIrql();
  if (!acquireFast(FastMutex, "ExAcquireFastMutex", false)) return;
  FastMutex->OldIrql = old;
  if (old < APC_LEVEL) openwfp::km::internal::setCurrentIrql(APC_LEVEL);
}

BOOLEAN FASTCALL ExTryToAcquireFastMutex(PFAST_MUTEX FastMutex) {
  const KIRQL old = KeGetCurrentIrql();
  if (!acquireFast(FastMutex, "ExTryToAcquireFastMutex", true)) return FALSE;
  FastMutex->OldIrql = old;
  if (old < APC_LEVEL) openwfp::km::internal::setCurrentIrql(APC_LEVEL);
  return TRUE;
}

void FASTCALL ExReleaseFastMutex(PFAST_MUTEX FastMutex) {
  const bool owned = FastMutex != nullptr && FastMutex->Owner == KeGetCurrentThread();
  const KIRQL old = owned ? static_cast<KIRQL>(FastMutex->OldIrql) : KeGetCurrentIrql();
  releaseFast(FastMutex, "ExReleaseFastMutex");
  if (owned) openwfp::km::internal::setCurrentIrql(old);
}

void FASTCALL ExAcquireFastMutexUnsafe(PFAST_MUTEX FastMutex) { acquireFast(FastMutex, "ExAcquireFastMutexUnsafe", false); }
void FASTCALL ExReleaseFastMutexUnsafe(PFAST_MUTEX FastMutex) { releaseFast(FastMutex, "ExReleaseFastMutexUnsafe"); }

void NTAPI KeInitializeGuardedMutex(PKGUARDED_MUTEX Mutex) { ExInitializeFastMutex(Mutex); }
void FASTCALL KeAcquireGuardedMutex(PKGUARDED_MUTEX Mutex) {
  if (acquireFast(Mutex, "KeAcquireGuardedMutex", false)) ++tlsCriticalRegion;
}
BOOLEAN FASTCALL KeTryToAcquireGuardedMutex(PKGUARDED_MUTEX Mutex) {
  if (!acquireFast(Mutex, "KeTryToAcquireGuardedMutex", true)) return FALSE;
  ++tlsCriticalRegion;
  return TRUE;
}
void FASTCALL KeReleaseGuardedMutex(PKGUARDED_MUTEX Mutex) {
  const bool owned = Mutex != nullptr && Mutex->Owner == KeGetCurrentThread();
  releaseFast(Mutex, "KeReleaseGuardedMutex");
  if (owned) --tlsCriticalRegion;
}
void FASTCALL KeAcquireGuardedMutexUnsafe(PKGUARDED_MUTEX Mutex) { acquireFast(Mutex, "KeAcquireGuardedMutexUnsafe", false); }
void FASTCALL KeReleaseGuardedMutexUnsafe(PKGUARDED_MUTEX Mutex) { releaseFast(Mutex, "KeReleaseGuardedMutexUnsafe"); }

// No APCs are delivered in openwfp: a critical / guarded region only counts its nesting so that
// an unbalanced leave is reported.
void NTAPI KeEnterCriticalRegion(void) { ++tlsCriticalRegion; }
void NTAPI KeLeaveCriticalRegion(void) {
  if (tlsCriticalRegion == 0) {
    reportMisuse("KeLeaveCriticalRegion without a matching KeEnterCriticalRegion");
    return;
  }
  --tlsCriticalRegion;
}
void NTAPI KeEnterGuardedRegion(void) { ++tlsCriticalRegion; }
void NTAPI KeLeaveGuardedRegion(void) {
  if (tlsCriticalRegion == 0) {
    reportMisuse("KeLeaveGuardedRegion without a matching KeEnterGuardedRegion");
    return;
  }
  --tlsCriticalRegion;
}

// ---- Push locks ------------------------------------------------------------------------------
void NTAPI ExInitializePushLock(PEX_PUSH_LOCK PushLock) {
  if (PushLock != nullptr) PushLock->Value = 0;
}

void FASTCALL ExAcquirePushLockExclusiveEx(PEX_PUSH_LOCK PushLock, ULONG Flags) {
  (void)Flags;
  if (PushLock == nullptr) {
    reportMisuse("ExAcquirePushLockExclusive(NULL)");
    return;
  }
  if (cas(&PushLock->Value, 0, kExclusive)) return;
  sleepUntil([&] { return cas(&PushLock->Value, 0, kExclusive); });
}

void FASTCALL ExAcquirePushLockSharedEx(PEX_PUSH_LOCK PushLock, ULONG Flags) {
  (void)Flags;
  if (PushLock == nullptr) {
    reportMisuse("ExAcquirePushLockShared(NULL)");
    return;
  }
  auto tryShared = [&] {
    const ULONG_PTR v = load(&PushLock->Value);
    return (v & kExclusive) == 0 && cas(&PushLock->Value, v, v + kOne);
  };
  while (!tryShared()) {
    if ((load(&PushLock->Value) & kExclusive) != 0) {
      sleepUntil([&] { return (load(&PushLock->Value) & kExclusive) == 0; });
    }
  }
}

void FASTCALL ExReleasePushLockExclusiveEx(PEX_PUSH_LOCK PushLock, ULONG Flags) {
  (void)Flags;
  if (PushLock == nullptr || !cas(&PushLock->Value, kExclusive, 0)) {
    reportMisuse("ExReleasePushLockExclusive: the push lock is not held exclusive");
    return;
  }
  wakeAll();
}

void FASTCALL ExReleasePushLockSharedEx(PEX_PUSH_LOCK PushLock, ULONG Flags) {
  (void)Flags;
  for (;;) {
    const ULONG_PTR v = PushLock == nullptr ? 0 : load(&PushLock->Value);
    if (PushLock == nullptr || (v & kExclusive) != 0 || v < kOne) {
      reportMisuse("ExReleasePushLockShared: the push lock is not held shared");
      return;
    }
    if (cas(&PushLock->Value, v, v - kOne)) break;
  }
  wakeAll();
}

// ---- Rundown protection ------------------------------------------------------------------------
void NTAPI ExInitializeRundownProtection(PEX_RUNDOWN_REF RunRef) {
  if (RunRef != nullptr) RunRef->Count = 0;
}
void NTAPI ExReInitializeRundownProtection(PEX_RUNDOWN_REF RunRef) {
  if (RunRef != nullptr) __atomic_store_n(&RunRef->Count, 0, __ATOMIC_RELEASE);
}
void NTAPI ExRundownCompleted(PEX_RUNDOWN_REF RunRef) {
  if (RunRef != nullptr) __atomic_store_n(&RunRef->Count, kExclusive, __ATOMIC_RELEASE);
}

BOOLEAN FASTCALL ExAcquireRundownProtectionEx(PEX_RUNDOWN_REF RunRef, ULONG Count) {
  if (RunRef == nullptr) {
    reportMisuse("ExAcquireRundownProtection(NULL)");
    return FALSE;
  }
  for (;;) {
    const ULONG_PTR v = load(&RunRef->Count);
    if ((v & kExclusive) != 0) return FALSE;  // rundown has started
    if (cas(&RunRef->Count, v, v + kOne * Count)) return TRUE;
  }
}
BOOLEAN FASTCALL ExAcquireRundownProtection(PEX_RUNDOWN_REF RunRef) { return ExAcquireRundownProtectionEx(RunRef, 1); }

void FASTCALL ExReleaseRundownProtectionEx(PEX_RUNDOWN_REF RunRef, ULONG Count) {
  if (RunRef == nullptr) {
    reportMisuse("ExReleaseRundownProtection(NULL)");
    return;
  }
  for (;;) {
    const ULONG_PTR v = load(&RunRef->Count);
    if (v / kOne < Count) {
      reportMisuse(fmt::format("ExReleaseRundownProtection: {} release(s) without a matching acquire", Count));
      return;
    }
    if (cas(&RunRef->Count, v, v - kOne * Count)) {
      if ((v & kExclusive) != 0 && v - kOne * Count == kExclusive) wakeAll();  // last holder gone
      return;
    }
  }
}
void FASTCALL ExReleaseRundownProtection(PEX_RUNDOWN_REF RunRef) { ExReleaseRundownProtectionEx(RunRef, 1); }

void FASTCALL ExWaitForRundownProtectionRelease(PEX_RUNDOWN_REF RunRef) {
  if (RunRef == nullptr) {
    reportMisuse("ExWaitForRundownProtectionRelease(NULL)");
    return;
  }
  if (KeGetCurrentIrql() > APC_LEVEL) {
    reportMisuse(fmt::format("ExWaitForRundownProtectionRelease at IRQL {}: requires IRQL <= APC_LEVEL",
                             KeGetCurrentIrql()));
  }
  __atomic_fetch_or(&RunRef->Count, kExclusive, __ATOMIC_ACQ_REL);
  sleepUntil([&] { return load(&RunRef->Count) == kExclusive; });
}

}  // extern "C"

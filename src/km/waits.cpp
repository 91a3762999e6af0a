// km/waits.cpp - dispatcher objects and waits: KEVENT (KeInitializeEvent, KeSetEvent,
// KeClearEvent, KeResetEvent, KeReadStateEvent), KeWaitForSingleObject,
// KeWaitForMultipleObjects, KeDelayExecutionThread, tick count and interrupt time.
//
// An object's whole state is its DISPATCHER_HEADER (Type, SignalState), in the driver's own
// memory, so nothing is allocated per event and nothing can leak. Waiting threads are kept in a
// side table keyed by object address ("parking lot"): each waiting thread has its own condition
// variable, registered under every object it waits for; a signal wakes the threads registered
// for that object, which re-check the state under the one lock. A synchronization event is
// reset by the waiter that consumes it, so exactly one waiter returns per KeSetEvent.
//
// Locking: Lot::mu guards every SignalState change of every dispatcher object and the waiter
// table. SignalState is read with atomic loads, so KeReadStateEvent needs no lock.
#include <fmt/format.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "km/internal.h"
#include "km/support.h"

namespace {

using openwfp::km::internal::kEventNotificationObject;
using openwfp::km::internal::kEventSynchronizationObject;
using openwfp::km::internal::kMutantObject;
using openwfp::km::internal::kThreadObject;
using openwfp::km::internal::kTimerNotificationObject;
using openwfp::km::internal::kTimerSynchronizationObject;
using openwfp::km::internal::reportMisuse;

// 100-ns intervals between 1601-01-01 (the Windows epoch) and 1970-01-01 (the Unix epoch).
constexpr LONGLONG kUnixEpochIn100ns = 116444736000000000LL;
// One clock tick in 100 ns units (15.625 ms, the usual Windows default).
constexpr ULONG kTimeIncrement = 156250;
// Longest relative wait honoured (about 30 years; longer is treated as that).
constexpr LONGLONG kMaxRelative100ns = 10000000LL * 60 * 60 * 24 * 365 * 30;

using Ticks100ns = std::chrono::duration<LONGLONG, std::ratio<1, 10000000>>;

struct Waiter {
  std::condition_variable cv;
};

struct Lot {
  std::mutex mu;
  std::unordered_multimap<const DISPATCHER_HEADER*, Waiter*> waiters;
};

// Never destroyed: system threads may still wait while the process exits.
Lot& lot() {
  static Lot* l = new Lot;
  return *l;
}

LONG stateOf(const DISPATCHER_HEADER* h) { return __atomic_load_n(&h->SignalState, __ATOMIC_ACQUIRE); }
void setState(DISPATCHER_HEADER* h, LONG v) { __atomic_store_n(&h->SignalState, v, __ATOMIC_RELEASE); }

// Lot::mu held.
void wakeLocked(const DISPATCHER_HEADER* h) {
  auto [first, last] = lot().waiters.equal_range(h);
  for (auto it = first; it != last; ++it) it->second->cv.notify_one();
}

// When a wait ends: no deadline (forever), a steady deadline (relative) or a system-clock
// deadline (absolute, follows changes of the system time as documented).
struct Deadline {
  bool testOnly = false;
  std::optional<std::chrono::steady_clock::time_point> steady;
  std::optional<std::chrono::system_clock::time_point> system;

  static Deadline from(const LARGE_INTEGER* timeout) {
    Deadline d;
    if (timeout == nullptr) return d;
    const LONGLONG t = timeout->QuadPart;
    if (t == 0) {
      d.testOnly = true;
    } else if (t < 0) {
      const LONGLONG rel = t < -kMaxRelative100ns ? kMaxRelative100ns : -t;
      d.steady = std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::nanoseconds>(Ticks100ns(rel));
    } else {
      const LONGLONG sinceUnix = t - kUnixEpochIn100ns;  // may be negative: already expired
      d.system = std::chrono::system_clock::time_point(
          std::chrono::duration_cast<std::chrono::system_clock::duration>(Ticks100ns(sinceUnix)));
    }
    return d;
  }
  bool expired() const {
    if (testOnly) return true;
    if (steady) return std::chrono::steady_clock::now() >= *steady;
    if (system) return std::chrono::system_clock::now() >= *system;
    return false;
  }
  void wait(std::unique_lock<std::mutex>& lock, std::condition_variable& cv) const {
    if (steady) {
      cv.wait_until(lock, *steady);
    } else if (system) {
      cv.wait_until(lock, *system);
    } else {
      cv.wait(lock);
    }
  }
};

bool knownType(const DISPATCHER_HEADER* h) {
  return h->Type == kEventNotificationObject || h->Type == kEventSynchronizationObject || h->Type == kThreadObject ||
         h->Type == kMutantObject || h->Type == kTimerNotificationObject || h->Type == kTimerSynchronizationObject;
}

// Whether a wait for the object is satisfied now (Lot::mu held): signaled, or a mutex the
// calling thread owns (a KMUTEX is acquired recursively by its owner).
bool satisfiable(const DISPATCHER_HEADER* h) {
  if (h->Type == kMutantObject) {
    const auto* m = reinterpret_cast<const KMUTANT*>(h);
    return stateOf(h) > 0 || m->OwnerThread == KeGetCurrentThread();
  }
  return stateOf(h) > 0;
}

// Satisfies the wait for one object (Lot::mu held): a synchronization event or timer is reset,
// a mutex is acquired (once more) by the calling thread.
void consumeLocked(DISPATCHER_HEADER* h) {
  if (h->Type == kEventSynchronizationObject || h->Type == kTimerSynchronizationObject) setState(h, 0);
  if (h->Type == kMutantObject) {
    auto* m = reinterpret_cast<KMUTANT*>(h);
    setState(h, stateOf(h) - 1);
    m->OwnerThread = KeGetCurrentThread();
  }
}

// The common wait. Returns STATUS_WAIT_0 + index (any) / STATUS_SUCCESS (all) / STATUS_TIMEOUT.
NTSTATUS waitFor(const std::vector<DISPATCHER_HEADER*>& objects, bool all, const LARGE_INTEGER* timeout,
                 const char* api) {
  Deadline deadline = Deadline::from(timeout);
  const KIRQL irql = KeGetCurrentIrql();
  if (!deadline.testOnly && irql > APC_LEVEL) {
    reportMisuse(fmt::format("{} at IRQL {} with a {} timeout: waiting requires IRQL <= APC_LEVEL (only a zero "
                             "timeout may be used at DISPATCH_LEVEL); the objects were only tested",
                             api, irql, timeout == nullptr ? "NULL (infinite)" : "nonzero"));
    deadline.testOnly = true;
  }
  thread_local Waiter self;
  Lot& l = lot();
  std::unique_lock lock(l.mu);
  bool registered = false;
  auto unregister = [&] {
    if (!registered) return;
    for (auto* h : objects) {
      auto [first, last] = l.waiters.equal_range(h);
      for (auto it = first; it != last; ++it) {
        if (it->second == &self) {
          l.waiters.erase(it);
          break;
        }
      }
    }
    registered = false;
  };
  for (;;) {
    if (all) {
      bool every = true;
      for (auto* h : objects) every = every && satisfiable(h);
      if (every) {
        for (auto* h : objects) consumeLocked(h);
        unregister();
        return STATUS_SUCCESS;
      }
    } else {
      for (size_t i = 0; i < objects.size(); ++i) {
        if (satisfiable(objects[i])) {
          consumeLocked(objects[i]);
          unregister();
          return static_cast<NTSTATUS>(STATUS_WAIT_0 + static_cast<NTSTATUS>(i));
        }
      }
    }
    if (deadline.expired()) {
      unregister();
      return STATUS_TIMEOUT;
    }
    if (!registered) {
      for (auto* h : objects) l.waiters.emplace(h, &self);
      registered = true;
    }
    deadline.wait(lock, self.cv);
  }
}

DISPATCHER_HEADER* checkedHeader(PVOID object, const char* api) {
  if (object == nullptr) {
    reportMisuse(fmt::format("{}: NULL object", api));
    return nullptr;
  }
  auto* h = static_cast<DISPATCHER_HEADER*>(object);
  if (!knownType(h)) {
    reportMisuse(fmt::format("{}({}): not an initialized event or thread object (Type {}); waited on as a "
                             "notification object",
                             api, object, h->Type));
  }
  return h;
}

LONGLONG interruptTime100ns() {
  return std::chrono::duration_cast<Ticks100ns>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

namespace openwfp::km::internal {

void signalDispatcherObject(DISPATCHER_HEADER* header) {
  std::lock_guard lock(lot().mu);
  setState(header, 1);
  wakeLocked(header);
}

void resetDispatcherObject(DISPATCHER_HEADER* header) {
  std::lock_guard lock(lot().mu);
  setState(header, 0);
}

}  // namespace openwfp::km::internal

extern "C" {

void NTAPI KeInitializeEvent(PRKEVENT Event, EVENT_TYPE Type, BOOLEAN State) {
  if (Event == nullptr) {
    reportMisuse("KeInitializeEvent(NULL)");
    return;
  }
  if (Type != NotificationEvent && Type != SynchronizationEvent) {
    reportMisuse(fmt::format("KeInitializeEvent: invalid EVENT_TYPE {}; initialized as NotificationEvent",
                             static_cast<int>(Type)));
    Type = NotificationEvent;
  }
  std::lock_guard lock(lot().mu);
  DISPATCHER_HEADER& h = Event->Header;
  h.Lock = 0;
  h.Type = Type == SynchronizationEvent ? kEventSynchronizationObject : kEventNotificationObject;
  h.Size = static_cast<UCHAR>(sizeof(KEVENT) / sizeof(LONG));
  setState(&h, State ? 1 : 0);
  InitializeListHead(&h.WaitListHead);
}

LONG NTAPI KeSetEvent(PRKEVENT Event, KPRIORITY Increment, BOOLEAN Wait) {
  (void)Increment;
  (void)Wait;  // TRUE only promises a wait right after; nothing to do here
  if (Event == nullptr) {
    reportMisuse("KeSetEvent(NULL)");
    return 0;
  }
  std::lock_guard lock(lot().mu);
  const LONG previous = stateOf(&Event->Header);
  if (previous == 0) {
    setState(&Event->Header, 1);
    wakeLocked(&Event->Header);
  }
  return previous;
}

void NTAPI KeClearEvent(PRKEVENT Event) {
  if (Event == nullptr) {
    reportMisuse("KeClearEvent(NULL)");
    return;
  }
  std::lock_guard lock(lot().mu);
  setState(&Event->Header, 0);
}

LONG NTAPI KeResetEvent(PRKEVENT Event) {
  if (Event == nullptr) {
    reportMisuse("KeResetEvent(NULL)");
    return 0;
  }
  std::lock_guard lock(lot().mu);
  const LONG previous = stateOf(&Event->Header);
  setState(&Event->Header, 0);
  return previous;
}

LONG NTAPI KeReadStateEvent(PRKEVENT Event) {
  if (Event == nullptr) {
    reportMisuse("KeReadStateEvent(NULL)");
    return 0;
  }
  return stateOf(&Event->Header);
}

NTSTATUS NTAPI KeWaitForSingleObject(PVOID Object, KWAIT_REASON WaitReason, KPROCESSOR_MODE WaitMode,
                                     BOOLEAN Alertable, PLARGE_INTEGER Timeout) {
  (void)WaitReason;
  (void)WaitMode;
  (void)Alertable;  // no APCs or alerts in openwfp: a wait ends by signal or timeout only
  DISPATCHER_HEADER* h = checkedHeader(Object, "KeWaitForSingleObject");
  if (h == nullptr) return STATUS_INVALID_PARAMETER;
  return waitFor({h}, false, Timeout, "KeWaitForSingleObject");
}

NTSTATUS NTAPI KeWaitForMultipleObjects(ULONG Count, PVOID Object[], WAIT_TYPE WaitType, KWAIT_REASON WaitReason,
                                        KPROCESSOR_MODE WaitMode, BOOLEAN Alertable, PLARGE_INTEGER Timeout,
                                        PKWAIT_BLOCK WaitBlockArray) {
  (void)WaitReason;
  (void)WaitMode;
  (void)Alertable;
  if (Count == 0 || Count > MAXIMUM_WAIT_OBJECTS || Object == nullptr) {
    reportMisuse(fmt::format("KeWaitForMultipleObjects: Count {} (1..{} objects required)", Count,
                             MAXIMUM_WAIT_OBJECTS));
    return STATUS_INVALID_PARAMETER;
  }
  if (Count > THREAD_WAIT_OBJECTS && WaitBlockArray == nullptr) {
    reportMisuse(fmt::format("KeWaitForMultipleObjects: {} objects need a WaitBlockArray (more than "
                             "THREAD_WAIT_OBJECTS = {})",
                             Count, THREAD_WAIT_OBJECTS));
    return STATUS_INVALID_PARAMETER;
  }
  if (WaitType != WaitAll && WaitType != WaitAny) {
    reportMisuse(fmt::format("KeWaitForMultipleObjects: WaitType {} (WaitAll or WaitAny)", static_cast<int>(WaitType)));
    return STATUS_INVALID_PARAMETER;
  }
  std::vector<DISPATCHER_HEADER*> objects;
  objects.reserve(Count);
  for (ULONG i = 0; i < Count; ++i) {
    DISPATCHER_HEADER* h = checkedHeader(Object[i], "KeWaitForMultipleObjects");
    if (h == nullptr) return STATUS_INVALID_PARAMETER;
    objects.push_back(h);
  }
  return waitFor(objects, WaitType == WaitAll, Timeout, "KeWaitForMultipleObjects");
}

NTSTATUS NTAPI KeDelayExecutionThread(KPROCESSOR_MODE WaitMode, BOOLEAN Alertable, PLARGE_INTEGER Interval) {
  (void)WaitMode;
  (void)Alertable;
  if (Interval == nullptr) {
    reportMisuse("KeDelayExecutionThread: NULL Interval");
    return STATUS_INVALID_PARAMETER;
  }
  if (KeGetCurrentIrql() > APC_LEVEL) {
    reportMisuse(fmt::format("KeDelayExecutionThread at IRQL {}: requires IRQL <= APC_LEVEL; not delayed",
                             KeGetCurrentIrql()));
    return STATUS_SUCCESS;
  }
  const Deadline d = Deadline::from(Interval);
  if (d.steady) {
    std::this_thread::sleep_until(*d.steady);
  } else if (d.system) {
    std::this_thread::sleep_until(*d.system);
  } else {
    std::this_thread::yield();
  }
  return STATUS_SUCCESS;
}

// ---- KMUTEX: SignalState 1 = free, 1 - n = held n times by OwnerThread ------------------------
void NTAPI KeInitializeMutex(PRKMUTEX Mutex, ULONG Level) {
  (void)Level;
  if (Mutex == nullptr) {
    reportMisuse("KeInitializeMutex(NULL)");
    return;
  }
  std::lock_guard lock(lot().mu);
  DISPATCHER_HEADER& h = Mutex->Header;
  h.Lock = 0;
  h.Type = kMutantObject;
  h.Size = static_cast<UCHAR>(sizeof(KMUTANT) / sizeof(LONG));
  setState(&h, 1);
  InitializeListHead(&h.WaitListHead);
  InitializeListHead(&Mutex->MutantListEntry);
  Mutex->OwnerThread = nullptr;
  Mutex->Abandoned = FALSE;
  Mutex->ApcDisable = 1;
}

LONG NTAPI KeReleaseMutex(PRKMUTEX Mutex, BOOLEAN Wait) {
  (void)Wait;
  if (Mutex == nullptr || Mutex->Header.Type != kMutantObject) {
    reportMisuse("KeReleaseMutex: not a mutex initialized by KeInitializeMutex");
    return 0;
  }
  std::lock_guard lock(lot().mu);
  const LONG previous = stateOf(&Mutex->Header);
  if (previous > 0 || Mutex->OwnerThread != KeGetCurrentThread()) {
    reportMisuse(fmt::format("KeReleaseMutex({}): the calling thread does not own the mutex; not released",
                             static_cast<void*>(Mutex)));
    return previous;
  }
  setState(&Mutex->Header, previous + 1);
  if (previous + 1 == 1) {
    Mutex->OwnerThread = nullptr;
    wakeLocked(&Mutex->Header);
  }
  return previous;
}

LONG NTAPI KeReadStateMutex(PRKMUTEX Mutex) {
  if (Mutex == nullptr) {
    reportMisuse("KeReadStateMutex(NULL)");
    return 0;
  }
  return stateOf(&Mutex->Header);
}

void NTAPI KeQueryTickCount(PLARGE_INTEGER CurrentCount) {
  if (CurrentCount == nullptr) return;
  CurrentCount->QuadPart = interruptTime100ns() / kTimeIncrement;
}

ULONG NTAPI KeQueryTimeIncrement(void) { return kTimeIncrement; }

ULONGLONG NTAPI KeQueryInterruptTime(void) { return static_cast<ULONGLONG>(interruptTime100ns()); }

}  // extern "C"

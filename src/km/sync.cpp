// km/sync.cpp - spin locks and IRQL.
//
// A KSPIN_LOCK word holds 0 when free and the owner thread's token when held (test-and-set with
// pause, then yield). IRQL is a per-thread value: acquiring a spin lock raises it to
// DISPATCH_LEVEL and releasing restores what the caller passes, as on Windows; nothing else about
// interrupts is simulated.
#include <wdm.h>

#include <sched.h>
#include <spdlog/spdlog.h>

#include <cstdlib>

#include "km/internal.h"
#include "km/support.h"
#include "openwfp/openwfp.h"
#include "verifier/verifier.h"

namespace {

thread_local KIRQL tlsIrql = PASSIVE_LEVEL;
thread_local char tlsOwnerToken;  // its address identifies the thread in a held lock word

ULONG_PTR selfToken() { return reinterpret_cast<ULONG_PTR>(&tlsOwnerToken); }

void cpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

void report(std::string message) {
  openwfp::Runtime::current().verifier().report(
      {openwfp::verifier::Code::KernelApiMisuse, std::move(message), openwfp::verifier::currentDriver(), "", 0});
}

void acquire(PKSPIN_LOCK lock) {
  const ULONG_PTR self = selfToken();
  if (__atomic_load_n(lock, __ATOMIC_RELAXED) == self) {
    // Windows deadlocks (or bugchecks under Driver Verifier): fail loudly instead of hanging.
    report("spin lock acquired again by the thread that holds it (deadlock)");
    spdlog::critical("openwfp: spin lock {} acquired recursively; aborting", static_cast<void*>(lock));
    std::abort();
  }
  unsigned spins = 0;
  for (;;) {
    ULONG_PTR expected = 0;
    if (__atomic_compare_exchange_n(lock, &expected, self, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) return;
    while (__atomic_load_n(lock, __ATOMIC_RELAXED) != 0) {
      if (++spins < 128) {
        cpuRelax();
      } else {
        sched_yield();  // user mode: the holder may be descheduled, let it run
      }
    }
  }
}

void release(PKSPIN_LOCK lock) {
  const ULONG_PTR held = __atomic_load_n(lock, __ATOMIC_RELAXED);
  if (held == selfToken()) {
    __atomic_store_n(lock, ULONG_PTR{0}, __ATOMIC_RELEASE);
  } else if (held == 0) {
    report("spin lock released but not held");
  } else {
    report("spin lock released by a thread that does not hold it; left held");
  }
}

}  // namespace

namespace openwfp::km {

uint8_t currentIrql() { return tlsIrql; }

namespace internal {
bool spinLockHeldByCurrentThread(const KSPIN_LOCK* lock) {
  return lock != nullptr && __atomic_load_n(lock, __ATOMIC_RELAXED) == selfToken();
}
void setCurrentIrql(KIRQL irql) { tlsIrql = irql; }
}  // namespace internal

IrqlScope::IrqlScope(uint8_t irql) : previous_(tlsIrql) { tlsIrql = irql; }
IrqlScope::~IrqlScope() { tlsIrql = previous_; }

}  // namespace openwfp::km

extern "C" {

KIRQL NTAPI KeGetCurrentIrql(void) { return tlsIrql; }

KIRQL NTAPI KeAcquireSpinLockRaiseToDpc(PKSPIN_LOCK SpinLock) {
  if (SpinLock == nullptr) {
    report("KeAcquireSpinLock(NULL)");
    return tlsIrql;
  }
  const KIRQL old = tlsIrql;
  acquire(SpinLock);
  if (tlsIrql < DISPATCH_LEVEL) tlsIrql = DISPATCH_LEVEL;
  return old;
}

void NTAPI KeReleaseSpinLock(PKSPIN_LOCK SpinLock, KIRQL NewIrql) {
  if (SpinLock == nullptr) {
    report("KeReleaseSpinLock(NULL)");
    return;
  }
  release(SpinLock);
  tlsIrql = NewIrql;
}

void NTAPI KeAcquireSpinLockAtDpcLevel(PKSPIN_LOCK SpinLock) {
  if (SpinLock == nullptr) {
    report("KeAcquireSpinLockAtDpcLevel(NULL)");
    return;
  }
  acquire(SpinLock);
}

void NTAPI KeReleaseSpinLockFromDpcLevel(PKSPIN_LOCK SpinLock) {
  if (SpinLock == nullptr) {
    report("KeReleaseSpinLockFromDpcLevel(NULL)");
    return;
  }
  release(SpinLock);
}

void NTAPI KeAcquireInStackQueuedSpinLock(PKSPIN_LOCK SpinLock, PKLOCK_QUEUE_HANDLE LockHandle) {
  if (SpinLock == nullptr || LockHandle == nullptr) {
    report("KeAcquireInStackQueuedSpinLock with a NULL argument");
    return;
  }
  LockHandle->LockQueue.Next = nullptr;
  LockHandle->LockQueue.Lock = SpinLock;
  LockHandle->OldIrql = KeAcquireSpinLockRaiseToDpc(SpinLock);
}

void NTAPI KeReleaseInStackQueuedSpinLock(PKLOCK_QUEUE_HANDLE LockHandle) {
  if (LockHandle == nullptr || LockHandle->LockQueue.Lock == nullptr) {
    report("KeReleaseInStackQueuedSpinLock with a NULL or unused lock handle");
    return;
  }
  KeReleaseSpinLock(LockHandle->LockQueue.Lock, LockHandle->OldIrql);
}

void NTAPI KeAcquireInStackQueuedSpinLockAtDpcLevel(PKSPIN_LOCK SpinLock, PKLOCK_QUEUE_HANDLE LockHandle) {
  if (SpinLock == nullptr || LockHandle == nullptr) {
    report("KeAcquireInStackQueuedSpinLockAtDpcLevel with a NULL argument");
    return;
  }
  LockHandle->LockQueue.Next = nullptr;
  LockHandle->LockQueue.Lock = SpinLock;
  LockHandle->OldIrql = tlsIrql;
  acquire(SpinLock);
}

void NTAPI KeReleaseInStackQueuedSpinLockFromDpcLevel(PKLOCK_QUEUE_HANDLE LockHandle) {
  if (LockHandle == nullptr || LockHandle->LockQueue.Lock == nullptr) {
    report("KeReleaseInStackQueuedSpinLockFromDpcLevel with a NULL or unused lock handle");
    return;
  }
  release(LockHandle->LockQueue.Lock);
}

}  // extern "C"

// kmdf/locks.cpp - WDFSPINLOCK (a KSPIN_LOCK: acquiring raises to DISPATCH_LEVEL) and
// WDFWAITLOCK (a mutex with an optional timeout, PASSIVE_LEVEL unless the timeout is 0);
// docs/kmdf.md.
#include <chrono>
#include <mutex>

#include "kmdf/fx.h"

namespace openwfp::kmdf {
namespace {

struct FxSpinLock : FxObject {
  FxSpinLock() : FxObject(Kind::SpinLock) {}
  KSPIN_LOCK lock = 0;
  KIRQL oldIrql = PASSIVE_LEVEL;
};

struct FxWaitLock : FxObject {
  FxWaitLock() : FxObject(Kind::WaitLock) {}
  std::timed_mutex mu;
};

FxObject* defaultParent() { return reinterpret_cast<FxObject*>(WdfGetDriver()); }

}  // namespace
}  // namespace openwfp::kmdf

using namespace openwfp::kmdf;

extern "C" {

NTSTATUS WdfSpinLockCreate(PWDF_OBJECT_ATTRIBUTES SpinLockAttributes, WDFSPINLOCK* SpinLock) {
  if (SpinLock == nullptr) return STATUS_INVALID_PARAMETER;
  *SpinLock = nullptr;
  auto* l = new FxSpinLock();
  NTSTATUS st = registerObject(l, SpinLockAttributes, defaultParent(), "WdfSpinLockCreate");
  if (NT_SUCCESS(st)) *SpinLock = reinterpret_cast<WDFSPINLOCK>(l);
  return st;
}

void WdfSpinLockAcquire(WDFSPINLOCK SpinLock) {
  auto* l = as<FxSpinLock>(SpinLock, Kind::SpinLock, "WdfSpinLockAcquire");
  if (l == nullptr) return;
  KIRQL old;
  KeAcquireSpinLock(&l->lock, &old);
  l->oldIrql = old;
}

void WdfSpinLockRelease(WDFSPINLOCK SpinLock) {
  auto* l = as<FxSpinLock>(SpinLock, Kind::SpinLock, "WdfSpinLockRelease");
  if (l == nullptr) return;
  KeReleaseSpinLock(&l->lock, l->oldIrql);
}

NTSTATUS WdfWaitLockCreate(PWDF_OBJECT_ATTRIBUTES LockAttributes, WDFWAITLOCK* Lock) {
  if (Lock == nullptr) return STATUS_INVALID_PARAMETER;
  *Lock = nullptr;
  auto* l = new FxWaitLock();
  NTSTATUS st = registerObject(l, LockAttributes, defaultParent(), "WdfWaitLockCreate");
  if (NT_SUCCESS(st)) *Lock = reinterpret_cast<WDFWAITLOCK>(l);
  return st;
}

NTSTATUS WdfWaitLockAcquire(WDFWAITLOCK Lock, PLONGLONG Timeout) {
  auto* l = as<FxWaitLock>(Lock, Kind::WaitLock, "WdfWaitLockAcquire");
  if (l == nullptr) return STATUS_INVALID_PARAMETER;
  if (Timeout != nullptr && *Timeout == 0) return l->mu.try_lock() ? STATUS_SUCCESS : STATUS_TIMEOUT;
  if (KeGetCurrentIrql() > PASSIVE_LEVEL) {
    reportMisuse("WdfWaitLockAcquire at IRQL " + std::to_string(KeGetCurrentIrql()) +
                 " with a timeout other than 0 (PASSIVE_LEVEL required); only tried");
    return l->mu.try_lock() ? STATUS_SUCCESS : STATUS_TIMEOUT;
  }
  if (Timeout == nullptr) {
    l->mu.lock();
    return STATUS_SUCCESS;
  }
  LONGLONG rel100ns = *Timeout;
  if (rel100ns > 0) {  // absolute system time
    LARGE_INTEGER now;
    KeQuerySystemTime(&now);
    rel100ns = now.QuadPart - rel100ns;  // negative while in the future
    if (rel100ns >= 0) return l->mu.try_lock() ? STATUS_SUCCESS : STATUS_TIMEOUT;
  }
  auto wait = std::chrono::microseconds((-rel100ns) / 10);
  return l->mu.try_lock_for(wait) ? STATUS_SUCCESS : STATUS_TIMEOUT;
}

void WdfWaitLockRelease(WDFWAITLOCK Lock) {
  auto* l = as<FxWaitLock>(Lock, Kind::WaitLock, "WdfWaitLockRelease");
  if (l != nullptr) l->mu.unlock();
}

}  // extern "C"

// km/irp_cancel.cpp - IRP cancellation: the cancel spin lock (IoAcquireCancelSpinLock /
// IoReleaseCancelSpinLock) and IoCancelIrp. IoSetCancelRoutine is inline in wdm.h (an atomic
// exchange of Irp->CancelRoutine).
//
// IoCancelIrp, as documented: takes the cancel spin lock, sets Irp->Cancel, takes the cancel
// routine out of the IRP (atomic exchange with NULL) and, if there was one, calls it with the
// lock held and Irp->CancelIrql = the IRQL to restore; the routine releases the lock with
// IoReleaseCancelSpinLock(Irp->CancelIrql) and completes the IRP. Without a routine the lock is
// released and FALSE returned: the IRP stays with the driver (Irp->Cancel tells it).
#include <fmt/format.h>

#include "km/internal.h"
#include "km/support.h"
#include "verifier/verifier.h"

namespace {

KSPIN_LOCK gCancelSpinLock = 0;

}  // namespace

extern "C" {

void NTAPI IoAcquireCancelSpinLock(PKIRQL Irql) {
  if (Irql == nullptr) {
    openwfp::km::internal::reportMisuse("IoAcquireCancelSpinLock(NULL)");
    return;
  }
  *Irql = KeAcquireSpinLockRaiseToDpc(&gCancelSpinLock);
}

void NTAPI IoReleaseCancelSpinLock(KIRQL Irql) { KeReleaseSpinLock(&gCancelSpinLock, Irql); }

BOOLEAN NTAPI IoCancelIrp(PIRP Irp) {
  if (Irp == nullptr) {
    openwfp::km::internal::reportMisuse("IoCancelIrp(NULL)");
    return FALSE;
  }
  KIRQL irql;
  IoAcquireCancelSpinLock(&irql);
  Irp->Cancel = TRUE;
  PDRIVER_CANCEL routine = IoSetCancelRoutine(Irp, nullptr);
  if (routine == nullptr) {
    IoReleaseCancelSpinLock(irql);
    return FALSE;
  }
  Irp->CancelIrql = irql;
  PIO_STACK_LOCATION location = Irp->Tail.Overlay.CurrentStackLocation;
  PDEVICE_OBJECT device = location != nullptr ? location->DeviceObject : nullptr;
  std::string driver = device != nullptr ? openwfp::km::driverNameOf(device->DriverObject) : std::string();
  if (driver.empty()) driver = openwfp::verifier::currentDriver();
  {
    openwfp::verifier::CurrentDriverScope scope(driver);
    routine(device, Irp);
    if (openwfp::km::internal::spinLockHeldByCurrentThread(&gCancelSpinLock)) {
      openwfp::km::internal::reportMisuse(
          fmt::format("cancel routine {} returned holding the cancel spin lock: it must call "
                      "IoReleaseCancelSpinLock(Irp->CancelIrql); released by openwfp",
                      reinterpret_cast<void*>(routine)));
      IoReleaseCancelSpinLock(irql);
    }
  }
  return TRUE;
}

}  // extern "C"

// km/csq.cpp - cancel-safe IRP queues (IO_CSQ) over IoSetCancelRoutine / IoCancelIrp.
//
// The driver owns the queue and its lock (the Csq* callbacks); these routines add the cancel
// protocol. Irp->Tail.Overlay.DriverContext[3] points at the IRP's IO_CSQ_IRP_CONTEXT when the
// driver gave one, else at the IO_CSQ; both start with a ULONG Type that tells them apart.
// Whoever takes the cancel routine out of the IRP (IoSetCancelRoutine(Irp, NULL) != NULL) owns
// the IRP: the remover (IoCsqRemoveNextIrp / IoCsqRemoveIrp) or the cancel routine below, which
// hands it to CsqCompleteCanceledIrp.
#include <fmt/format.h>

#include "km/internal.h"

namespace {

using openwfp::km::internal::reportMisuse;

// IO_CSQ stores the Ex insert routine in the CsqInsertIrp slot (Type IO_TYPE_CSQ_EX tells which);
// the cast goes through the generic function pointer type, which GCC accepts without warning.
using AnyFunction = void (*)(void);
template <typename To, typename From>
To functionCast(From f) {
  return reinterpret_cast<To>(reinterpret_cast<AnyFunction>(f));
}

PIO_CSQ csqOf(PIRP irp, PIO_CSQ_IRP_CONTEXT* context) {
  *context = nullptr;
  void* slot = irp->Tail.Overlay.DriverContext[3];
  if (slot == nullptr) return nullptr;
  if (*static_cast<ULONG*>(slot) == IO_TYPE_CSQ_IRP_CONTEXT) {
    *context = static_cast<PIO_CSQ_IRP_CONTEXT>(slot);
    return (*context)->Csq;
  }
  return static_cast<PIO_CSQ>(slot);
}

// IRP taken out of the queue (cancel routine already cleared): forget the queue link; lock held.
void detach(PIRP irp) {
  PIO_CSQ_IRP_CONTEXT context;
  (void)csqOf(irp, &context);
  if (context != nullptr) __atomic_store_n(&context->Irp, static_cast<PIRP>(nullptr), __ATOMIC_SEQ_CST);
  irp->Tail.Overlay.DriverContext[3] = nullptr;
}

void NTAPI csqCancelRoutine(PDEVICE_OBJECT, PIRP irp) {
  IoReleaseCancelSpinLock(irp->CancelIrql);
  PIO_CSQ_IRP_CONTEXT context;
  PIO_CSQ csq = csqOf(irp, &context);
  if (csq == nullptr) {
    reportMisuse(fmt::format("IO_CSQ cancel routine: IRP {} has no queue in DriverContext[3] (overwritten?)",
                             static_cast<void*>(irp)));
    return;
  }
  KIRQL irql;
  csq->CsqAcquireLock(csq, &irql);
  csq->CsqRemoveIrp(csq, irp);
  detach(irp);
  csq->CsqReleaseLock(csq, irql);
  csq->CsqCompleteCanceledIrp(csq, irp);
}

bool validCsq(PIO_CSQ csq, const char* api) {
  if (csq == nullptr || (csq->Type != IO_TYPE_CSQ && csq->Type != IO_TYPE_CSQ_EX) || csq->CsqAcquireLock == nullptr) {
    reportMisuse(fmt::format("{}: the IO_CSQ is not initialized (IoCsqInitialize)", api));
    return false;
  }
  return true;
}

NTSTATUS insert(PIO_CSQ csq, PIRP irp, PIO_CSQ_IRP_CONTEXT context, PVOID insertContext, const char* api) {
  if (!validCsq(csq, api) || irp == nullptr) return STATUS_INVALID_PARAMETER;
  KIRQL irql;
  csq->CsqAcquireLock(csq, &irql);
  if (context != nullptr) {
    context->Type = IO_TYPE_CSQ_IRP_CONTEXT;
    context->Csq = csq;
    __atomic_store_n(&context->Irp, irp, __ATOMIC_SEQ_CST);
    irp->Tail.Overlay.DriverContext[3] = context;
  } else {
    irp->Tail.Overlay.DriverContext[3] = csq;
  }
  NTSTATUS status = STATUS_SUCCESS;
  if (csq->Type == IO_TYPE_CSQ_EX) {
    status = functionCast<PIO_CSQ_INSERT_IRP_EX>(csq->CsqInsertIrp)(csq, irp, insertContext);
  } else {
    csq->CsqInsertIrp(csq, irp);
  }
  if (!NT_SUCCESS(status)) {
    detach(irp);
    csq->CsqReleaseLock(csq, irql);
    return status;
  }
  IoMarkIrpPending(irp);
  IoSetCancelRoutine(irp, csqCancelRoutine);
  if (irp->Cancel && IoSetCancelRoutine(irp, nullptr) != nullptr) {
    // Cancelled before it became cancelable: nobody else will call the routine.
    csq->CsqRemoveIrp(csq, irp);
    detach(irp);
    csq->CsqReleaseLock(csq, irql);
    csq->CsqCompleteCanceledIrp(csq, irp);
    return STATUS_SUCCESS;
  }
  csq->CsqReleaseLock(csq, irql);
  return STATUS_SUCCESS;
}

}  // namespace

extern "C" {

NTSTATUS NTAPI IoCsqInitialize(PIO_CSQ Csq, PIO_CSQ_INSERT_IRP CsqInsertIrp, PIO_CSQ_REMOVE_IRP CsqRemoveIrp,
                               PIO_CSQ_PEEK_NEXT_IRP CsqPeekNextIrp, PIO_CSQ_ACQUIRE_LOCK CsqAcquireLock,
                               PIO_CSQ_RELEASE_LOCK CsqReleaseLock,
                               PIO_CSQ_COMPLETE_CANCELED_IRP CsqCompleteCanceledIrp) {
  if (Csq == nullptr || CsqInsertIrp == nullptr || CsqRemoveIrp == nullptr || CsqPeekNextIrp == nullptr ||
      CsqAcquireLock == nullptr || CsqReleaseLock == nullptr || CsqCompleteCanceledIrp == nullptr) {
    reportMisuse("IoCsqInitialize: NULL queue or callback");
    return STATUS_INVALID_PARAMETER;
  }
  Csq->Type = IO_TYPE_CSQ;
  Csq->CsqInsertIrp = CsqInsertIrp;
  Csq->CsqRemoveIrp = CsqRemoveIrp;
  Csq->CsqPeekNextIrp = CsqPeekNextIrp;
  Csq->CsqAcquireLock = CsqAcquireLock;
  Csq->CsqReleaseLock = CsqReleaseLock;
  Csq->CsqCompleteCanceledIrp = CsqCompleteCanceledIrp;
  Csq->ReservePointer = nullptr;
  return STATUS_SUCCESS;
}

NTSTATUS NTAPI IoCsqInitializeEx(PIO_CSQ Csq, PIO_CSQ_INSERT_IRP_EX CsqInsertIrp, PIO_CSQ_REMOVE_IRP CsqRemoveIrp,
                                 PIO_CSQ_PEEK_NEXT_IRP CsqPeekNextIrp, PIO_CSQ_ACQUIRE_LOCK CsqAcquireLock,
                                 PIO_CSQ_RELEASE_LOCK CsqReleaseLock,
                                 PIO_CSQ_COMPLETE_CANCELED_IRP CsqCompleteCanceledIrp) {
  NTSTATUS status = IoCsqInitialize(Csq, functionCast<PIO_CSQ_INSERT_IRP>(CsqInsertIrp), CsqRemoveIrp,
                                    CsqPeekNextIrp, CsqAcquireLock, CsqReleaseLock, CsqCompleteCanceledIrp);
  if (NT_SUCCESS(status)) Csq->Type = IO_TYPE_CSQ_EX;
  return status;
}

void NTAPI IoCsqInsertIrp(PIO_CSQ Csq, PIRP Irp, PIO_CSQ_IRP_CONTEXT Context) {
  (void)insert(Csq, Irp, Context, nullptr, "IoCsqInsertIrp");
}

NTSTATUS NTAPI IoCsqInsertIrpEx(PIO_CSQ Csq, PIRP Irp, PIO_CSQ_IRP_CONTEXT Context, PVOID InsertContext) {
  return insert(Csq, Irp, Context, InsertContext, "IoCsqInsertIrpEx");
}

PIRP NTAPI IoCsqRemoveNextIrp(PIO_CSQ Csq, PVOID PeekContext) {
  if (!validCsq(Csq, "IoCsqRemoveNextIrp")) return nullptr;
  KIRQL irql;
  Csq->CsqAcquireLock(Csq, &irql);
  PIRP irp = Csq->CsqPeekNextIrp(Csq, nullptr, PeekContext);
  while (irp != nullptr) {
    if (IoSetCancelRoutine(irp, nullptr) != nullptr) {
      Csq->CsqRemoveIrp(Csq, irp);
      detach(irp);
      break;
    }
    irp = Csq->CsqPeekNextIrp(Csq, irp, PeekContext);  // being cancelled: leave it to the cancel routine
  }
  Csq->CsqReleaseLock(Csq, irql);
  return irp;
}

PIRP NTAPI IoCsqRemoveIrp(PIO_CSQ Csq, PIO_CSQ_IRP_CONTEXT Context) {
  if (!validCsq(Csq, "IoCsqRemoveIrp") || Context == nullptr) return nullptr;
  KIRQL irql;
  Csq->CsqAcquireLock(Csq, &irql);
  PIRP irp = __atomic_load_n(&Context->Irp, __ATOMIC_SEQ_CST);
  if (irp != nullptr) {
    if (IoSetCancelRoutine(irp, nullptr) != nullptr) {
      Csq->CsqRemoveIrp(Csq, irp);
      detach(irp);
    } else {
      irp = nullptr;  // being cancelled: the cancel routine completes it
    }
  }
  Csq->CsqReleaseLock(Csq, irql);
  return irp;
}

}  // extern "C"

// kmdf/request.cpp - WDFREQUEST over the IRP: buffers, parameters, completion, forwarding,
// driver-cancelable requests (WdfRequestMarkCancelable(Ex)); docs/kmdf.md.
#include "kmdf/fx.h"

namespace openwfp::kmdf {
namespace {

FxRequest* req(WDFREQUEST r, const char* fn) { return as<FxRequest>(r, Kind::Request, fn); }

// The cancel routine of a request the driver marked cancelable.
void driverCancel(PDEVICE_OBJECT, PIRP irp) {
  IoReleaseCancelSpinLock(irp->CancelIrql);
  auto* r = static_cast<FxRequest*>(irp->Tail.Overlay.DriverContext[0]);
  PFN_WDF_REQUEST_CANCEL evt = r->evtCancel;
  r->evtCancel = nullptr;
  if (evt != nullptr) evt(reinterpret_cast<WDFREQUEST>(r));
}

void complete(FxRequest* r, NTSTATUS status, ULONG_PTR information, const char* fn) {
  if (r->completed.exchange(true)) {
    reportMisuse(std::string(fn) + ": the request is already completed");
    return;
  }
  if (r->inQueue) {
    reportMisuse(std::string(fn) + ": the request is waiting in a queue; retrieve it first");
    r->completed = false;
    return;
  }
  PIRP irp = r->irp;
  if (IoSetCancelRoutine(irp, nullptr) == driverCancel) {
    reportMisuse(std::string(fn) + ": the request is still cancelable (call WdfRequestUnmarkCancelable "
                 "before completing it)");
  }
  FxQueue* presentedBy = r->presented ? r->queue : nullptr;
  irp->IoStatus.Status = status;
  irp->IoStatus.Information = NT_ERROR(status) ? 0 : information;
  FxFile* failedOpen = nullptr;
  if (IoGetCurrentIrpStackLocation(irp)->MajorFunction == IRP_MJ_CREATE && !NT_SUCCESS(status) &&
      r->file != nullptr) {
    failedOpen = r->file;  // the open failed: no CLEANUP or CLOSE will come for this file
    std::lock_guard lock(registry());
    r->device->files.erase(failedOpen->wdm);
  }
  irp->Tail.Overlay.DriverContext[0] = nullptr;
  IoCompleteRequest(irp, IO_NO_INCREMENT);
  deleteObject(r);
  if (failedOpen != nullptr) deleteObject(failedOpen);
  if (presentedBy != nullptr) requestDone(presentedBy);
}

}  // namespace
}  // namespace openwfp::kmdf

using namespace openwfp::kmdf;

extern "C" {

static NTSTATUS retrieveBuffer(WDFREQUEST Request, size_t minimum, PVOID* Buffer, size_t* Length, bool input,
                               const char* fn) {
  if (Buffer != nullptr) *Buffer = nullptr;
  if (Length != nullptr) *Length = 0;
  FxRequest* r = req(Request, fn);
  if (r == nullptr || Buffer == nullptr) return STATUS_INVALID_PARAMETER;
  PIO_STACK_LOCATION st = IoGetCurrentIrpStackLocation(r->irp);
  size_t len = 0;
  switch (st->MajorFunction) {
    case IRP_MJ_DEVICE_CONTROL:
    case IRP_MJ_INTERNAL_DEVICE_CONTROL:
      len = input ? st->Parameters.DeviceIoControl.InputBufferLength
                  : st->Parameters.DeviceIoControl.OutputBufferLength;
      break;
    case IRP_MJ_WRITE:
      if (!input) return STATUS_INVALID_DEVICE_REQUEST;
      len = st->Parameters.Write.Length;
      break;
    case IRP_MJ_READ:
      if (input) return STATUS_INVALID_DEVICE_REQUEST;
      len = st->Parameters.Read.Length;
      break;
    default:
      return STATUS_INVALID_DEVICE_REQUEST;
  }
  PVOID buffer = r->irp->AssociatedIrp.SystemBuffer;  // every method is buffered (km/device_io.h)
  if (len == 0 || buffer == nullptr || len < minimum) return STATUS_BUFFER_TOO_SMALL;
  *Buffer = buffer;
  if (Length != nullptr) *Length = len;
  return STATUS_SUCCESS;
}

NTSTATUS WdfRequestRetrieveInputBuffer(WDFREQUEST Request, size_t MinimumRequiredLength, PVOID* Buffer,
                                       size_t* Length) {
  return retrieveBuffer(Request, MinimumRequiredLength, Buffer, Length, true, "WdfRequestRetrieveInputBuffer");
}

NTSTATUS WdfRequestRetrieveOutputBuffer(WDFREQUEST Request, size_t MinimumRequiredSize, PVOID* Buffer,
                                        size_t* Length) {
  return retrieveBuffer(Request, MinimumRequiredSize, Buffer, Length, false, "WdfRequestRetrieveOutputBuffer");
}

void WdfRequestComplete(WDFREQUEST Request, NTSTATUS Status) {
  FxRequest* r = req(Request, "WdfRequestComplete");
  if (r != nullptr) complete(r, Status, r->information, "WdfRequestComplete");
}

void WdfRequestCompleteWithInformation(WDFREQUEST Request, NTSTATUS Status, ULONG_PTR Information) {
  FxRequest* r = req(Request, "WdfRequestCompleteWithInformation");
  if (r != nullptr) complete(r, Status, Information, "WdfRequestCompleteWithInformation");
}

void WdfRequestCompleteWithPriorityBoost(WDFREQUEST Request, NTSTATUS Status, CCHAR) {
  FxRequest* r = req(Request, "WdfRequestCompleteWithPriorityBoost");
  if (r != nullptr) complete(r, Status, r->information, "WdfRequestCompleteWithPriorityBoost");
}

void WdfRequestSetInformation(WDFREQUEST Request, ULONG_PTR Information) {
  if (FxRequest* r = req(Request, "WdfRequestSetInformation")) r->information = Information;
}

ULONG_PTR WdfRequestGetInformation(WDFREQUEST Request) {
  FxRequest* r = req(Request, "WdfRequestGetInformation");
  return r == nullptr ? 0 : r->information;
}

NTSTATUS WdfRequestGetStatus(WDFREQUEST Request) {
  FxRequest* r = req(Request, "WdfRequestGetStatus");
  return r == nullptr ? STATUS_INVALID_HANDLE : r->irp->IoStatus.Status;
}

void WdfRequestGetParameters(WDFREQUEST Request, PWDF_REQUEST_PARAMETERS Parameters) {
  FxRequest* r = req(Request, "WdfRequestGetParameters");
  if (r == nullptr || Parameters == nullptr) return;
  PIO_STACK_LOCATION st = IoGetCurrentIrpStackLocation(r->irp);
  WDF_REQUEST_PARAMETERS_INIT(Parameters);
  Parameters->Type = static_cast<WDF_REQUEST_TYPE>(st->MajorFunction);
  Parameters->MinorFunction = st->MinorFunction;
  switch (st->MajorFunction) {
    case IRP_MJ_DEVICE_CONTROL:
    case IRP_MJ_INTERNAL_DEVICE_CONTROL:
      Parameters->Parameters.DeviceIoControl.OutputBufferLength = st->Parameters.DeviceIoControl.OutputBufferLength;
      Parameters->Parameters.DeviceIoControl.InputBufferLength = st->Parameters.DeviceIoControl.InputBufferLength;
      Parameters->Parameters.DeviceIoControl.IoControlCode = st->Parameters.DeviceIoControl.IoControlCode;
      Parameters->Parameters.DeviceIoControl.Type3InputBuffer = st->Parameters.DeviceIoControl.Type3InputBuffer;
      break;
    case IRP_MJ_READ:
      Parameters->Parameters.Read.Length = st->Parameters.Read.Length;
      Parameters->Parameters.Read.Key = st->Parameters.Read.Key;
      Parameters->Parameters.Read.DeviceOffset = st->Parameters.Read.ByteOffset.QuadPart;
      break;
    case IRP_MJ_WRITE:
      Parameters->Parameters.Write.Length = st->Parameters.Write.Length;
      Parameters->Parameters.Write.Key = st->Parameters.Write.Key;
      Parameters->Parameters.Write.DeviceOffset = st->Parameters.Write.ByteOffset.QuadPart;
      break;
    case IRP_MJ_CREATE:
      Parameters->Parameters.Create.SecurityContext = st->Parameters.Create.SecurityContext;
      Parameters->Parameters.Create.Options = st->Parameters.Create.Options;
      Parameters->Parameters.Create.FileAttributes = st->Parameters.Create.FileAttributes;
      Parameters->Parameters.Create.ShareAccess = st->Parameters.Create.ShareAccess;
      Parameters->Parameters.Create.EaLength = st->Parameters.Create.EaLength;
      break;
    default:
      break;
  }
}

NTSTATUS WdfRequestForwardToIoQueue(WDFREQUEST Request, WDFQUEUE DestinationQueue) {
  FxRequest* r = req(Request, "WdfRequestForwardToIoQueue");
  auto* q = as<FxQueue>(DestinationQueue, Kind::Queue, "WdfRequestForwardToIoQueue");
  if (r == nullptr || q == nullptr) return STATUS_INVALID_PARAMETER;
  if (q->device != r->device) {
    reportMisuse("WdfRequestForwardToIoQueue: the queue belongs to another device");
    return STATUS_INVALID_DEVICE_REQUEST;
  }
  if (r->inQueue || r->completed) {
    reportMisuse("WdfRequestForwardToIoQueue: the driver does not own the request");
    return STATUS_INVALID_DEVICE_REQUEST;
  }
  if (q == r->queue) return STATUS_INVALID_DEVICE_REQUEST;  // documented: not to its own queue
  if (q->deleting) return STATUS_INVALID_DEVICE_STATE;
  FxQueue* from = r->presented ? r->queue : nullptr;
  r->presented = false;
  queueRequest(q, r);
  if (from != nullptr) requestDone(from);
  return STATUS_SUCCESS;
}

NTSTATUS WdfRequestRequeue(WDFREQUEST Request) {
  FxRequest* r = req(Request, "WdfRequestRequeue");
  if (r == nullptr) return STATUS_INVALID_PARAMETER;
  if (r->queue == nullptr || r->queue->config.DispatchType != WdfIoQueueDispatchManual || r->inQueue) {
    reportMisuse("WdfRequestRequeue: only a request retrieved from a manual queue can be requeued");
    return STATUS_INVALID_DEVICE_REQUEST;
  }
  queueRequest(r->queue, r);
  return STATUS_SUCCESS;
}

static NTSTATUS markCancelable(WDFREQUEST Request, PFN_WDF_REQUEST_CANCEL evt, bool ex) {
  const char* fn = ex ? "WdfRequestMarkCancelableEx" : "WdfRequestMarkCancelable";
  FxRequest* r = req(Request, fn);
  if (r == nullptr || evt == nullptr) return STATUS_INVALID_PARAMETER;
  if (r->inQueue) {
    reportMisuse(std::string(fn) + ": the request is in a queue (the queue makes it cancelable)");
    return STATUS_INVALID_DEVICE_REQUEST;
  }
  r->evtCancel = evt;
  IoSetCancelRoutine(r->irp, driverCancel);
  if (r->irp->Cancel && IoSetCancelRoutine(r->irp, nullptr) != nullptr) {
    r->evtCancel = nullptr;
    if (ex) return STATUS_CANCELLED;  // the driver completes it
    evt(Request);                     // documented: the framework calls EvtRequestCancel
  }
  return STATUS_SUCCESS;
}

void WdfRequestMarkCancelable(WDFREQUEST Request, PFN_WDF_REQUEST_CANCEL EvtRequestCancel) {
  (void)markCancelable(Request, EvtRequestCancel, false);
}

NTSTATUS WdfRequestMarkCancelableEx(WDFREQUEST Request, PFN_WDF_REQUEST_CANCEL EvtRequestCancel) {
  return markCancelable(Request, EvtRequestCancel, true);
}

NTSTATUS WdfRequestUnmarkCancelable(WDFREQUEST Request) {
  FxRequest* r = req(Request, "WdfRequestUnmarkCancelable");
  if (r == nullptr) return STATUS_INVALID_PARAMETER;
  if (IoSetCancelRoutine(r->irp, nullptr) == nullptr) return STATUS_CANCELLED;  // EvtRequestCancel runs
  r->evtCancel = nullptr;
  return STATUS_SUCCESS;
}

BOOLEAN WdfRequestIsCanceled(WDFREQUEST Request) {
  FxRequest* r = req(Request, "WdfRequestIsCanceled");
  return r != nullptr && r->irp->Cancel ? TRUE : FALSE;
}

PIRP WdfRequestWdmGetIrp(WDFREQUEST Request) {
  FxRequest* r = req(Request, "WdfRequestWdmGetIrp");
  return r == nullptr ? nullptr : r->irp;
}

WDFFILEOBJECT WdfRequestGetFileObject(WDFREQUEST Request) {
  FxRequest* r = req(Request, "WdfRequestGetFileObject");
  return r == nullptr ? nullptr : reinterpret_cast<WDFFILEOBJECT>(r->file);
}

WDFQUEUE WdfRequestGetIoQueue(WDFREQUEST Request) {
  FxRequest* r = req(Request, "WdfRequestGetIoQueue");
  return r == nullptr ? nullptr : reinterpret_cast<WDFQUEUE>(r->queue);
}

KPROCESSOR_MODE WdfRequestGetRequestorMode(WDFREQUEST Request) {
  FxRequest* r = req(Request, "WdfRequestGetRequestorMode");
  return r == nullptr ? static_cast<KPROCESSOR_MODE>(KernelMode) : r->irp->RequestorMode;
}

}  // extern "C"

// kmdf/queue.cpp - I/O queues: sequential, parallel and manual dispatch, requests waiting in a
// queue are cancelable by the framework (a cancelled IRP, or IRP_MJ_CLEANUP of their file),
// WdfIoQueueRetrieveNextRequest (docs/kmdf.md).
#include <vector>

#include "kmdf/fx.h"

namespace openwfp::kmdf {
namespace {

WDFQUEUE h(FxQueue* q) { return reinterpret_cast<WDFQUEUE>(q); }
WDFREQUEST h(FxRequest* r) { return reinterpret_cast<WDFREQUEST>(r); }

// Presents a request to the driver's callback for its type (no lock held).
void present(FxQueue* q, FxRequest* r) {
  const WDF_IO_QUEUE_CONFIG& c = q->config;
  PIO_STACK_LOCATION st = IoGetCurrentIrpStackLocation(r->irp);
  const auto& io = st->Parameters.DeviceIoControl;
  switch (st->MajorFunction) {
    case IRP_MJ_DEVICE_CONTROL:
      if (c.EvtIoDeviceControl != nullptr) {
        c.EvtIoDeviceControl(h(q), h(r), io.OutputBufferLength, io.InputBufferLength, io.IoControlCode);
        return;
      }
      break;
    case IRP_MJ_INTERNAL_DEVICE_CONTROL:
      if (c.EvtIoInternalDeviceControl != nullptr) {
        c.EvtIoInternalDeviceControl(h(q), h(r), io.OutputBufferLength, io.InputBufferLength,
                                     io.IoControlCode);
        return;
      }
      break;
    case IRP_MJ_READ:
      if (c.EvtIoRead != nullptr) {
        c.EvtIoRead(h(q), h(r), st->Parameters.Read.Length);
        return;
      }
      break;
    case IRP_MJ_WRITE:
      if (c.EvtIoWrite != nullptr) {
        c.EvtIoWrite(h(q), h(r), st->Parameters.Write.Length);
        return;
      }
      break;
    default:
      break;
  }
  if (c.EvtIoDefault != nullptr) {
    c.EvtIoDefault(h(q), h(r));
    return;
  }
  WdfRequestComplete(h(r), STATUS_INVALID_DEVICE_REQUEST);
}

// The framework's cancel routine of a request waiting in a queue.
void queueCancel(PDEVICE_OBJECT, PIRP irp) {
  IoReleaseCancelSpinLock(irp->CancelIrql);
  auto* r = static_cast<FxRequest*>(irp->Tail.Overlay.DriverContext[0]);
  FxQueue* q = r->queue;
  bool found = false;
  {
    std::lock_guard lock(q->mu);
    for (auto it = q->waiting.begin(); it != q->waiting.end(); ++it) {
      if (*it == r) {
        q->waiting.erase(it);
        found = true;
        break;
      }
    }
    r->inQueue = false;
  }
  if (!found) return;
  if (q->config.EvtIoCanceledOnQueue != nullptr && !q->deleting) {
    r->presented = false;
    q->config.EvtIoCanceledOnQueue(h(q), h(r));
  } else {
    WdfRequestComplete(h(r), STATUS_CANCELLED);
  }
}

// Puts r at the end of q's waiting list, cancelable.
void addWaiting(FxQueue* q, FxRequest* r) {
  bool cancelNow = false;
  {
    std::lock_guard lock(q->mu);
    r->queue = q;
    r->inQueue = true;
    r->presented = false;
    q->waiting.push_back(r);
    IoSetCancelRoutine(r->irp, queueCancel);
    if (r->irp->Cancel && IoSetCancelRoutine(r->irp, nullptr) != nullptr) {
      q->waiting.pop_back();  // cancelled before it became cancelable: ours to cancel
      r->inQueue = false;
      cancelNow = true;
    }
  }
  if (cancelNow) WdfRequestComplete(h(r), STATUS_CANCELLED);
}

// Takes the first waiting request that is not being cancelled (q->mu held).
FxRequest* takeWaiting(FxQueue* q, FxFile* file) {
  for (auto it = q->waiting.begin(); it != q->waiting.end(); ++it) {
    FxRequest* r = *it;
    if (file != nullptr && r->file != file) continue;
    if (IoSetCancelRoutine(r->irp, nullptr) == nullptr) continue;  // its cancel routine runs
    q->waiting.erase(it);
    r->inQueue = false;
    r->presented = true;
    return r;
  }
  return nullptr;
}

}  // namespace

void queueRequest(FxQueue* q, FxRequest* r) {
  r->queue = q;
  switch (q->config.DispatchType) {
    case WdfIoQueueDispatchManual:
      addWaiting(q, r);
      return;
    case WdfIoQueueDispatchSequential: {
      {
        std::lock_guard lock(q->mu);
        if (q->presentedCount != 0 || !q->waiting.empty()) {
          r->queue = q;
          r->inQueue = true;
          q->waiting.push_back(r);
          IoSetCancelRoutine(r->irp, queueCancel);
          if (!(r->irp->Cancel && IoSetCancelRoutine(r->irp, nullptr) != nullptr)) return;
          q->waiting.pop_back();
          r->inQueue = false;
          r->queue = q;
          r->presented = false;
        } else {
          ++q->presentedCount;
          r->presented = true;
        }
      }
      if (!r->presented) {
        WdfRequestComplete(h(r), STATUS_CANCELLED);
        return;
      }
      present(q, r);
      return;
    }
    default:
      r->presented = true;
      present(q, r);
      return;
  }
}

void requestDone(FxQueue* q) {
  if (q->config.DispatchType != WdfIoQueueDispatchSequential) return;
  FxRequest* next = nullptr;
  {
    std::lock_guard lock(q->mu);
    if (q->presentedCount > 0) --q->presentedCount;
    if (q->presentedCount == 0 && !q->deleting) {
      next = takeWaiting(q, nullptr);
      if (next != nullptr) ++q->presentedCount;
    }
  }
  if (next != nullptr) present(q, next);
}

void cancelWaitingOf(FxDevice* device, FxFile* file) {
  std::vector<FxQueue*> queues;
  {
    std::lock_guard lock(registry());
    for (FxObject* c : device->children) {
      if (c->kind == Kind::Queue && !c->deleting) queues.push_back(static_cast<FxQueue*>(c));
    }
  }
  for (FxQueue* q : queues) {
    std::vector<FxRequest*> cancelled;
    {
      std::lock_guard lock(q->mu);
      while (FxRequest* r = takeWaiting(q, file)) {
        r->presented = false;
        cancelled.push_back(r);
      }
    }
    for (FxRequest* r : cancelled) {
      if (q->config.EvtIoCanceledOnQueue != nullptr) {
        q->config.EvtIoCanceledOnQueue(h(q), h(r));
      } else {
        WdfRequestComplete(h(r), STATUS_CANCELLED);
      }
    }
  }
}

void FxQueue::teardown() {
  std::vector<FxRequest*> purged;
  {
    std::lock_guard lock(mu);
    while (FxRequest* r = takeWaiting(this, nullptr)) {
      r->presented = false;
      purged.push_back(r);
    }
  }
  for (FxRequest* r : purged) WdfRequestComplete(h(r), STATUS_CANCELLED);
  std::lock_guard lock(registry());
  if (device != nullptr) {
    if (device->defaultQueue == this) device->defaultQueue = nullptr;
    for (auto it = device->dispatch.begin(); it != device->dispatch.end();) {
      it = it->second == this ? device->dispatch.erase(it) : std::next(it);
    }
  }
}

}  // namespace openwfp::kmdf

using namespace openwfp::kmdf;

extern "C" {

NTSTATUS WdfIoQueueCreate(WDFDEVICE Device, PWDF_IO_QUEUE_CONFIG Config, PWDF_OBJECT_ATTRIBUTES QueueAttributes,
                          WDFQUEUE* Queue) {
  if (Queue != nullptr) *Queue = nullptr;
  auto* dev = as<FxDevice>(Device, Kind::Device, "WdfIoQueueCreate");
  if (dev == nullptr) return STATUS_INVALID_HANDLE;
  if (Config == nullptr || Config->Size != sizeof(WDF_IO_QUEUE_CONFIG)) {
    reportMisuse("WdfIoQueueCreate: NULL or uninitialized WDF_IO_QUEUE_CONFIG (WDF_IO_QUEUE_CONFIG_INIT)");
    return STATUS_INFO_LENGTH_MISMATCH;
  }
  if (Config->DispatchType <= WdfIoQueueDispatchInvalid || Config->DispatchType >= WdfIoQueueDispatchMax) {
    reportMisuse("WdfIoQueueCreate: invalid DispatchType");
    return STATUS_INVALID_PARAMETER;
  }
  if (Config->DefaultQueue && Config->DispatchType == WdfIoQueueDispatchManual) {
    // Allowed by KMDF: the driver retrieves the requests itself.
  }
  if (Config->DispatchType == WdfIoQueueDispatchManual &&
      (Config->EvtIoDefault || Config->EvtIoRead || Config->EvtIoWrite || Config->EvtIoDeviceControl ||
       Config->EvtIoInternalDeviceControl)) {
    reportMisuse("WdfIoQueueCreate: a manual queue has no request handlers");
    return STATUS_INVALID_PARAMETER;
  }
  {
    std::lock_guard lock(registry());
    if (Config->DefaultQueue && dev->defaultQueue != nullptr) {
      reportMisuse("WdfIoQueueCreate: the device already has a default queue");
      return STATUS_INVALID_DEVICE_STATE;
    }
  }
  auto* q = new FxQueue();
  q->config = *Config;
  q->device = dev;
  q->driverObject = dev->driverObject;
  WDF_OBJECT_ATTRIBUTES attrs;
  if (QueueAttributes != nullptr) {
    attrs = *QueueAttributes;
    if (attrs.ParentObject != nullptr && attrs.ParentObject != static_cast<WDFOBJECT>(dev)) {
      reportMisuse("WdfIoQueueCreate: a queue's parent is its device");
      delete q;
      return STATUS_INVALID_PARAMETER;
    }
    attrs.ParentObject = nullptr;
  }
  NTSTATUS st = registerObject(q, QueueAttributes != nullptr ? &attrs : nullptr, dev, "WdfIoQueueCreate");
  if (!NT_SUCCESS(st)) return st;
  if (Config->DefaultQueue) {
    std::lock_guard lock(registry());
    dev->defaultQueue = q;
  }
  if (Queue != nullptr) *Queue = h(q);
  return STATUS_SUCCESS;
}

NTSTATUS WdfIoQueueRetrieveNextRequest(WDFQUEUE Queue, WDFREQUEST* OutRequest) {
  if (OutRequest != nullptr) *OutRequest = nullptr;
  auto* q = as<FxQueue>(Queue, Kind::Queue, "WdfIoQueueRetrieveNextRequest");
  if (q == nullptr || OutRequest == nullptr) return STATUS_INVALID_PARAMETER;
  if (q->config.DispatchType == WdfIoQueueDispatchParallel) {
    reportMisuse("WdfIoQueueRetrieveNextRequest: a parallel queue presents its requests");
    return STATUS_INVALID_DEVICE_REQUEST;
  }
  std::lock_guard lock(q->mu);
  if (q->deleting) return STATUS_INVALID_DEVICE_STATE;  // the queue is being deleted
  FxRequest* r = takeWaiting(q, nullptr);
  if (r == nullptr) return STATUS_NO_MORE_ENTRIES;
  *OutRequest = h(r);
  return STATUS_SUCCESS;
}

NTSTATUS WdfIoQueueRetrieveRequestByFileObject(WDFQUEUE Queue, WDFFILEOBJECT FileObject, WDFREQUEST* OutRequest) {
  if (OutRequest != nullptr) *OutRequest = nullptr;
  auto* q = as<FxQueue>(Queue, Kind::Queue, "WdfIoQueueRetrieveRequestByFileObject");
  auto* f = as<FxFile>(FileObject, Kind::FileObject, "WdfIoQueueRetrieveRequestByFileObject");
  if (q == nullptr || f == nullptr || OutRequest == nullptr) return STATUS_INVALID_PARAMETER;
  std::lock_guard lock(q->mu);
  FxRequest* r = takeWaiting(q, f);
  if (r == nullptr) return STATUS_NO_MORE_ENTRIES;
  *OutRequest = h(r);
  return STATUS_SUCCESS;
}

WDFDEVICE WdfIoQueueGetDevice(WDFQUEUE Queue) {
  auto* q = as<FxQueue>(Queue, Kind::Queue, "WdfIoQueueGetDevice");
  return q == nullptr ? nullptr : reinterpret_cast<WDFDEVICE>(q->device);
}

void WdfIoQueuePurgeSynchronously(WDFQUEUE Queue) {
  auto* q = as<FxQueue>(Queue, Kind::Queue, "WdfIoQueuePurgeSynchronously");
  if (q == nullptr) return;
  std::vector<FxRequest*> purged;
  {
    std::lock_guard lock(q->mu);
    while (FxRequest* r = takeWaiting(q, nullptr)) {
      r->presented = false;
      purged.push_back(r);
    }
  }
  for (FxRequest* r : purged) WdfRequestComplete(h(r), STATUS_CANCELLED);
}

}  // extern "C"

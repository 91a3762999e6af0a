// The KMDF test driver of kmdf_test_driver.h.
#include "kmdf/kmdf_test_driver.h"

#include <mutex>
#include <thread>

namespace kmdftest {
namespace {

std::mutex gEventsMu;
std::vector<std::string> gEvents;
void event(std::string e) {
  std::lock_guard lock(gEventsMu);
  gEvents.push_back(std::move(e));
}

typedef struct _DRIVER_CTX {
  LONG loads;
} DRIVER_CTX;
WDF_DECLARE_CONTEXT_TYPE_WITH_NAME(DRIVER_CTX, DriverCtx)

typedef struct _DEVICE_CTX {
  WDFQUEUE pendQueue;
  WDFSPINLOCK spin;
  WDFWAITLOCK wait;
  LONG underSpin;
  LONG underWait;
  WDFREQUEST held;
  WDFSPINLOCK lastObject;
} DEVICE_CTX;
WDF_DECLARE_CONTEXT_TYPE_WITH_NAME(DEVICE_CTX, DeviceCtx)

typedef struct _OBJ_CTX {
  LONG tag;
} OBJ_CTX;
WDF_DECLARE_CONTEXT_TYPE(OBJ_CTX)

WDFDEVICE gDevice = nullptr;

void DriverCleanup(WDFOBJECT) { event("cleanup driver"); }
void DeviceCleanup(WDFOBJECT) { event("cleanup device"); }
void ObjCleanup(WDFOBJECT o) { event("cleanup obj " + std::to_string(WdfObjectGet_OBJ_CTX(o)->tag)); }

void FileCreate(WDFDEVICE, WDFREQUEST request, WDFFILEOBJECT) {
  event("create");
  WdfRequestComplete(request, STATUS_SUCCESS);
}
void FileCleanup(WDFFILEOBJECT) { event("cleanup"); }
void FileClose(WDFFILEOBJECT) { event("close"); }

void HoldCancel(WDFREQUEST request) {
  event("cancel hold");
  DEVICE_CTX* ctx = DeviceCtx(gDevice);
  WdfSpinLockAcquire(ctx->spin);
  if (ctx->held == request) ctx->held = nullptr;
  WdfSpinLockRelease(ctx->spin);
  WdfRequestComplete(request, STATUS_CANCELLED);
}

void Unload(WDFDRIVER) {
  event("unload");
  if (gDevice != nullptr) WdfObjectDelete(gDevice);
  gDevice = nullptr;
}

void IoDeviceControl(WDFQUEUE queue, WDFREQUEST request, size_t outLen, size_t inLen, ULONG code) {
  event("ioctl " + std::to_string(code));
  DEVICE_CTX* ctx = DeviceCtx(WdfIoQueueGetDevice(queue));
  PVOID in = nullptr;
  PVOID out = nullptr;
  size_t got = 0;
  NTSTATUS st;
  switch (code) {
    case kEcho:
      st = WdfRequestRetrieveInputBuffer(request, 1, &in, &got);
      if (NT_SUCCESS(st)) st = WdfRequestRetrieveOutputBuffer(request, inLen, &out, nullptr);
      if (!NT_SUCCESS(st)) break;
      memmove(out, in, inLen);
      WdfRequestCompleteWithInformation(request, STATUS_SUCCESS, inLen);
      return;
    case kPend:
      st = WdfRequestForwardToIoQueue(request, ctx->pendQueue);
      if (NT_SUCCESS(st)) return;
      break;
    case kRelease: {
      st = WdfRequestRetrieveInputBuffer(request, sizeof(LONG), &in, nullptr);
      if (!NT_SUCCESS(st)) break;
      WDFREQUEST pended = nullptr;
      st = WdfIoQueueRetrieveNextRequest(ctx->pendQueue, &pended);
      if (!NT_SUCCESS(st)) break;
      st = WdfRequestRetrieveOutputBuffer(pended, sizeof(LONG), &out, nullptr);
      if (NT_SUCCESS(st)) {
        *static_cast<LONG*>(out) = *static_cast<LONG*>(in);
        WdfRequestCompleteWithInformation(pended, STATUS_SUCCESS, sizeof(LONG));
      } else {
        WdfRequestComplete(pended, st);
      }
      st = STATUS_SUCCESS;
      break;
    }
    case kHold:
      st = WdfRequestMarkCancelableEx(request, HoldCancel);
      if (!NT_SUCCESS(st)) break;
      WdfSpinLockAcquire(ctx->spin);
      ctx->held = request;
      WdfSpinLockRelease(ctx->spin);
      return;
    case kCount: {
      st = WdfRequestRetrieveInputBuffer(request, sizeof(LONG), &in, nullptr);
      if (!NT_SUCCESS(st)) break;
      LONG n = *static_cast<LONG*>(in);
      for (LONG i = 0; i < n; ++i) {
        WdfSpinLockAcquire(ctx->spin);
        LONG v = ctx->underSpin;  // a non-atomic read-modify-write: only the lock keeps it exact
        ctx->underSpin = v + 1;
        WdfSpinLockRelease(ctx->spin);
        WdfWaitLockAcquire(ctx->wait, nullptr);
        v = ctx->underWait;
        ctx->underWait = v + 1;
        WdfWaitLockRelease(ctx->wait);
      }
      break;
    }
    case kMakeObj: {
      st = WdfRequestRetrieveInputBuffer(request, sizeof(LONG), &in, nullptr);
      if (!NT_SUCCESS(st)) break;
      WDF_OBJECT_ATTRIBUTES attrs;
      WDF_OBJECT_ATTRIBUTES_INIT_CONTEXT_TYPE(&attrs, OBJ_CTX);
      attrs.EvtCleanupCallback = ObjCleanup;
      attrs.ParentObject = WdfIoQueueGetDevice(queue);
      WDFSPINLOCK obj = nullptr;
      st = WdfSpinLockCreate(&attrs, &obj);
      if (!NT_SUCCESS(st)) break;
      WdfObjectGet_OBJ_CTX(obj)->tag = *static_cast<LONG*>(in);
      ctx->lastObject = obj;
      break;
    }
    case kDeleteObj:
      if (ctx->lastObject == nullptr) {
        st = STATUS_NOT_FOUND;
        break;
      }
      WdfObjectDelete(ctx->lastObject);
      ctx->lastObject = nullptr;
      st = STATUS_SUCCESS;
      break;
    case kPid:
      st = WdfRequestRetrieveOutputBuffer(request, sizeof(ULONG), &out, nullptr);
      if (!NT_SUCCESS(st)) break;
      *static_cast<ULONG*>(out) = IoGetRequestorProcessId(WdfRequestWdmGetIrp(request));
      WdfRequestCompleteWithInformation(request, STATUS_SUCCESS, sizeof(ULONG));
      return;
    case kNoBuffer:
      st = WdfRequestRetrieveInputBuffer(request, 16, &in, &got);
      break;
    case kWaitLockTry: {
      LONGLONG zero = 0;
      WdfWaitLockAcquire(ctx->wait, nullptr);
      std::thread other([&] { st = WdfWaitLockAcquire(ctx->wait, &zero); });
      other.join();
      WdfWaitLockRelease(ctx->wait);
      break;
    }
    default:
      st = STATUS_INVALID_DEVICE_REQUEST;
      break;
  }
  (void)outLen;
  WdfRequestComplete(request, st);
}

}  // namespace

std::vector<std::string> events() {
  std::lock_guard lock(gEventsMu);
  return gEvents;
}
void clearEvents() {
  std::lock_guard lock(gEventsMu);
  gEvents.clear();
}
LONG counter() {
  if (gDevice == nullptr) return -1;
  DEVICE_CTX* ctx = DeviceCtx(gDevice);
  return ctx->underSpin == ctx->underWait ? ctx->underSpin : -2;
}

NTSTATUS driverEntry(PDRIVER_OBJECT driverObject, PUNICODE_STRING registryPath) {
  WDF_DRIVER_CONFIG config;
  WDF_DRIVER_CONFIG_INIT(&config, WDF_NO_EVENT_CALLBACK);
  config.DriverInitFlags |= WdfDriverInitNonPnpDriver;
  config.EvtDriverUnload = Unload;
  WDF_OBJECT_ATTRIBUTES attrs;
  WDF_OBJECT_ATTRIBUTES_INIT_CONTEXT_TYPE(&attrs, DRIVER_CTX);
  attrs.EvtCleanupCallback = DriverCleanup;
  WDFDRIVER driver;
  NTSTATUS st = WdfDriverCreate(driverObject, registryPath, &attrs, &config, &driver);
  if (!NT_SUCCESS(st)) return st;
  DriverCtx(driver)->loads++;

  DECLARE_CONST_UNICODE_STRING(devName, L"\\Device\\OwfpKmdfTest");
  DECLARE_CONST_UNICODE_STRING(linkName, L"\\DosDevices\\OwfpKmdfTest");
  PWDFDEVICE_INIT init = WdfControlDeviceInitAllocate(driver, &SDDL_DEVOBJ_SYS_ALL_ADM_RWX_WORLD_RW_RES_R);
  if (init == nullptr) return STATUS_INSUFFICIENT_RESOURCES;
  WdfDeviceInitSetDeviceType(init, FILE_DEVICE_UNKNOWN);
  st = WdfDeviceInitAssignName(init, &devName);
  if (!NT_SUCCESS(st)) {
    WdfDeviceInitFree(init);
    return st;
  }
  WDF_FILEOBJECT_CONFIG fileConfig;
  WDF_FILEOBJECT_CONFIG_INIT(&fileConfig, FileCreate, FileClose, FileCleanup);
  WdfDeviceInitSetFileObjectConfig(init, &fileConfig, WDF_NO_OBJECT_ATTRIBUTES);
  WDF_OBJECT_ATTRIBUTES devAttrs;
  WDF_OBJECT_ATTRIBUTES_INIT_CONTEXT_TYPE(&devAttrs, DEVICE_CTX);
  devAttrs.EvtCleanupCallback = DeviceCleanup;
  WDFDEVICE device;
  st = WdfDeviceCreate(&init, &devAttrs, &device);
  if (!NT_SUCCESS(st)) {
    WdfDeviceInitFree(init);
    return st;
  }
  DEVICE_CTX* ctx = DeviceCtx(device);
  st = WdfDeviceCreateSymbolicLink(device, &linkName);
  if (NT_SUCCESS(st)) {
    WDF_IO_QUEUE_CONFIG q;
    WDF_IO_QUEUE_CONFIG_INIT_DEFAULT_QUEUE(&q, WdfIoQueueDispatchParallel);
    q.EvtIoDeviceControl = IoDeviceControl;
    q.PowerManaged = WdfFalse;
    st = WdfIoQueueCreate(device, &q, WDF_NO_OBJECT_ATTRIBUTES, WDF_NO_HANDLE);
  }
  if (NT_SUCCESS(st)) {
    WDF_IO_QUEUE_CONFIG q;
    WDF_IO_QUEUE_CONFIG_INIT(&q, WdfIoQueueDispatchManual);
    q.PowerManaged = WdfFalse;
    st = WdfIoQueueCreate(device, &q, WDF_NO_OBJECT_ATTRIBUTES, &ctx->pendQueue);
  }
  if (NT_SUCCESS(st)) st = WdfSpinLockCreate(WDF_NO_OBJECT_ATTRIBUTES, &ctx->spin);
  if (NT_SUCCESS(st)) st = WdfWaitLockCreate(WDF_NO_OBJECT_ATTRIBUTES, &ctx->wait);
  if (!NT_SUCCESS(st)) {
    WdfObjectDelete(device);
    return st;
  }
  WdfControlFinishInitializing(device);
  gDevice = device;
  return STATUS_SUCCESS;
}

}  // namespace kmdftest

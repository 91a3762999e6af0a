// kmdf/driver.cpp - WdfDriverCreate and the framework's dispatch routines: the IRPs the I/O
// manager (km/device_io) sends to a KMDF driver's devices become file-object events and
// WDFREQUESTs on the device's queues (docs/kmdf.md).
#include <cstring>
#include <map>

#include "km/support.h"
#include "kmdf/fx.h"
#include "verifier/verifier.h"

namespace openwfp::kmdf {
namespace {

std::map<PDRIVER_OBJECT, FxDriver*>& drivers() {  // under registry()
  static auto* m = new std::map<PDRIVER_OBJECT, FxDriver*>();
  return *m;
}

void completeIrp(PIRP irp, NTSTATUS status) {
  irp->IoStatus.Status = status;
  irp->IoStatus.Information = 0;
  IoCompleteRequest(irp, IO_NO_INCREMENT);
}

FxDevice* deviceOf(PDEVICE_OBJECT dev) {
  if (dev == nullptr || dev->DeviceExtension == nullptr) return nullptr;
  auto* d = *static_cast<FxDevice**>(dev->DeviceExtension);
  if (d == nullptr) return nullptr;
  std::lock_guard lock(registry());
  return d->deleting ? nullptr : d;
}

FxFile* fileOf(FxDevice* d, PFILE_OBJECT fo) {
  std::lock_guard lock(registry());
  auto it = d->files.find(fo);
  return it == d->files.end() ? nullptr : it->second;
}

FxRequest* newRequest(FxDevice* d, PIRP irp) {
  auto* req = new FxRequest();
  req->irp = irp;
  req->device = d;
  req->driverObject = d->driverObject;
  req->file = fileOf(d, IoGetCurrentIrpStackLocation(irp)->FileObject);
  if (!NT_SUCCESS(registerObject(req, nullptr, nullptr, "dispatch"))) return nullptr;
  irp->Tail.Overlay.DriverContext[0] = req;
  return req;
}

NTSTATUS onCreate(FxDevice* d, PIRP irp) {
  PFILE_OBJECT fo = IoGetCurrentIrpStackLocation(irp)->FileObject;
  auto* file = new FxFile();
  file->wdm = fo;
  file->device = d;
  file->driverObject = d->driverObject;
  NTSTATUS st = registerObject(file, d->hasFileAttributes ? &d->fileAttributes : nullptr, d, "IRP_MJ_CREATE");
  if (!NT_SUCCESS(st)) {
    completeIrp(irp, st);
    return st;
  }
  {
    std::lock_guard lock(registry());
    d->files[fo] = file;
  }
  if (d->hasFileConfig && d->fileConfig.EvtDeviceFileCreate != nullptr) {
    FxRequest* req = newRequest(d, irp);
    if (req == nullptr) {
      completeIrp(irp, STATUS_INSUFFICIENT_RESOURCES);
      return STATUS_INSUFFICIENT_RESOURCES;
    }
    req->presented = true;
    IoMarkIrpPending(irp);
    d->fileConfig.EvtDeviceFileCreate(reinterpret_cast<WDFDEVICE>(d), reinterpret_cast<WDFREQUEST>(req),
                                      reinterpret_cast<WDFFILEOBJECT>(file));
    return STATUS_PENDING;
  }
  completeIrp(irp, STATUS_SUCCESS);
  return STATUS_SUCCESS;
}

NTSTATUS onCleanupOrClose(FxDevice* d, PIRP irp, bool close) {
  PFILE_OBJECT fo = IoGetCurrentIrpStackLocation(irp)->FileObject;
  FxFile* file = fileOf(d, fo);
  if (file != nullptr) {
    if (!close) {
      cancelWaitingOf(d, file);
      if (d->hasFileConfig && d->fileConfig.EvtFileCleanup != nullptr) {
        d->fileConfig.EvtFileCleanup(reinterpret_cast<WDFFILEOBJECT>(file));
      }
    } else {
      if (d->hasFileConfig && d->fileConfig.EvtFileClose != nullptr) {
        d->fileConfig.EvtFileClose(reinterpret_cast<WDFFILEOBJECT>(file));
      }
      {
        std::lock_guard lock(registry());
        d->files.erase(fo);
      }
      deleteObject(file);
    }
  }
  completeIrp(irp, STATUS_SUCCESS);
  return STATUS_SUCCESS;
}

NTSTATUS fxDispatch(PDEVICE_OBJECT dev, PIRP irp) {
  UCHAR major = IoGetCurrentIrpStackLocation(irp)->MajorFunction;
  FxDevice* d = deviceOf(dev);
  if (d == nullptr) {
    // The WDFDEVICE was deleted while a handle stayed open: only the handle's end goes on.
    NTSTATUS st = (major == IRP_MJ_CLEANUP || major == IRP_MJ_CLOSE) ? STATUS_SUCCESS : STATUS_DELETE_PENDING;
    completeIrp(irp, st);
    return st;
  }
  switch (major) {
    case IRP_MJ_CREATE: return onCreate(d, irp);
    case IRP_MJ_CLEANUP: return onCleanupOrClose(d, irp, false);
    case IRP_MJ_CLOSE: return onCleanupOrClose(d, irp, true);
    default: break;
  }
  FxQueue* queue = nullptr;
  {
    std::lock_guard lock(registry());
    auto it = d->dispatch.find(static_cast<WDF_REQUEST_TYPE>(major));
    queue = it != d->dispatch.end() ? it->second : d->defaultQueue;
    if (queue != nullptr && queue->deleting) queue = nullptr;
  }
  if (queue == nullptr) {
    completeIrp(irp, STATUS_INVALID_DEVICE_REQUEST);
    return STATUS_INVALID_DEVICE_REQUEST;
  }
  FxRequest* req = newRequest(d, irp);
  if (req == nullptr) {
    completeIrp(irp, STATUS_INSUFFICIENT_RESOURCES);
    return STATUS_INSUFFICIENT_RESOURCES;
  }
  IoMarkIrpPending(irp);
  queueRequest(queue, req);
  return STATUS_PENDING;
}

void fxUnload(PDRIVER_OBJECT driverObject) {
  FxDriver* drv = driverFor(driverObject);
  if (drv == nullptr) return;
  if (drv->config.EvtDriverUnload != nullptr) drv->config.EvtDriverUnload(reinterpret_cast<WDFDRIVER>(drv));
  deleteObject(drv);
}

}  // namespace

FxDriver* driverFor(PDRIVER_OBJECT driverObject) {
  std::lock_guard lock(registry());
  auto it = drivers().find(driverObject);
  return it == drivers().end() ? nullptr : it->second;
}

void FxDriver::teardown() {
  std::lock_guard lock(registry());
  drivers().erase(driverObject);
}

}  // namespace openwfp::kmdf

using namespace openwfp::kmdf;

extern "C" {

NTSTATUS WdfDriverCreate(PDRIVER_OBJECT DriverObject, PCUNICODE_STRING RegistryPath,
                         PWDF_OBJECT_ATTRIBUTES DriverAttributes, PWDF_DRIVER_CONFIG DriverConfig,
                         WDFDRIVER* Driver) {
  if (Driver != nullptr) *Driver = nullptr;
  if (DriverObject == nullptr || DriverConfig == nullptr) {
    reportMisuse("WdfDriverCreate: NULL DriverObject or DriverConfig");
    return STATUS_INVALID_PARAMETER;
  }
  if (DriverConfig->Size != sizeof(WDF_DRIVER_CONFIG)) {
    reportMisuse("WdfDriverCreate: WDF_DRIVER_CONFIG.Size is " + std::to_string(DriverConfig->Size) +
                 " (WDF_DRIVER_CONFIG_INIT not called?)");
    return STATUS_INFO_LENGTH_MISMATCH;
  }
  if (driverFor(DriverObject) != nullptr) {
    reportMisuse("WdfDriverCreate: called twice for one driver object");
    return STATUS_INVALID_DEVICE_STATE;
  }
  if ((DriverConfig->DriverInitFlags & WdfDriverInitNonPnpDriver) == 0 &&
      DriverConfig->EvtDriverDeviceAdd == nullptr) {
    reportMisuse("WdfDriverCreate: a PnP driver needs EvtDriverDeviceAdd (openwfp has no PnP "
                 "manager: set WdfDriverInitNonPnpDriver)");
    return STATUS_INVALID_PARAMETER;
  }
  auto* drv = new FxDriver();
  drv->config = *DriverConfig;
  drv->driverObject = DriverObject;
  if (RegistryPath != nullptr && RegistryPath->Buffer != nullptr) {
    drv->registryPath.assign(RegistryPath->Buffer, RegistryPath->Length / sizeof(WCHAR));
  }
  NTSTATUS st = registerObject(drv, DriverAttributes, nullptr, "WdfDriverCreate");
  if (!NT_SUCCESS(st)) return st;
  {
    std::lock_guard lock(registry());
    drivers()[DriverObject] = drv;
  }
  if ((DriverConfig->DriverInitFlags & WdfDriverInitNoDispatchOverride) == 0) {
    for (auto& fn : DriverObject->MajorFunction) fn = fxDispatch;
  }
  DriverObject->DriverUnload = fxUnload;
  if (Driver != nullptr) *Driver = reinterpret_cast<WDFDRIVER>(drv);
  return STATUS_SUCCESS;
}

PDRIVER_OBJECT WdfDriverWdmGetDriverObject(WDFDRIVER Driver) {
  auto* d = as<FxDriver>(Driver, Kind::Driver, "WdfDriverWdmGetDriverObject");
  return d == nullptr ? nullptr : d->driverObject;
}

WDFDRIVER WdfWdmDriverGetWdfDriverHandle(PDRIVER_OBJECT DriverObject) {
  return reinterpret_cast<WDFDRIVER>(driverFor(DriverObject));
}

WDFDRIVER WdfGetDriver(void) {
  // The driver whose code is running (verifier::CurrentDriverScope), by its object's name.
  std::lock_guard lock(registry());
  if (drivers().size() == 1) return reinterpret_cast<WDFDRIVER>(drivers().begin()->second);
  for (auto& [obj, drv] : drivers()) {
    if (openwfp::km::driverNameOf(obj) == openwfp::verifier::currentDriver()) {
      return reinterpret_cast<WDFDRIVER>(drv);
    }
  }
  return nullptr;
}

PWSTR WdfDriverGetRegistryPath(WDFDRIVER Driver) {
  auto* d = as<FxDriver>(Driver, Kind::Driver, "WdfDriverGetRegistryPath");
  return d == nullptr ? nullptr : d->registryPath.data();
}

}  // extern "C"

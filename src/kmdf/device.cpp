// kmdf/device.cpp - control devices: WDFDEVICE_INIT, WdfDeviceCreate over IoCreateDeviceSecure,
// symbolic links, file objects (docs/kmdf.md).
#include <mutex>
#include <string>
#include <unordered_set>

#include "kmdf/fx.h"

struct WDFDEVICE_INIT {
  WDFDRIVER driver = nullptr;
  std::wstring sddl;
  std::wstring name;
  bool hasName = false;
  BOOLEAN exclusive = FALSE;
  DEVICE_TYPE type = FILE_DEVICE_UNKNOWN;
  ULONG characteristics = FILE_DEVICE_SECURE_OPEN;
  WDF_DEVICE_IO_TYPE ioType = WdfDeviceIoBuffered;
  WDF_FILEOBJECT_CONFIG fileConfig{};
  bool hasFileConfig = false;
  WDF_OBJECT_ATTRIBUTES fileAttributes{};
  bool hasFileAttributes = false;
};

namespace openwfp::kmdf {
namespace {

std::mutex gInitMu;
std::unordered_set<const WDFDEVICE_INIT*> gInits;

WDFDEVICE_INIT* liveInit(PWDFDEVICE_INIT init, const char* fn) {
  std::lock_guard lock(gInitMu);
  if (init == nullptr || gInits.count(init) == 0) {
    reportMisuse(std::string(fn) + ": stale or invalid PWDFDEVICE_INIT");
    return nullptr;
  }
  return init;
}

std::wstring counted(PCUNICODE_STRING s) {
  if (s == nullptr || s->Buffer == nullptr) return {};
  return std::wstring(s->Buffer, s->Length / sizeof(WCHAR));
}

UNICODE_STRING view(std::wstring& s) {
  UNICODE_STRING u;
  u.Buffer = s.data();
  u.Length = static_cast<USHORT>(s.size() * sizeof(WCHAR));
  u.MaximumLength = u.Length;
  return u;
}

}  // namespace

void FxDevice::teardown() {
  for (auto& l : links) {
    UNICODE_STRING u = view(l);
    IoDeleteSymbolicLink(&u);
  }
  links.clear();
  if (wdm != nullptr) {
    *static_cast<FxDevice**>(wdm->DeviceExtension) = nullptr;  // the dispatch sees it is gone
    IoDeleteDevice(wdm);
    wdm = nullptr;
  }
}

}  // namespace openwfp::kmdf

using namespace openwfp::kmdf;

extern "C" {

PWDFDEVICE_INIT WdfControlDeviceInitAllocate(WDFDRIVER Driver, PCUNICODE_STRING SDDLString) {
  if (as<FxDriver>(Driver, Kind::Driver, "WdfControlDeviceInitAllocate") == nullptr) return nullptr;
  if (SDDLString == nullptr || SDDLString->Buffer == nullptr) {
    reportMisuse("WdfControlDeviceInitAllocate: a control device needs an SDDL string");
    return nullptr;
  }
  auto* init = new WDFDEVICE_INIT();
  init->driver = Driver;
  init->sddl = counted(SDDLString);
  std::lock_guard lock(gInitMu);
  gInits.insert(init);
  return init;
}

void WdfDeviceInitFree(PWDFDEVICE_INIT DeviceInit) {
  if (liveInit(DeviceInit, "WdfDeviceInitFree") == nullptr) return;
  std::lock_guard lock(gInitMu);
  gInits.erase(DeviceInit);
  delete DeviceInit;
}

NTSTATUS WdfDeviceInitAssignName(PWDFDEVICE_INIT DeviceInit, PCUNICODE_STRING DeviceName) {
  if (liveInit(DeviceInit, "WdfDeviceInitAssignName") == nullptr) return STATUS_INVALID_PARAMETER;
  DeviceInit->name = counted(DeviceName);
  DeviceInit->hasName = DeviceName != nullptr && !DeviceInit->name.empty();
  return STATUS_SUCCESS;
}

NTSTATUS WdfDeviceInitAssignSDDLString(PWDFDEVICE_INIT DeviceInit, PCUNICODE_STRING SDDLString) {
  if (liveInit(DeviceInit, "WdfDeviceInitAssignSDDLString") == nullptr) return STATUS_INVALID_PARAMETER;
  if (SDDLString != nullptr) DeviceInit->sddl = counted(SDDLString);
  return STATUS_SUCCESS;
}

void WdfDeviceInitSetExclusive(PWDFDEVICE_INIT DeviceInit, BOOLEAN IsExclusive) {
  if (liveInit(DeviceInit, "WdfDeviceInitSetExclusive") != nullptr) DeviceInit->exclusive = IsExclusive;
}

void WdfDeviceInitSetDeviceType(PWDFDEVICE_INIT DeviceInit, DEVICE_TYPE DeviceType) {
  if (liveInit(DeviceInit, "WdfDeviceInitSetDeviceType") != nullptr) DeviceInit->type = DeviceType;
}

void WdfDeviceInitSetCharacteristics(PWDFDEVICE_INIT DeviceInit, ULONG DeviceCharacteristics,
                                     BOOLEAN OrInValues) {
  if (liveInit(DeviceInit, "WdfDeviceInitSetCharacteristics") == nullptr) return;
  DeviceInit->characteristics =
      OrInValues ? (DeviceInit->characteristics | DeviceCharacteristics) : DeviceCharacteristics;
}

void WdfDeviceInitSetIoType(PWDFDEVICE_INIT DeviceInit, WDF_DEVICE_IO_TYPE IoType) {
  if (liveInit(DeviceInit, "WdfDeviceInitSetIoType") != nullptr) DeviceInit->ioType = IoType;
}

void WdfDeviceInitSetFileObjectConfig(PWDFDEVICE_INIT DeviceInit, PWDF_FILEOBJECT_CONFIG FileObjectConfig,
                                      PWDF_OBJECT_ATTRIBUTES FileObjectAttributes) {
  if (liveInit(DeviceInit, "WdfDeviceInitSetFileObjectConfig") == nullptr) return;
  if (FileObjectConfig == nullptr || FileObjectConfig->Size != sizeof(WDF_FILEOBJECT_CONFIG)) {
    reportMisuse("WdfDeviceInitSetFileObjectConfig: NULL or uninitialized WDF_FILEOBJECT_CONFIG");
    return;
  }
  DeviceInit->fileConfig = *FileObjectConfig;
  DeviceInit->hasFileConfig = true;
  if (FileObjectAttributes != nullptr) {
    DeviceInit->fileAttributes = *FileObjectAttributes;
    DeviceInit->fileAttributes.ParentObject = nullptr;  // a file object's parent is its device
    DeviceInit->hasFileAttributes = true;
  }
}

NTSTATUS WdfDeviceCreate(PWDFDEVICE_INIT* DeviceInit, PWDF_OBJECT_ATTRIBUTES DeviceAttributes,
                         WDFDEVICE* Device) {
  if (Device != nullptr) *Device = nullptr;
  if (DeviceInit == nullptr || Device == nullptr) {
    reportMisuse("WdfDeviceCreate: NULL DeviceInit or Device");
    return STATUS_INVALID_PARAMETER;
  }
  WDFDEVICE_INIT* init = liveInit(*DeviceInit, "WdfDeviceCreate");
  if (init == nullptr) return STATUS_INVALID_PARAMETER;
  auto* drv = as<FxDriver>(init->driver, Kind::Driver, "WdfDeviceCreate");
  if (drv == nullptr) return STATUS_INVALID_DEVICE_STATE;
  UNICODE_STRING name = view(init->name);
  UNICODE_STRING sddl = view(init->sddl);
  PDEVICE_OBJECT wdm = nullptr;
  NTSTATUS st = IoCreateDeviceSecure(drv->driverObject, sizeof(FxDevice*), init->hasName ? &name : nullptr,
                                     init->type, init->characteristics, init->exclusive, &sddl, nullptr, &wdm);
  if (!NT_SUCCESS(st)) return st;  // the driver still owns the init (WdfDeviceInitFree)
  if (init->ioType == WdfDeviceIoBuffered) wdm->Flags |= DO_BUFFERED_IO;
  if (init->ioType == WdfDeviceIoDirect) wdm->Flags |= DO_DIRECT_IO;
  auto* dev = new FxDevice();
  dev->wdm = wdm;
  if (init->hasName) dev->name = init->name;
  dev->driverObject = drv->driverObject;
  dev->fileConfig = init->fileConfig;
  dev->hasFileConfig = init->hasFileConfig;
  dev->fileAttributes = init->fileAttributes;
  dev->hasFileAttributes = init->hasFileAttributes;
  *static_cast<FxDevice**>(wdm->DeviceExtension) = dev;
  st = registerObject(dev, DeviceAttributes, drv, "WdfDeviceCreate");
  if (!NT_SUCCESS(st)) {
    *static_cast<FxDevice**>(wdm->DeviceExtension) = nullptr;
    IoDeleteDevice(wdm);
    return st;
  }
  {
    std::lock_guard lock(gInitMu);
    gInits.erase(init);
  }
  delete init;
  *DeviceInit = nullptr;  // the framework owns it now
  *Device = reinterpret_cast<WDFDEVICE>(dev);
  return STATUS_SUCCESS;
}

NTSTATUS WdfDeviceCreateSymbolicLink(WDFDEVICE Device, PCUNICODE_STRING SymbolicLinkName) {
  auto* dev = as<FxDevice>(Device, Kind::Device, "WdfDeviceCreateSymbolicLink");
  if (dev == nullptr) return STATUS_INVALID_HANDLE;
  if (SymbolicLinkName == nullptr || SymbolicLinkName->Buffer == nullptr) return STATUS_INVALID_PARAMETER;
  if (dev->name.empty()) {
    reportMisuse("WdfDeviceCreateSymbolicLink: the device has no name (WdfDeviceInitAssignName)");
    return STATUS_INVALID_DEVICE_REQUEST;
  }
  std::wstring link = counted(SymbolicLinkName);
  UNICODE_STRING linkName = view(link);
  UNICODE_STRING target = view(dev->name);
  NTSTATUS st = IoCreateSymbolicLink(&linkName, &target);
  if (NT_SUCCESS(st)) {
    std::lock_guard lock(registry());
    dev->links.push_back(std::move(link));
  }
  return st;
}

void WdfControlFinishInitializing(WDFDEVICE Device) {
  auto* dev = as<FxDevice>(Device, Kind::Device, "WdfControlFinishInitializing");
  if (dev != nullptr && dev->wdm != nullptr) dev->wdm->Flags &= ~DO_DEVICE_INITIALIZING;
}

PDEVICE_OBJECT WdfDeviceWdmGetDeviceObject(WDFDEVICE Device) {
  auto* dev = as<FxDevice>(Device, Kind::Device, "WdfDeviceWdmGetDeviceObject");
  return dev == nullptr ? nullptr : dev->wdm;
}

WDFDEVICE WdfWdmDeviceGetWdfDeviceHandle(PDEVICE_OBJECT DeviceObject) {
  if (DeviceObject == nullptr || DeviceObject->DeviceExtension == nullptr) return nullptr;
  return reinterpret_cast<WDFDEVICE>(*static_cast<FxDevice**>(DeviceObject->DeviceExtension));
}

WDFDRIVER WdfDeviceGetDriver(WDFDEVICE Device) {
  auto* dev = as<FxDevice>(Device, Kind::Device, "WdfDeviceGetDriver");
  return dev == nullptr ? nullptr : reinterpret_cast<WDFDRIVER>(dev->parent);
}

WDFQUEUE WdfDeviceGetDefaultQueue(WDFDEVICE Device) {
  auto* dev = as<FxDevice>(Device, Kind::Device, "WdfDeviceGetDefaultQueue");
  if (dev == nullptr) return nullptr;
  std::lock_guard lock(registry());
  return reinterpret_cast<WDFQUEUE>(dev->defaultQueue);
}

NTSTATUS WdfDeviceConfigureRequestDispatching(WDFDEVICE Device, WDFQUEUE Queue, WDF_REQUEST_TYPE RequestType) {
  auto* dev = as<FxDevice>(Device, Kind::Device, "WdfDeviceConfigureRequestDispatching");
  auto* q = as<FxQueue>(Queue, Kind::Queue, "WdfDeviceConfigureRequestDispatching");
  if (dev == nullptr || q == nullptr) return STATUS_INVALID_PARAMETER;
  if (q->device != dev) {
    reportMisuse("WdfDeviceConfigureRequestDispatching: the queue belongs to another device");
    return STATUS_INVALID_PARAMETER;
  }
  if (RequestType != WdfRequestTypeRead && RequestType != WdfRequestTypeWrite &&
      RequestType != WdfRequestTypeDeviceControl && RequestType != WdfRequestTypeDeviceControlInternal) {
    return STATUS_INVALID_PARAMETER;
  }
  std::lock_guard lock(registry());
  if (dev->dispatch.count(RequestType) != 0) return STATUS_INVALID_DEVICE_STATE;  // a queue is already configured
  dev->dispatch[RequestType] = q;
  return STATUS_SUCCESS;
}

WDFDEVICE WdfFileObjectGetDevice(WDFFILEOBJECT FileObject) {
  auto* f = as<FxFile>(FileObject, Kind::FileObject, "WdfFileObjectGetDevice");
  return f == nullptr ? nullptr : reinterpret_cast<WDFDEVICE>(f->device);
}

PFILE_OBJECT WdfFileObjectWdmGetFileObject(WDFFILEOBJECT FileObject) {
  auto* f = as<FxFile>(FileObject, Kind::FileObject, "WdfFileObjectWdmGetFileObject");
  return f == nullptr ? nullptr : f->wdm;
}

}  // extern "C"

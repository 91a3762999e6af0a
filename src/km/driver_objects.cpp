// km/driver_objects.cpp - DRIVER_OBJECT / DEVICE_OBJECT: creation for the host, IoCreateDevice,
// IoDeleteDevice, symbolic links, IoCompleteRequest.
//
// Locking: gMu guards gDrivers, gDevices, gDeviceNames, gLinks and the device lists reachable
// from driver objects (DriverObject->DeviceObject / NextDevice), and the IRP completion handler.
#include <wdmsec.h>

#include <spdlog/spdlog.h>

#include <cstdlib>
#include <cwctype>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <unordered_map>

#include "km/device_io.h"
#include "km/internal.h"
#include "km/support.h"
#include "km/format.h"
#include "km/sddl.h"
#include "openwfp/openwfp.h"
#include "verifier/verifier.h"

namespace {

constexpr CSHORT kIoTypeDevice = 3;  // IO_TYPE_DEVICE
constexpr CSHORT kIoTypeDriver = 4;  // IO_TYPE_DRIVER

struct DriverRecord {
  DRIVER_OBJECT object{};
  DRIVER_EXTENSION extension{};
  std::wstring driverName;    // \Driver\<name>
  std::wstring serviceName;   // <name>
  std::wstring registryPath;  // \Registry\Machine\System\CurrentControlSet\Services\<name>
  UNICODE_STRING registryPathString{};
  std::string name;
};

struct DeviceRecord {
  std::unique_ptr<DEVICE_OBJECT> object;
  void* extension = nullptr;  // calloc'ed DeviceExtension
  std::wstring name;          // "" when unnamed
  std::string creatorDriver;
  int refs = 0;               // queued work items
  bool deletePending = false;
  // IoCreateDeviceSecure's descriptor; null: the default (km/sddl.h defaultDescriptor()).
  std::shared_ptr<const openwfp::km::security::Descriptor> security;
  ~DeviceRecord() { std::free(extension); }
};

struct LinkRecord {
  std::wstring target;
  std::string creatorDriver;
};

std::mutex gMu;
std::unordered_map<const DRIVER_OBJECT*, std::unique_ptr<DriverRecord>> gDrivers;
std::unordered_map<const DEVICE_OBJECT*, std::unique_ptr<DeviceRecord>> gDevices;
std::map<std::wstring, const DEVICE_OBJECT*> gDeviceNames;  // key: lower-cased name
std::map<std::wstring, LinkRecord> gLinks;                   // key: lower-cased link name
std::function<void(void*)> gIrpCompletion;

wchar_t hardwareDatabaseText[] = L"\\REGISTRY\\MACHINE\\HARDWARE\\DESCRIPTION\\SYSTEM";
UNICODE_STRING gHardwareDatabase{sizeof(hardwareDatabaseText) - sizeof(wchar_t), sizeof(hardwareDatabaseText),
                                  hardwareDatabaseText};

std::wstring widen(const std::string& s) {
  std::wstring out;
  for (unsigned char c : s) out += c < 0x80 ? static_cast<wchar_t>(c) : L'_';
  return out;
}

std::wstring fromCounted(const UNICODE_STRING* u) {
  if (u == nullptr || u->Buffer == nullptr) return {};
  return std::wstring(u->Buffer, u->Length / sizeof(WCHAR));
}

std::wstring lowered(std::wstring s) {
  for (auto& c : s) c = static_cast<wchar_t>(std::towlower(static_cast<wint_t>(c)));
  return s;
}

void setCounted(UNICODE_STRING& u, std::wstring& storage) {
  u.Length = static_cast<USHORT>(storage.size() * sizeof(WCHAR));
  u.MaximumLength = static_cast<USHORT>(u.Length + sizeof(WCHAR));
  u.Buffer = storage.data();
}

NTSTATUS NTAPI invalidDeviceRequest(PDEVICE_OBJECT, PIRP irp) {
  if (irp != nullptr) {
    irp->IoStatus.Status = STATUS_INVALID_DEVICE_REQUEST;
    irp->IoStatus.Information = 0;
    IoCompleteRequest(irp, IO_NO_INCREMENT);
  }
  return STATUS_INVALID_DEVICE_REQUEST;
}

std::string describeDevice(const DeviceRecord& d) {
  if (d.name.empty()) return fmt::format("unnamed device object {}", static_cast<const void*>(d.object.get()));
  return fmt::format("device object {} ({})", openwfp::km::wideToUtf8(d.name.c_str(), -1),
                     static_cast<const void*>(d.object.get()));
}

// Unlinks a device from its driver's device list; gMu held.
void unlinkDevice(DEVICE_OBJECT* device) {
  DRIVER_OBJECT* driver = device->DriverObject;
  if (driver == nullptr) return;
  for (PDEVICE_OBJECT* link = &driver->DeviceObject; *link != nullptr; link = &(*link)->NextDevice) {
    if (*link == device) {
      *link = device->NextDevice;
      break;
    }
  }
  device->NextDevice = nullptr;
}

// Removes the device's name and list link, frees it unless work items still hold it; gMu held.
void deleteDeviceLocked(std::unordered_map<const DEVICE_OBJECT*, std::unique_ptr<DeviceRecord>>::iterator it) {
  DeviceRecord& rec = *it->second;
  if (!rec.deletePending) {
    unlinkDevice(rec.object.get());
    if (!rec.name.empty()) gDeviceNames.erase(lowered(rec.name));
    rec.deletePending = true;
  }
  if (rec.refs == 0) gDevices.erase(it);
}

}  // namespace

namespace openwfp::km {

void* createDriverObject(const std::string& name) {
  auto rec = std::make_unique<DriverRecord>();
  rec->name = name;
  rec->serviceName = widen(name);
  rec->driverName = L"\\Driver\\" + rec->serviceName;
  rec->registryPath = L"\\Registry\\Machine\\System\\CurrentControlSet\\Services\\" + rec->serviceName;
  setCounted(rec->registryPathString, rec->registryPath);
  DRIVER_OBJECT& d = rec->object;
  d.Type = kIoTypeDriver;
  d.Size = sizeof(DRIVER_OBJECT);
  d.DriverExtension = &rec->extension;
  rec->extension.DriverObject = &d;
  setCounted(rec->extension.ServiceKeyName, rec->serviceName);
  setCounted(d.DriverName, rec->driverName);
  d.HardwareDatabase = &gHardwareDatabase;
  for (auto& fn : d.MajorFunction) fn = invalidDeviceRequest;
  DRIVER_OBJECT* raw = &rec->object;
  std::lock_guard lock(gMu);
  gDrivers.emplace(raw, std::move(rec));
  return raw;
}

int32_t callDriverEntry(DriverEntryFn entry, void* driverObject) {
  auto* d = static_cast<DRIVER_OBJECT*>(driverObject);
  UNICODE_STRING* path = nullptr;
  {
    std::lock_guard lock(gMu);
    auto it = gDrivers.find(d);
    if (it != gDrivers.end()) path = &it->second->registryPathString;
  }
  d->DriverInit = entry;
  try {
    return entry(d, path);
  } catch (const std::exception& e) {
    spdlog::error("DriverEntry threw: {}", e.what());
  } catch (...) {
    spdlog::error("DriverEntry threw an exception");
  }
  return STATUS_UNSUCCESSFUL;
}

bool callDriverUnload(void* driverObject) {
  auto* d = static_cast<DRIVER_OBJECT*>(driverObject);
  if (d->DriverUnload == nullptr) return false;
  try {
    d->DriverUnload(d);
  } catch (const std::exception& e) {
    spdlog::error("DriverUnload threw: {}", e.what());
  } catch (...) {
    spdlog::error("DriverUnload threw an exception");
  }
  return true;
}

std::vector<std::string> releaseDriverResources(void* driverObject) {
  auto* d = static_cast<DRIVER_OBJECT*>(driverObject);
  std::vector<std::string> leaks;
  std::string name = driverNameOf(d);
  {
    std::lock_guard lock(gMu);
    for (auto it = gDevices.begin(); it != gDevices.end();) {
      auto next = std::next(it);
      if (it->second->object->DriverObject == d && !it->second->deletePending) {
        leaks.push_back(describeDevice(*it->second) + " not deleted (IoDeleteDevice)");
        deleteDeviceLocked(it);
      }
      it = next;
    }
    for (auto it = gLinks.begin(); it != gLinks.end();) {
      if (!name.empty() && it->second.creatorDriver == name) {
        leaks.push_back(fmt::format("symbolic link {} not deleted (IoDeleteSymbolicLink)",
                                    wideToUtf8(it->first.c_str(), -1)));
        it = gLinks.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& w : internal::releaseWorkItemsOf(d)) leaks.push_back(std::move(w));
  for (auto& w : device::releaseIrpsOf(d)) leaks.push_back(std::move(w));  // device_io.cpp
  return leaks;
}

void destroyDriverObject(void* driverObject) {
  std::lock_guard lock(gMu);
  gDrivers.erase(static_cast<const DRIVER_OBJECT*>(driverObject));
}

std::string driverNameOf(const void* driverObject) {
  std::lock_guard lock(gMu);
  auto it = gDrivers.find(static_cast<const DRIVER_OBJECT*>(driverObject));
  return it == gDrivers.end() ? std::string() : it->second->name;
}

// Device registry hooks for device_io.cpp (declared in km/device_io.h).
PDEVICE_OBJECT referenceDeviceByName(const std::wstring& ntName) {
  std::lock_guard lock(gMu);
  std::wstring key = lowered(ntName);
  for (int hops = 0; hops <= 4; ++hops) {
    if (auto d = gDeviceNames.find(key); d != gDeviceNames.end()) {
      auto rec = gDevices.find(d->second);
      if (rec == gDevices.end() || rec->second->deletePending) return nullptr;
      ++rec->second->refs;
      return rec->second->object.get();
    }
    auto link = gLinks.find(key);
    if (link == gLinks.end()) return nullptr;
    key = lowered(link->second.target);
  }
  return nullptr;
}

bool deviceIsLive(const DEVICE_OBJECT* device) {
  std::lock_guard lock(gMu);
  auto it = gDevices.find(device);
  return it != gDevices.end() && !it->second->deletePending;
}

void setIrpCompletionHandler(std::function<void(void*)> handler) {
  std::lock_guard lock(gMu);
  gIrpCompletion = std::move(handler);
}

namespace internal {

void reportMisuse(std::string message) {
  Runtime::current().verifier().report(
      {verifier::Code::KernelApiMisuse, std::move(message), verifier::currentDriver(), "", 0});
}

void deviceAddRef(PDEVICE_OBJECT device) {
  std::lock_guard lock(gMu);
  auto it = gDevices.find(device);
  if (it != gDevices.end()) ++it->second->refs;
}

void deviceRelease(PDEVICE_OBJECT device) {
  std::lock_guard lock(gMu);
  auto it = gDevices.find(device);
  if (it == gDevices.end()) return;
  if (--it->second->refs == 0 && it->second->deletePending) gDevices.erase(it);
}

}  // namespace internal

uint32_t deviceAccessFor(const DEVICE_OBJECT* device, const security::Opener& opener) {
  std::shared_ptr<const security::Descriptor> descriptor;
  {
    std::lock_guard lock(gMu);
    auto it = gDevices.find(device);
    if (it == gDevices.end()) return 0;
    descriptor = it->second->security;
  }
  return security::grantedAccess(descriptor ? *descriptor : security::defaultDescriptor(), opener);
}

}  // namespace openwfp::km

using openwfp::km::internal::reportMisuse;

extern "C" {

NTSTATUS NTAPI IoCreateDevice(PDRIVER_OBJECT DriverObject, ULONG DeviceExtensionSize, PUNICODE_STRING DeviceName,
                              DEVICE_TYPE DeviceType, ULONG DeviceCharacteristics, BOOLEAN Exclusive,
                              PDEVICE_OBJECT* DeviceObject) {
  if (DeviceObject != nullptr) *DeviceObject = nullptr;
  if (DriverObject == nullptr || DeviceObject == nullptr) {
    openwfp::Runtime::current().verifier().report({openwfp::verifier::Code::InvalidArgument,
                                                   "IoCreateDevice: NULL DriverObject or DeviceObject",
                                                   openwfp::verifier::currentDriver(), "", 0});
    return STATUS_INVALID_PARAMETER;
  }
  auto rec = std::make_unique<DeviceRecord>();
  rec->name = fromCounted(DeviceName);
  rec->creatorDriver = openwfp::verifier::currentDriver();
  if (DeviceExtensionSize > 0) {
    rec->extension = std::calloc(1, DeviceExtensionSize);  // zeroed, as documented
    if (rec->extension == nullptr) return STATUS_INSUFFICIENT_RESOURCES;
  }
  rec->object = std::make_unique<DEVICE_OBJECT>();
  DEVICE_OBJECT& dev = *rec->object;
  dev.Type = kIoTypeDevice;
  dev.Size = static_cast<USHORT>(sizeof(DEVICE_OBJECT) + (DeviceExtensionSize > 0xFFFF ? 0 : DeviceExtensionSize));
  dev.DriverObject = DriverObject;
  dev.Flags = DO_DEVICE_INITIALIZING | (Exclusive ? DO_EXCLUSIVE : 0);
  dev.Characteristics = DeviceCharacteristics;
  dev.DeviceExtension = rec->extension;
  dev.DeviceType = DeviceType;
  dev.StackSize = 1;

  std::lock_guard lock(gMu);
  if (!rec->name.empty()) {
    auto key = lowered(rec->name);
    if (gDeviceNames.count(key) != 0) return STATUS_OBJECT_NAME_COLLISION;
    gDeviceNames.emplace(key, &dev);
  }
  dev.NextDevice = DriverObject->DeviceObject;  // newest first, as the I/O manager links them
  DriverObject->DeviceObject = &dev;
  *DeviceObject = &dev;
  gDevices.emplace(&dev, std::move(rec));
  return STATUS_SUCCESS;
}

NTSTATUS NTAPI IoCreateDeviceSecure(PDRIVER_OBJECT DriverObject, ULONG DeviceExtensionSize, PUNICODE_STRING DeviceName,
                                    DEVICE_TYPE DeviceType, ULONG DeviceCharacteristics, BOOLEAN Exclusive,
                                    PCUNICODE_STRING DefaultSDDLString, LPCGUID DeviceClassGuid,
                                    PDEVICE_OBJECT* DeviceObject) {
  (void)DeviceClassGuid;  // no class registry here: the string is the descriptor
  if (DeviceObject != nullptr) *DeviceObject = nullptr;
  std::string error = "IoCreateDeviceSecure: NULL DefaultSDDLString";
  std::optional<openwfp::km::security::Descriptor> parsed;
  if (DefaultSDDLString != nullptr && DefaultSDDLString->Buffer != nullptr) {
    parsed = openwfp::km::security::parse(std::wstring_view(fromCounted(DefaultSDDLString)), error);
    if (!parsed) error = "IoCreateDeviceSecure: " + error;
  }
  if (!parsed) {
    openwfp::Runtime::current().verifier().report(
        {openwfp::verifier::Code::InvalidArgument, error, openwfp::verifier::currentDriver(), "", 0});
    return STATUS_INVALID_PARAMETER;
  }
  NTSTATUS status = IoCreateDevice(DriverObject, DeviceExtensionSize, DeviceName, DeviceType, DeviceCharacteristics,
                                   Exclusive, DeviceObject);
  if (!NT_SUCCESS(status)) return status;
  std::lock_guard lock(gMu);
  auto it = gDevices.find(*DeviceObject);
  if (it != gDevices.end()) {
    it->second->security = std::make_shared<const openwfp::km::security::Descriptor>(std::move(*parsed));
  }
  return status;
}

void NTAPI IoDeleteDevice(PDEVICE_OBJECT DeviceObject) {
  {
    std::lock_guard lock(gMu);
    auto it = gDevices.find(DeviceObject);
    if (it != gDevices.end() && !it->second->deletePending) {
      deleteDeviceLocked(it);
      return;
    }
  }
  reportMisuse(fmt::format("IoDeleteDevice({}): not a live device object (deleted twice?)",
                           static_cast<void*>(DeviceObject)));
}

NTSTATUS NTAPI IoCreateSymbolicLink(PUNICODE_STRING SymbolicLinkName, PUNICODE_STRING DeviceName) {
  if (SymbolicLinkName == nullptr || SymbolicLinkName->Buffer == nullptr || DeviceName == nullptr ||
      DeviceName->Buffer == nullptr) {
    return STATUS_INVALID_PARAMETER;
  }
  auto key = lowered(fromCounted(SymbolicLinkName));
  std::lock_guard lock(gMu);
  if (gLinks.count(key) != 0) return STATUS_OBJECT_NAME_COLLISION;
  gLinks.emplace(key, LinkRecord{fromCounted(DeviceName), openwfp::verifier::currentDriver()});
  return STATUS_SUCCESS;
}

NTSTATUS NTAPI IoDeleteSymbolicLink(PUNICODE_STRING SymbolicLinkName) {
  if (SymbolicLinkName == nullptr || SymbolicLinkName->Buffer == nullptr) return STATUS_INVALID_PARAMETER;
  std::lock_guard lock(gMu);
  return gLinks.erase(lowered(fromCounted(SymbolicLinkName))) == 1 ? STATUS_SUCCESS : STATUS_OBJECT_NAME_NOT_FOUND;
}

void NTAPI IoCompleteRequest(PIRP Irp, CCHAR PriorityBoost) {
  (void)PriorityBoost;
  if (Irp == nullptr) {
    reportMisuse("IoCompleteRequest(NULL)");
    return;
  }
  if (IoSetCancelRoutine(Irp, nullptr) != nullptr) {
    // Windows bugchecks (CANCEL_STATE_IN_COMPLETED_IRP): a later IoCancelIrp would call the
    // routine for an IRP that no longer belongs to the driver.
    reportMisuse(fmt::format("IoCompleteRequest({}) with a cancel routine still set: clear it with "
                             "IoSetCancelRoutine(Irp, NULL) before completing; cleared by openwfp",
                             static_cast<void*>(Irp)));
  }
  std::function<void(void*)> handler;
  {
    std::lock_guard lock(gMu);
    handler = gIrpCompletion;
  }
  if (handler) handler(Irp);
}

}  // extern "C"

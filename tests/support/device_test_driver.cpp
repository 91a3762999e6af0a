// tests/support/device_test_driver.cpp - the in-process test drivers of device_test_driver.h, written
// against the WDK API as a Windows control-device driver would be.
#include <ntddk.h>
#include <wdmsec.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include "km/device_io.h"
#include "support/device_test_driver.h"
#include "verifier/verifier.h"

namespace {

// What the test driver saw, guarded by gLock.
KSPIN_LOCK gLock;
LIST_ENTRY gPended;  // IRPs of kPend
LIST_ENTRY gCancelable;  // IRPs of kPendCancelable (each with tdCancel set)
PDEVICE_OBJECT gDevice;
std::atomic<uint64_t> gNextFileId{1};
std::mutex gEventsMu;
std::vector<devtest::Event> gEvents;
std::atomic<int> gAttachedReadEnd{-1};

void record(UCHAR major, PIRP irp) {
  PIO_STACK_LOCATION s = IoGetCurrentIrpStackLocation(irp);
  std::lock_guard lock(gEventsMu);
  gEvents.push_back({static_cast<uint8_t>(major), reinterpret_cast<uint64_t>(PsGetCurrentProcessId()),
                     reinterpret_cast<uint64_t>(s->FileObject->FsContext)});
}


NTSTATUS complete(PIRP irp, NTSTATUS status, ULONG_PTR information) {
  irp->IoStatus.Status = status;
  irp->IoStatus.Information = information;
  IoCompleteRequest(irp, IO_NO_INCREMENT);
  return status;
}

NTSTATUS NTAPI tdCreate(PDEVICE_OBJECT, PIRP irp) {
  PIO_STACK_LOCATION s = IoGetCurrentIrpStackLocation(irp);
  s->FileObject->FsContext = reinterpret_cast<PVOID>(gNextFileId.fetch_add(1));
  record(IRP_MJ_CREATE, irp);
  return complete(irp, STATUS_SUCCESS, 0);
}

NTSTATUS NTAPI tdClose(PDEVICE_OBJECT, PIRP irp) {
  record(IRP_MJ_CLOSE, irp);
  return complete(irp, STATUS_SUCCESS, 0);
}

void NTAPI tdCancel(PDEVICE_OBJECT, PIRP irp) {
  IoReleaseCancelSpinLock(irp->CancelIrql);
  KIRQL irql;
  KeAcquireSpinLock(&gLock, &irql);
  RemoveEntryList(&irp->Tail.Overlay.ListEntry);
  KeReleaseSpinLock(&gLock, irql);
  record(devtest::kCancelRoutine, irp);
  complete(irp, STATUS_CANCELLED, 0);
}

// Completes this file's pended IRPs with STATUS_CANCELLED, as a driver must at cleanup.
NTSTATUS NTAPI tdCleanup(PDEVICE_OBJECT, PIRP irp) {
  record(IRP_MJ_CLEANUP, irp);
  PFILE_OBJECT file = IoGetCurrentIrpStackLocation(irp)->FileObject;
  LIST_ENTRY mine;
  InitializeListHead(&mine);
  KIRQL irql;
  KeAcquireSpinLock(&gLock, &irql);
  for (PLIST_ENTRY e = gPended.Flink; e != &gPended;) {
    PIRP p = CONTAINING_RECORD(e, IRP, Tail.Overlay.ListEntry);
    e = e->Flink;
    if (IoGetCurrentIrpStackLocation(p)->FileObject == file) {
      RemoveEntryList(&p->Tail.Overlay.ListEntry);
      InsertTailList(&mine, &p->Tail.Overlay.ListEntry);
    }
  }
  for (PLIST_ENTRY e = gCancelable.Flink; e != &gCancelable;) {
    PIRP p = CONTAINING_RECORD(e, IRP, Tail.Overlay.ListEntry);
    e = e->Flink;
    // Only IRPs whose cancel routine can be taken back: the others are being cancelled.
    if (IoGetCurrentIrpStackLocation(p)->FileObject == file && IoSetCancelRoutine(p, nullptr) != nullptr) {
      RemoveEntryList(&p->Tail.Overlay.ListEntry);
      InsertTailList(&mine, &p->Tail.Overlay.ListEntry);
    }
  }
  KeReleaseSpinLock(&gLock, irql);
  while (!IsListEmpty(&mine)) {
    complete(CONTAINING_RECORD(RemoveHeadList(&mine), IRP, Tail.Overlay.ListEntry), STATUS_CANCELLED, 0);
  }
  return complete(irp, STATUS_SUCCESS, 0);
}

// Completes every pended IRP with `value` as 8 bytes of output.
void releaseAllPended(uint64_t value) {
  LIST_ENTRY all;
  InitializeListHead(&all);
  KIRQL irql;
  KeAcquireSpinLock(&gLock, &irql);
  while (!IsListEmpty(&gPended)) InsertTailList(&all, RemoveHeadList(&gPended));
  KeReleaseSpinLock(&gLock, irql);
  while (!IsListEmpty(&all)) {
    PIRP p = CONTAINING_RECORD(RemoveHeadList(&all), IRP, Tail.Overlay.ListEntry);
    std::memcpy(p->AssociatedIrp.SystemBuffer, &value, sizeof value);
    complete(p, STATUS_SUCCESS, sizeof value);
  }
}

NTSTATUS NTAPI tdControl(PDEVICE_OBJECT, PIRP irp) {
  PIO_STACK_LOCATION s = IoGetCurrentIrpStackLocation(irp);
  const ULONG code = s->Parameters.DeviceIoControl.IoControlCode;
  const ULONG inLen = s->Parameters.DeviceIoControl.InputBufferLength;
  const ULONG outLen = s->Parameters.DeviceIoControl.OutputBufferLength;
  void* buffer = irp->AssociatedIrp.SystemBuffer;
  record(IRP_MJ_DEVICE_CONTROL, irp);
  switch (code) {
    case devtest::kEcho:
      if (outLen < inLen) return complete(irp, STATUS_BUFFER_TOO_SMALL, 0);
      return complete(irp, STATUS_SUCCESS, inLen);  // the input is already in the buffer
    case devtest::kEchoNeither:
      if (s->Parameters.DeviceIoControl.Type3InputBuffer != buffer || irp->UserBuffer != buffer) {
        return complete(irp, STATUS_INVALID_PARAMETER, 0);
      }
      return complete(irp, STATUS_SUCCESS, inLen);
    case devtest::kWhoAmI: {
      if (outLen < sizeof(devtest::WhoAmI)) return complete(irp, STATUS_BUFFER_TOO_SMALL, 0);
      devtest::WhoAmI w{};
      w.currentPid = reinterpret_cast<uint64_t>(PsGetCurrentProcessId());
      w.requestorPid = IoGetRequestorProcessId(irp);
      w.fileId = reinterpret_cast<uint64_t>(s->FileObject->FsContext);
      w.irql = KeGetCurrentIrql();
      w.driverNamed = openwfp::verifier::currentDriver() == "testdev";
      std::memcpy(buffer, &w, sizeof w);
      return complete(irp, STATUS_SUCCESS, sizeof w);
    }
    case devtest::kPend: {
      if (outLen < sizeof(uint64_t)) return complete(irp, STATUS_BUFFER_TOO_SMALL, 0);
      IoMarkIrpPending(irp);
      KIRQL irql;
      KeAcquireSpinLock(&gLock, &irql);
      InsertTailList(&gPended, &irp->Tail.Overlay.ListEntry);
      KeReleaseSpinLock(&gLock, irql);
      return STATUS_PENDING;
    }
    case devtest::kPendCancelable: {
      KIRQL irql;
      KeAcquireSpinLock(&gLock, &irql);
      IoSetCancelRoutine(irp, tdCancel);
      if (irp->Cancel && IoSetCancelRoutine(irp, nullptr) != nullptr) {
        KeReleaseSpinLock(&gLock, irql);
        return complete(irp, STATUS_CANCELLED, 0);
      }
      IoMarkIrpPending(irp);
      InsertTailList(&gCancelable, &irp->Tail.Overlay.ListEntry);
      KeReleaseSpinLock(&gLock, irql);
      return STATUS_PENDING;
    }
    case devtest::kRelease: {
      uint64_t value = 0;
      if (inLen >= sizeof value) std::memcpy(&value, buffer, sizeof value);
      releaseAllPended(value);
      return complete(irp, STATUS_SUCCESS, 0);
    }
    case devtest::kOverflow:
      if (outLen < 4) return complete(irp, STATUS_BUFFER_TOO_SMALL, 0);
      std::memcpy(buffer, "part", 4);
      return complete(irp, STATUS_BUFFER_OVERFLOW, 4);
    case devtest::kBadInformation:
      std::memset(buffer, 'x', outLen);
      return complete(irp, STATUS_SUCCESS, outLen + 10);
    case devtest::kNoComplete:
      return STATUS_SUCCESS;  // bug: neither completed nor pending
    case devtest::kPendNoMark: {
      KIRQL irql;  // bug: pends without IoMarkIrpPending
      KeAcquireSpinLock(&gLock, &irql);
      InsertTailList(&gPended, &irp->Tail.Overlay.ListEntry);
      KeReleaseSpinLock(&gLock, irql);
      return STATUS_PENDING;
    }
    case devtest::kReleaseTwice: {
      complete(irp, STATUS_SUCCESS, 0);
      IoCompleteRequest(irp, IO_NO_INCREMENT);  // bug: completed twice
      return STATUS_SUCCESS;
    }
    case devtest::kAttach: {
      int p[2];
      if (pipe2(p, O_CLOEXEC) != 0) return complete(irp, STATUS_INSUFFICIENT_RESOURCES, 0);
      if (!openwfp::km::device::attachDescriptor(irp, openwfp::km::device::adoptDescriptor(p[1]))) {
        close(p[0]);
        return complete(irp, STATUS_INVALID_PARAMETER, 0);
      }
      const int old = gAttachedReadEnd.exchange(p[0]);
      if (old >= 0) close(old);
      const bool fail = inLen >= 1 && static_cast<const uint8_t*>(buffer)[0] == 1;
      return complete(irp, fail ? STATUS_UNSUCCESSFUL : STATUS_SUCCESS, 0);
    }
    default:
      return complete(irp, STATUS_INVALID_DEVICE_REQUEST, 0);
  }
}

void NTAPI tdUnload(PDRIVER_OBJECT) {
  UNICODE_STRING link;
  RtlInitUnicodeString(&link, L"\\DosDevices\\OwfpTestDev");
  IoDeleteSymbolicLink(&link);
  IoDeleteDevice(gDevice);
}

NTSTATUS NTAPI tdEntry(PDRIVER_OBJECT driver, PUNICODE_STRING) {
  KeInitializeSpinLock(&gLock);
  InitializeListHead(&gPended);
  InitializeListHead(&gCancelable);
  UNICODE_STRING name, link;
  RtlInitUnicodeString(&name, L"\\Device\\OwfpTestDev");
  NTSTATUS status = IoCreateDevice(driver, 0, &name, FILE_DEVICE_UNKNOWN, FILE_DEVICE_SECURE_OPEN, FALSE, &gDevice);
  if (!NT_SUCCESS(status)) return status;
  RtlInitUnicodeString(&link, L"\\DosDevices\\OwfpTestDev");
  status = IoCreateSymbolicLink(&link, &name);
  if (!NT_SUCCESS(status)) {
    IoDeleteDevice(gDevice);
    return status;
  }
  driver->MajorFunction[IRP_MJ_CREATE] = tdCreate;
  driver->MajorFunction[IRP_MJ_CLOSE] = tdClose;
  driver->MajorFunction[IRP_MJ_CLEANUP] = tdCleanup;
  driver->MajorFunction[IRP_MJ_DEVICE_CONTROL] = tdControl;
  driver->DriverUnload = tdUnload;
  return STATUS_SUCCESS;
}

// A driver with a device but no DEVICE_CONTROL routine (explicitly NULL) and an exclusive one.
PDEVICE_OBJECT gBareDevice;
void NTAPI bareUnload(PDRIVER_OBJECT) {
  UNICODE_STRING link;
  RtlInitUnicodeString(&link, L"\\??\\OwfpBareDev");
  IoDeleteSymbolicLink(&link);
  IoDeleteDevice(gBareDevice);
}
NTSTATUS NTAPI bareEntry(PDRIVER_OBJECT driver, PUNICODE_STRING) {
  UNICODE_STRING name, link;
  RtlInitUnicodeString(&name, L"\\Device\\OwfpBareDev");
  NTSTATUS status = IoCreateDevice(driver, 0, &name, FILE_DEVICE_UNKNOWN, 0, TRUE, &gBareDevice);
  if (!NT_SUCCESS(status)) return status;
  RtlInitUnicodeString(&link, L"\\??\\OwfpBareDev");
  status = IoCreateSymbolicLink(&link, &name);
  if (!NT_SUCCESS(status)) return status;
  driver->MajorFunction[IRP_MJ_CREATE] = tdClose;  // succeeds, records nothing of interest
  driver->MajorFunction[IRP_MJ_CLOSE] = tdClose;
  driver->MajorFunction[IRP_MJ_DEVICE_CONTROL] = nullptr;
  driver->DriverUnload = bareUnload;
  return STATUS_SUCCESS;
}

// A driver whose device has a security descriptor (IoCreateDeviceSecure with gSecureSddl).
PDEVICE_OBJECT gSecureDevice;
std::wstring gSecureSddl = L"D:P(A;;GA;;;SY)";
void NTAPI secureUnload(PDRIVER_OBJECT) {
  UNICODE_STRING link;
  RtlInitUnicodeString(&link, L"\\DosDevices\\OwfpSecureDev");
  IoDeleteSymbolicLink(&link);
  IoDeleteDevice(gSecureDevice);
}
NTSTATUS NTAPI secureEntry(PDRIVER_OBJECT driver, PUNICODE_STRING) {
  UNICODE_STRING name, link, sddl;
  RtlInitUnicodeString(&name, L"\\Device\\OwfpSecureDev");
  RtlInitUnicodeString(&sddl, gSecureSddl.c_str());
  NTSTATUS status = IoCreateDeviceSecure(driver, 0, &name, FILE_DEVICE_UNKNOWN, FILE_DEVICE_SECURE_OPEN, FALSE, &sddl,
                                         nullptr, &gSecureDevice);
  if (!NT_SUCCESS(status)) return status;
  RtlInitUnicodeString(&link, L"\\DosDevices\\OwfpSecureDev");
  status = IoCreateSymbolicLink(&link, &name);
  if (!NT_SUCCESS(status)) {
    IoDeleteDevice(gSecureDevice);
    return status;
  }
  driver->MajorFunction[IRP_MJ_CREATE] = tdClose;
  driver->MajorFunction[IRP_MJ_CLOSE] = tdClose;
  driver->MajorFunction[IRP_MJ_DEVICE_CONTROL] = nullptr;  // reached: INVALID_DEVICE_REQUEST
  driver->DriverUnload = secureUnload;
  return STATUS_SUCCESS;
}

}  // namespace

namespace devtest {

EntryFn secureDriverEntry(const wchar_t* sddl) {
  gSecureSddl = sddl;
  return secureEntry;
}
EntryFn testDriverEntry() { return tdEntry; }
EntryFn bareDriverEntry() { return bareEntry; }

std::vector<Event> events() {
  std::lock_guard lock(gEventsMu);
  return gEvents;
}

void clearEvents() {
  std::lock_guard lock(gEventsMu);
  gEvents.clear();
}

size_t count(uint8_t major) {
  size_t n = 0;
  for (const auto& e : events()) n += e.major == major;
  return n;
}

bool waitForCount(uint8_t major, size_t n, int ms) {
  for (int waited = 0; waited <= ms; waited += 5) {
    if (count(major) >= n) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

size_t pendedCount() {
  size_t n = 0;
  KIRQL irql;
  KeAcquireSpinLock(&gLock, &irql);
  for (PLIST_ENTRY e = gPended.Flink; e != &gPended; e = e->Flink) ++n;
  KeReleaseSpinLock(&gLock, irql);
  return n;
}

size_t cancelablePendedCount() {
  size_t n = 0;
  KIRQL irql;
  KeAcquireSpinLock(&gLock, &irql);
  for (PLIST_ENTRY e = gCancelable.Flink; e != &gCancelable; e = e->Flink) ++n;
  KeReleaseSpinLock(&gLock, irql);
  return n;
}

bool waitForPended(size_t n, int ms) {
  for (int waited = 0; waited <= ms; waited += 5) {
    if (pendedCount() >= n) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

void releaseAll(uint64_t value) { releaseAllPended(value); }

void* takeOldestPended() {
  KIRQL irql;
  KeAcquireSpinLock(&gLock, &irql);
  PIRP irp = nullptr;
  if (!IsListEmpty(&gPended)) irp = CONTAINING_RECORD(RemoveHeadList(&gPended), IRP, Tail.Overlay.ListEntry);
  KeReleaseSpinLock(&gLock, irql);
  return irp;
}

void completeTaken(void* irp, int32_t status) { complete(static_cast<PIRP>(irp), status, 0); }

int takeAttachedReadEnd() { return gAttachedReadEnd.exchange(-1); }

}  // namespace devtest

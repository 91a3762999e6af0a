// S1.1 (a Windows callout driver with a proxy channel runs unchanged): IRP cancellation
// (src/km/irp_cancel.cpp): IoSetCancelRoutine, IoCancelIrp, the cancel spin lock, cancel on
// client disconnect (S10.2); S11.1 misuse reports (cancel lock kept, IRP completed with its cancel
// routine set). Timeouts here are generous failure guards only; no assertion depends on timing.
#include <ntddk.h>

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <future>
#include <mutex>
#include <string>
#include <vector>

#include "km/device_io.h"
#include "km_test_support.h"
#include "openwfp/host.h"
#include "openwfp/openwfp.h"
#include "verifier/verifier.h"

using kmtest::eventually;
using kmtest::KernelObjects;
using kmtest::ManualIrp;
using openwfp::Runtime;
using openwfp::host::DriverHost;
using openwfp::verifier::Code;

namespace {

std::atomic<int> gCancelCalls{0};
std::atomic<int> gIrqlInCancel{-1};
std::atomic<int> gCancelIrqlSeen{-1};
std::atomic<bool> gCancelFlagSeen{false};
std::string gCancelDriver;

void NTAPI releasingCancel(PDEVICE_OBJECT, PIRP irp) {
  ++gCancelCalls;
  gIrqlInCancel = KeGetCurrentIrql();
  gCancelIrqlSeen = irp->CancelIrql;
  gCancelFlagSeen = irp->Cancel == TRUE;
  gCancelDriver = openwfp::verifier::currentDriver();
  IoReleaseCancelSpinLock(irp->CancelIrql);
}

void NTAPI keepingCancel(PDEVICE_OBJECT, PIRP) { ++gCancelCalls; }  // forgets the release

}  // namespace

TEST_F(KernelObjects, S1_1_IoCancelIrpWithoutRoutineOnlyMarksTheIrp) {
  ManualIrp m;
  EXPECT_FALSE(IoCancelIrp(&m.irp));
  EXPECT_TRUE(m.irp.Cancel);
  EXPECT_EQ(KeGetCurrentIrql(), PASSIVE_LEVEL);
  EXPECT_EQ(count(Code::KernelApiMisuse), 0u);
}

TEST_F(KernelObjects, S1_1_IoCancelIrpCallsTheRoutineWithTheCancelLockHeld) {
  gCancelCalls = 0;
  ManualIrp m;
  EXPECT_EQ(IoSetCancelRoutine(&m.irp, releasingCancel), nullptr);
  EXPECT_EQ(IoSetCancelRoutine(&m.irp, releasingCancel), releasingCancel) << "returns the previous routine";
  EXPECT_TRUE(IoCancelIrp(&m.irp));
  EXPECT_EQ(gCancelCalls.load(), 1);
  EXPECT_EQ(gIrqlInCancel.load(), DISPATCH_LEVEL) << "called holding the cancel spin lock";
  EXPECT_EQ(gCancelIrqlSeen.load(), PASSIVE_LEVEL) << "Irp->CancelIrql = the caller's IRQL";
  EXPECT_TRUE(gCancelFlagSeen.load());
  EXPECT_EQ(m.irp.CancelRoutine, nullptr) << "taken out of the IRP before the call";
  EXPECT_EQ(KeGetCurrentIrql(), PASSIVE_LEVEL);
  EXPECT_FALSE(IoCancelIrp(&m.irp)) << "a second cancel finds no routine";
  EXPECT_EQ(gCancelCalls.load(), 1);
  // The cancel spin lock is free again.
  KIRQL irql;
  IoAcquireCancelSpinLock(&irql);
  EXPECT_EQ(KeGetCurrentIrql(), DISPATCH_LEVEL);
  IoReleaseCancelSpinLock(irql);
  EXPECT_EQ(count(Code::KernelApiMisuse), 0u);
}

TEST_F(KernelObjects, S11_1_CancelRoutineKeepingTheCancelLockIsReported) {
  gCancelCalls = 0;
  ManualIrp m;
  IoSetCancelRoutine(&m.irp, keepingCancel);
  EXPECT_TRUE(IoCancelIrp(&m.irp));
  EXPECT_EQ(gCancelCalls.load(), 1);
  EXPECT_EQ(count(Code::KernelApiMisuse), 1u);
  EXPECT_EQ(KeGetCurrentIrql(), PASSIVE_LEVEL) << "released (and IRQL restored) by openwfp";
  KIRQL irql;
  IoAcquireCancelSpinLock(&irql);  // would abort if still held by this thread
  IoReleaseCancelSpinLock(irql);
}

// A driver with a named device whose IOCTLs are pended in a cancel-safe way (IoSetCancelRoutine,
// Irp->Cancel check); its CLEANUP completes what is still queued.
namespace {

constexpr const char* kCancelPath = "\\\\.\\OwfpCancelDev";
constexpr uint32_t kPendIoctl = (0x22u << 16) | (0x901u << 2);
constexpr uint32_t kCompleteCancelableIoctl = (0x22u << 16) | (0x902u << 2);  // misuse
KSPIN_LOCK gQueueLock;
LIST_ENTRY gQueue;
PDEVICE_OBJECT gCancelDevice = nullptr;
std::mutex gLogMu;
std::vector<std::string> gLog;

void logEvent(const std::string& e) {
  std::lock_guard lock(gLogMu);
  gLog.push_back(e);
}
std::vector<std::string> logged() {
  std::lock_guard lock(gLogMu);
  return gLog;
}

void completeIrp(PIRP irp, NTSTATUS status) {
  irp->IoStatus.Status = status;
  irp->IoStatus.Information = 0;
  IoCompleteRequest(irp, IO_NO_INCREMENT);
}

void NTAPI queueCancel(PDEVICE_OBJECT, PIRP irp) {
  IoReleaseCancelSpinLock(irp->CancelIrql);
  KIRQL irql;
  KeAcquireSpinLock(&gQueueLock, &irql);
  RemoveEntryList(&irp->Tail.Overlay.ListEntry);
  KeReleaseSpinLock(&gQueueLock, irql);
  logEvent("cancel:" + openwfp::verifier::currentDriver());
  completeIrp(irp, STATUS_CANCELLED);
}

NTSTATUS NTAPI cancelDevCreateClose(PDEVICE_OBJECT, PIRP irp) {
  UCHAR major = IoGetCurrentIrpStackLocation(irp)->MajorFunction;
  if (major == IRP_MJ_CLEANUP) {
    logEvent("cleanup");
    // Complete what is still queued (IRPs whose cancel routine we can still take back).
    for (;;) {
      PIRP queued = nullptr;
      KIRQL irql;
      KeAcquireSpinLock(&gQueueLock, &irql);
      for (PLIST_ENTRY e = gQueue.Flink; e != &gQueue; e = e->Flink) {
        PIRP candidate = CONTAINING_RECORD(e, IRP, Tail.Overlay.ListEntry);
        if (IoSetCancelRoutine(candidate, nullptr) != nullptr) {
          RemoveEntryList(e);
          queued = candidate;
          break;
        }
      }
      KeReleaseSpinLock(&gQueueLock, irql);
      if (queued == nullptr) break;
      logEvent("cleanup-completes");
      completeIrp(queued, STATUS_CANCELLED);
    }
  }
  completeIrp(irp, STATUS_SUCCESS);
  return STATUS_SUCCESS;
}

NTSTATUS NTAPI cancelDevControl(PDEVICE_OBJECT, PIRP irp) {
  const ULONG code = IoGetCurrentIrpStackLocation(irp)->Parameters.DeviceIoControl.IoControlCode;
  if (code == kCompleteCancelableIoctl) {
    IoSetCancelRoutine(irp, queueCancel);  // and completes without clearing it
    completeIrp(irp, STATUS_SUCCESS);
    return STATUS_SUCCESS;
  }
  if (code != kPendIoctl) {
    completeIrp(irp, STATUS_INVALID_DEVICE_REQUEST);
    return STATUS_INVALID_DEVICE_REQUEST;
  }
  KIRQL irql;
  KeAcquireSpinLock(&gQueueLock, &irql);
  IoSetCancelRoutine(irp, queueCancel);
  if (irp->Cancel && IoSetCancelRoutine(irp, nullptr) != nullptr) {
    KeReleaseSpinLock(&gQueueLock, irql);
    completeIrp(irp, STATUS_CANCELLED);
    return STATUS_CANCELLED;
  }
  IoMarkIrpPending(irp);
  InsertTailList(&gQueue, &irp->Tail.Overlay.ListEntry);
  KeReleaseSpinLock(&gQueueLock, irql);
  logEvent("pended");
  return STATUS_PENDING;
}

void NTAPI cancelDevUnload(PDRIVER_OBJECT) {
  UNICODE_STRING link;
  RtlInitUnicodeString(&link, L"\\DosDevices\\OwfpCancelDev");
  IoDeleteSymbolicLink(&link);
  IoDeleteDevice(gCancelDevice);
}

NTSTATUS NTAPI cancelDevEntry(PDRIVER_OBJECT driver, PUNICODE_STRING) {
  KeInitializeSpinLock(&gQueueLock);
  InitializeListHead(&gQueue);
  UNICODE_STRING name, link;
  RtlInitUnicodeString(&name, L"\\Device\\OwfpCancelDev");
  RtlInitUnicodeString(&link, L"\\DosDevices\\OwfpCancelDev");
  NTSTATUS status = IoCreateDevice(driver, 0, &name, FILE_DEVICE_UNKNOWN, 0, FALSE, &gCancelDevice);
  if (!NT_SUCCESS(status)) return status;
  status = IoCreateSymbolicLink(&link, &name);
  if (!NT_SUCCESS(status)) {
    IoDeleteDevice(gCancelDevice);
    return status;
  }
  driver->MajorFunction[IRP_MJ_CREATE] = cancelDevCreateClose;
  driver->MajorFunction[IRP_MJ_CLEANUP] = cancelDevCreateClose;
  driver->MajorFunction[IRP_MJ_CLOSE] = cancelDevCreateClose;
  driver->MajorFunction[IRP_MJ_DEVICE_CONTROL] = cancelDevControl;
  driver->DriverUnload = cancelDevUnload;
  return STATUS_SUCCESS;
}

class CancelDevice : public KernelObjects {
 protected:
  void SetUp() override {
    KernelObjects::SetUp();
    {
      std::lock_guard lock(gLogMu);
      gLog.clear();
    }
    ASSERT_TRUE(host_.load(cancelDevEntry, "canceldev"));
  }
  void TearDown() override {
    EXPECT_TRUE(host_.unloadAll().empty());
    KernelObjects::TearDown();
  }
  DriverHost host_;
};

}  // namespace

TEST_F(CancelDevice, S10_2_ClientGoneCancelsPendedIrpsBeforeCleanup) {
  int32_t status = 0;
  auto file = openwfp::km::device::open(kCancelPath, static_cast<uint64_t>(getpid()), status);
  ASSERT_TRUE(file) << std::hex << status;
  std::promise<openwfp::km::device::IoResult> first, second;
  openwfp::km::device::ioctl(file, kPendIoctl, {}, 0, 1, [&](auto r) { first.set_value(std::move(r)); });
  openwfp::km::device::ioctl(file, kPendIoctl, {}, 0, 1, [&](auto r) { second.set_value(std::move(r)); });
  ASSERT_EQ(openwfp::km::device::outstandingIrps(), 2u);
  EXPECT_EQ(openwfp::km::device::closeAbandoned(file, 1), STATUS_SUCCESS);
  EXPECT_EQ(first.get_future().get().status, STATUS_CANCELLED);
  EXPECT_EQ(second.get_future().get().status, STATUS_CANCELLED);
  auto log = logged();
  ASSERT_EQ(log.size(), 5u);
  EXPECT_EQ(log[2], "cancel:canceldev") << "the cancel routine runs in its driver's scope";
  EXPECT_EQ(log[3], "cancel:canceldev");
  EXPECT_EQ(log[4], "cleanup") << "cancelled before CLEANUP, nothing left for it";
  EXPECT_TRUE(eventually([] { return openwfp::km::device::outstandingIrps() == 0; }));
  EXPECT_EQ(count(Code::KernelApiMisuse), 0u);
}

TEST_F(CancelDevice, S11_1_CompletingAnIrpWithItsCancelRoutineSetIsReported) {
  int32_t status = 0;
  auto file = openwfp::km::device::open(kCancelPath, static_cast<uint64_t>(getpid()), status);
  ASSERT_TRUE(file);
  auto r = openwfp::km::device::ioctlSync(file, kCompleteCancelableIoctl, {}, 0, 1);
  EXPECT_EQ(r.status, STATUS_SUCCESS);
  EXPECT_EQ(count(Code::KernelApiMisuse), 1u);
  auto v = Runtime::current().verifier().violations();
  ASSERT_EQ(v.size(), 1u);
  EXPECT_NE(v[0].message.find("cancel routine still set"), std::string::npos) << v[0].message;
  EXPECT_EQ(v[0].driver, "canceldev");
  Runtime::current().verifier().clear();
  EXPECT_EQ(openwfp::km::device::closeAbandoned(file, 1), STATUS_SUCCESS);
  EXPECT_EQ(logged().size(), 1u) << "only CLEANUP: the completed IRP's routine was cleared, never called";
}

TEST_F(CancelDevice, S10_2_ExplicitCloseLeavesCancelableIrpsToCleanup) {
  int32_t status = 0;
  auto file = openwfp::km::device::open(kCancelPath, static_cast<uint64_t>(getpid()), status);
  ASSERT_TRUE(file);
  std::promise<openwfp::km::device::IoResult> done;
  openwfp::km::device::ioctl(file, kPendIoctl, {}, 0, 1, [&](auto r) { done.set_value(std::move(r)); });
  EXPECT_EQ(openwfp::km::device::close(file, 1), STATUS_SUCCESS);
  EXPECT_EQ(done.get_future().get().status, STATUS_CANCELLED);
  auto log = logged();
  ASSERT_EQ(log.size(), 3u);
  EXPECT_EQ(log[1], "cleanup") << "CloseHandle sends CLEANUP; the I/O manager cancels nothing itself";
  EXPECT_EQ(log[2], "cleanup-completes");
  EXPECT_EQ(count(Code::KernelApiMisuse), 0u);
}

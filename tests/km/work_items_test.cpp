// S1.1 (a Windows callout driver runs unchanged): work items (src/km/work_items.cpp):
// IoAllocateWorkItem / IoQueueWorkItem / IoFreeWorkItem, the routine's device, context, IRQL and
// driver scope, misuse reports, IoDeleteDevice deferred while an item is queued.
#include <ntddk.h>

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "km/support.h"
#include "km_test_support.h"
#include "openwfp/openwfp.h"
#include "verifier/verifier.h"

using kmtest::KernelSupport;
using openwfp::Runtime;
using openwfp::verifier::Code;

namespace {
struct WorkRecord {
  std::atomic<int> runs{0};
  PDEVICE_OBJECT device = nullptr;
  PVOID context = nullptr;
  std::string driver;
  KIRQL irql = 0xFF;
  PIO_WORKITEM item = nullptr;
};

void NTAPI recordingRoutine(PDEVICE_OBJECT device, PVOID context) {
  auto* r = static_cast<WorkRecord*>(context);
  r->device = device;
  r->context = context;
  r->driver = openwfp::verifier::currentDriver();
  r->irql = KeGetCurrentIrql();
  IoFreeWorkItem(r->item);  // the usual pattern: the routine frees its own item
  ++r->runs;
}

void NTAPI countingRoutine(PDEVICE_OBJECT, PVOID context) { ++*static_cast<std::atomic<int>*>(context); }
}  // namespace

TEST_F(KernelSupport, S1_1_WorkItemRunsWithDeviceContextAndDriverScope) {
  PDEVICE_OBJECT device = nullptr;
  ASSERT_EQ(IoCreateDevice(driver_, 0, nullptr, FILE_DEVICE_NETWORK, 0, FALSE, &device), STATUS_SUCCESS);
  WorkRecord record;
  record.item = IoAllocateWorkItem(device);
  ASSERT_NE(record.item, nullptr);
  {
    openwfp::km::IrqlScope dpc(DISPATCH_LEVEL);  // queued from DISPATCH_LEVEL, as from a classifyFn
    IoQueueWorkItem(record.item, recordingRoutine, DelayedWorkQueue, &record);
  }
  openwfp::km::waitForWorkItems(driver_);
  EXPECT_EQ(record.runs.load(), 1);
  EXPECT_EQ(record.device, device);
  EXPECT_EQ(record.context, &record);
  EXPECT_EQ(record.driver, "kdrv");
  EXPECT_EQ(record.irql, PASSIVE_LEVEL);
  IoDeleteDevice(device);
  EXPECT_TRUE(Runtime::current().verifier().violations().empty());
}

TEST_F(KernelSupport, S1_1_ManyWorkItemsAllRunOnAFewThreads) {
  PDEVICE_OBJECT device = nullptr;
  ASSERT_EQ(IoCreateDevice(driver_, 0, nullptr, FILE_DEVICE_NETWORK, 0, FALSE, &device), STATUS_SUCCESS);
  std::atomic<int> runs{0};
  std::vector<PIO_WORKITEM> items;
  for (int i = 0; i < 200; ++i) {
    items.push_back(IoAllocateWorkItem(device));
    IoQueueWorkItem(items.back(), countingRoutine, CriticalWorkQueue, &runs);
  }
  openwfp::km::waitForWorkItems(driver_);
  EXPECT_EQ(runs.load(), 200);
  // An item can be queued again once it ran.
  IoQueueWorkItem(items[0], countingRoutine, CriticalWorkQueue, &runs);
  openwfp::km::waitForWorkItems(driver_);
  EXPECT_EQ(runs.load(), 201);
  for (auto* item : items) IoFreeWorkItem(item);
  IoDeleteDevice(device);
  EXPECT_TRUE(Runtime::current().verifier().violations().empty());
}

TEST_F(KernelSupport, S1_1_WorkItemMisuseIsReportedNotFatal) {
  PDEVICE_OBJECT device = nullptr;
  ASSERT_EQ(IoCreateDevice(driver_, 0, nullptr, FILE_DEVICE_NETWORK, 0, FALSE, &device), STATUS_SUCCESS);
  PIO_WORKITEM item = IoAllocateWorkItem(device);
  IoFreeWorkItem(item);
  IoFreeWorkItem(item);  // twice
  EXPECT_EQ(count(Code::KernelApiMisuse), 1u);
  std::atomic<int> runs{0};
  IoQueueWorkItem(item, countingRoutine, DelayedWorkQueue, &runs);  // after free
  EXPECT_EQ(count(Code::KernelApiMisuse), 2u);
  openwfp::km::waitForWorkItems(driver_);
  EXPECT_EQ(runs.load(), 0);
  IoDeleteDevice(device);
}

TEST_F(KernelSupport, S1_1_DeleteDeviceWhileItsWorkItemIsQueuedIsDeferred) {
  PDEVICE_OBJECT device = nullptr;
  ASSERT_EQ(IoCreateDevice(driver_, 16, nullptr, FILE_DEVICE_NETWORK, 0, FALSE, &device), STATUS_SUCCESS);
  std::atomic<bool> go{false};
  struct Ctx {
    std::atomic<bool>* go;
    PVOID extensionSeen = nullptr;
  } ctx{&go};
  PIO_WORKITEM item = IoAllocateWorkItem(device);
  IoQueueWorkItem(
      item,
      [](PDEVICE_OBJECT dev, PVOID c) {
        auto* x = static_cast<Ctx*>(c);
        while (!x->go->load()) std::this_thread::yield();
        x->extensionSeen = dev->DeviceExtension;  // the device is still valid here
      },
      DelayedWorkQueue, &ctx);
  PVOID extension = device->DeviceExtension;
  IoDeleteDevice(device);
  EXPECT_EQ(driver_->DeviceObject, nullptr);  // unlinked at once
  go = true;
  openwfp::km::waitForWorkItems(driver_);
  EXPECT_EQ(ctx.extensionSeen, extension);
  IoFreeWorkItem(item);
  EXPECT_TRUE(Runtime::current().verifier().violations().empty());
}

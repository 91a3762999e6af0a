// S1.1 (a Windows callout driver runs unchanged): the kernel support API of wdm.h that drivers
// use besides WFP: spin locks and IRQL, work items, device objects, debug output, time,
// process ids, counted strings.
#include <ntddk.h>

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <ctime>
#include <memory>
#include <sstream>
#include <thread>
#include <vector>

#include "km/support.h"
#include "openwfp/openwfp.h"
#include "verifier/verifier.h"

using openwfp::Runtime;
using openwfp::verifier::Code;

namespace {

class KernelSupport : public ::testing::Test {
 protected:
  void SetUp() override {
    Runtime::reset();
    driver_ = static_cast<PDRIVER_OBJECT>(openwfp::km::createDriverObject("kdrv"));
  }
  void TearDown() override {
    openwfp::km::waitForWorkItems(driver_);
    openwfp::km::releaseDriverResources(driver_);
    openwfp::km::destroyDriverObject(driver_);
    Runtime::current().verifier().clear();  // the misuse tests leave expected violations
  }
  size_t count(Code c) { return Runtime::current().verifier().count(c); }

  PDRIVER_OBJECT driver_ = nullptr;
};

// Captures the default logger's output for the duration of a test.
class LogCapture {
 public:
  LogCapture() : previous_(spdlog::default_logger()) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
    sink->set_pattern("%l|%v");
    auto logger = std::make_shared<spdlog::logger>("capture", sink);
    logger->set_level(spdlog::level::trace);
    spdlog::set_default_logger(logger);
  }
  ~LogCapture() { spdlog::set_default_logger(previous_); }
  std::string text() const { return out_.str(); }

 private:
  std::ostringstream out_;
  std::shared_ptr<spdlog::logger> previous_;
};

}  // namespace

TEST_F(KernelSupport, S1_1_SpinLockMutualExclusionWithFourThreads) {
  KSPIN_LOCK lock;
  KeInitializeSpinLock(&lock);
  long counter = 0;  // deliberately not atomic: only the spin lock protects it
  std::atomic<int> insideAtOnce{0};
  std::atomic<int> maxInside{0};
  std::atomic<bool> irqlWrong{false};
  constexpr int kIterations = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kIterations; ++i) {
        KIRQL old;
        KeAcquireSpinLock(&lock, &old);
        if (old != PASSIVE_LEVEL || KeGetCurrentIrql() != DISPATCH_LEVEL) irqlWrong = true;
        int now = ++insideAtOnce;
        int seen = maxInside.load();
        while (now > seen && !maxInside.compare_exchange_weak(seen, now)) {
        }
        counter = counter + 1;
        --insideAtOnce;
        KeReleaseSpinLock(&lock, old);
        if (KeGetCurrentIrql() != PASSIVE_LEVEL) irqlWrong = true;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(counter, 4L * kIterations);
  EXPECT_EQ(maxInside.load(), 1);
  EXPECT_FALSE(irqlWrong.load());
  EXPECT_EQ(lock, 0u);  // released
}

TEST_F(KernelSupport, S1_1_InStackQueuedSpinLockExcludesToo) {
  KSPIN_LOCK lock;
  KeInitializeSpinLock(&lock);
  long counter = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        KLOCK_QUEUE_HANDLE h;
        KeAcquireInStackQueuedSpinLock(&lock, &h);
        EXPECT_EQ(KeGetCurrentIrql(), DISPATCH_LEVEL);
        counter = counter + 1;
        KeReleaseInStackQueuedSpinLock(&h);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(counter, 40000L);
  EXPECT_EQ(KeGetCurrentIrql(), PASSIVE_LEVEL);
}

TEST_F(KernelSupport, S1_1_SpinLockAtDpcLevelKeepsIrqlAndNestedRestores) {
  KSPIN_LOCK a, b;
  KeInitializeSpinLock(&a);
  KeInitializeSpinLock(&b);
  KIRQL oldA;
  KeAcquireSpinLock(&a, &oldA);
  KeAcquireSpinLockAtDpcLevel(&b);
  EXPECT_EQ(KeGetCurrentIrql(), DISPATCH_LEVEL);
  EXPECT_NE(b, 0u);
  KeReleaseSpinLockFromDpcLevel(&b);
  EXPECT_EQ(b, 0u);
  EXPECT_EQ(KeGetCurrentIrql(), DISPATCH_LEVEL);
  KeReleaseSpinLock(&a, oldA);
  EXPECT_EQ(KeGetCurrentIrql(), PASSIVE_LEVEL);
  {
    openwfp::km::IrqlScope scope(DISPATCH_LEVEL);
    EXPECT_EQ(KeGetCurrentIrql(), DISPATCH_LEVEL);
  }
  EXPECT_EQ(KeGetCurrentIrql(), PASSIVE_LEVEL);
}

TEST_F(KernelSupport, S1_1_SpinLockReleaseWithoutHoldIsReported) {
  KSPIN_LOCK lock;
  KeInitializeSpinLock(&lock);
  KeReleaseSpinLock(&lock, PASSIVE_LEVEL);
  EXPECT_EQ(count(Code::KernelApiMisuse), 1u);
  KIRQL old;
  KeAcquireSpinLock(&lock, &old);
  std::thread([&] { KeReleaseSpinLock(&lock, PASSIVE_LEVEL); }).join();  // not the owner
  EXPECT_EQ(count(Code::KernelApiMisuse), 2u);
  EXPECT_NE(lock, 0u);  // still held by this thread
  KeReleaseSpinLock(&lock, old);
  EXPECT_EQ(lock, 0u);
}

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

TEST_F(KernelSupport, S1_1_IoCreateDeviceZeroesExtensionAndLinksToDriver) {
  PDEVICE_OBJECT first = nullptr, second = nullptr;
  ASSERT_EQ(IoCreateDevice(driver_, 4096, nullptr, FILE_DEVICE_NETWORK, FILE_DEVICE_SECURE_OPEN, FALSE, &first),
            STATUS_SUCCESS);
  ASSERT_NE(first, nullptr);
  ASSERT_NE(first->DeviceExtension, nullptr);
  const auto* ext = static_cast<const unsigned char*>(first->DeviceExtension);
  for (int i = 0; i < 4096; ++i) ASSERT_EQ(ext[i], 0) << i;
  EXPECT_EQ(reinterpret_cast<uintptr_t>(first->DeviceExtension) % 16, 0u);
  EXPECT_EQ(first->DriverObject, driver_);
  EXPECT_EQ(driver_->DeviceObject, first);
  EXPECT_EQ(first->DeviceType, static_cast<DEVICE_TYPE>(FILE_DEVICE_NETWORK));
  EXPECT_EQ(first->Characteristics, static_cast<ULONG>(FILE_DEVICE_SECURE_OPEN));
  EXPECT_NE(first->Flags & DO_DEVICE_INITIALIZING, 0u);

  UNICODE_STRING name;
  RtlInitUnicodeString(&name, L"\\Device\\KernelSupportTest");
  ASSERT_EQ(IoCreateDevice(driver_, 0, &name, FILE_DEVICE_NETWORK, 0, TRUE, &second), STATUS_SUCCESS);
  EXPECT_EQ(second->DeviceExtension, nullptr);
  EXPECT_NE(second->Flags & DO_EXCLUSIVE, 0u);
  EXPECT_EQ(driver_->DeviceObject, second);  // newest first
  EXPECT_EQ(second->NextDevice, first);

  PDEVICE_OBJECT clash = reinterpret_cast<PDEVICE_OBJECT>(0x1);
  EXPECT_EQ(IoCreateDevice(driver_, 0, &name, FILE_DEVICE_NETWORK, 0, FALSE, &clash), STATUS_OBJECT_NAME_COLLISION);
  EXPECT_EQ(clash, nullptr);

  UNICODE_STRING link;
  RtlInitUnicodeString(&link, L"\\??\\KernelSupportTest");
  EXPECT_EQ(IoCreateSymbolicLink(&link, &name), STATUS_SUCCESS);
  EXPECT_EQ(IoCreateSymbolicLink(&link, &name), STATUS_OBJECT_NAME_COLLISION);
  EXPECT_EQ(IoDeleteSymbolicLink(&link), STATUS_SUCCESS);
  EXPECT_EQ(IoDeleteSymbolicLink(&link), STATUS_OBJECT_NAME_NOT_FOUND);

  IoDeleteDevice(second);
  EXPECT_EQ(driver_->DeviceObject, first);
  EXPECT_EQ(first->NextDevice, nullptr);
  IoDeleteDevice(first);
  EXPECT_EQ(driver_->DeviceObject, nullptr);
  // The name is free again.
  ASSERT_EQ(IoCreateDevice(driver_, 0, &name, FILE_DEVICE_NETWORK, 0, FALSE, &second), STATUS_SUCCESS);
  IoDeleteDevice(second);
  EXPECT_TRUE(Runtime::current().verifier().violations().empty());

  IoDeleteDevice(second);  // twice
  EXPECT_EQ(count(Code::KernelApiMisuse), 1u);
  EXPECT_EQ(IoCreateDevice(nullptr, 0, nullptr, FILE_DEVICE_NETWORK, 0, FALSE, &first), STATUS_INVALID_PARAMETER);
}

TEST_F(KernelSupport, S1_1_DriverObjectIsNamedAndDispatchDefaultsToInvalidRequest) {
  ASSERT_NE(driver_->DriverName.Buffer, nullptr);
  EXPECT_EQ(std::wstring(driver_->DriverName.Buffer, driver_->DriverName.Length / sizeof(WCHAR)), L"\\Driver\\kdrv");
  ASSERT_NE(driver_->DriverExtension, nullptr);
  EXPECT_EQ(driver_->DriverExtension->DriverObject, driver_);
  EXPECT_EQ(openwfp::km::driverNameOf(driver_), "kdrv");
  IRP irp{};
  void* completed = nullptr;
  openwfp::km::setIrpCompletionHandler([&](void* p) { completed = p; });
  EXPECT_EQ(driver_->MajorFunction[IRP_MJ_DEVICE_CONTROL](nullptr, &irp), STATUS_INVALID_DEVICE_REQUEST);
  openwfp::km::setIrpCompletionHandler(nullptr);
  EXPECT_EQ(irp.IoStatus.Status, STATUS_INVALID_DEVICE_REQUEST);
  EXPECT_EQ(completed, &irp);
}

TEST_F(KernelSupport, S1_1_SystemTimeIsPlausibleAndCounterMonotonic) {
  LARGE_INTEGER now;
  KeQuerySystemTime(&now);
  // 100-ns units since 1601-01-01 UTC: compare with time(nullptr) in seconds since 1970.
  const long long unixSeconds = (now.QuadPart - 116444736000000000LL) / 10000000LL;
  EXPECT_LE(std::llabs(unixSeconds - static_cast<long long>(std::time(nullptr))), 5);
  EXPECT_GT(now.QuadPart, 132223104000000000LL);  // after 2020-01-01

  LARGE_INTEGER freq{};
  LARGE_INTEGER a = KeQueryPerformanceCounter(&freq);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  LARGE_INTEGER b = KeQueryPerformanceCounter(nullptr);
  ASSERT_GT(freq.QuadPart, 0);
  const double elapsedMs = static_cast<double>(b.QuadPart - a.QuadPart) * 1000.0 / static_cast<double>(freq.QuadPart);
  EXPECT_GE(elapsedMs, 19.0);
  EXPECT_LT(elapsedMs, 5000.0);
}

TEST_F(KernelSupport, S1_1_ProcessIdAndUnicodeString) {
  EXPECT_EQ(reinterpret_cast<uintptr_t>(PsGetCurrentProcessId()), static_cast<uintptr_t>(getpid()));
  EXPECT_NE(PsGetCurrentThreadId(), nullptr);

  UNICODE_STRING u;
  RtlInitUnicodeString(&u, L"abc");
  EXPECT_EQ(u.Length, 3 * sizeof(WCHAR));
  EXPECT_EQ(u.MaximumLength, 4 * sizeof(WCHAR));
  EXPECT_EQ(std::wstring(u.Buffer, u.Length / sizeof(WCHAR)), L"abc");
  RtlInitUnicodeString(&u, nullptr);
  EXPECT_EQ(u.Length, 0);
  EXPECT_EQ(u.MaximumLength, 0);
  EXPECT_EQ(u.Buffer, nullptr);
  std::wstring longText(20000, L'x');
  RtlInitUnicodeString(&u, longText.c_str());
  EXPECT_LE(u.Length + sizeof(WCHAR), 0xFFFFu);
  EXPECT_EQ(u.MaximumLength, u.Length + sizeof(WCHAR));
}

TEST_F(KernelSupport, S1_1_DbgPrintLogsWithDriverNameAndLevel) {
  LogCapture capture;
  {
    openwfp::verifier::CurrentDriverScope scope("printer");
    UNICODE_STRING u;
    RtlInitUnicodeString(&u, L"dev0");
    DbgPrint("hello %d %wZ %lu\n", 42, &u, static_cast<ULONG>(7));
    DbgPrintEx(DPFLTR_IHVNETWORK_ID, DPFLTR_ERROR_LEVEL, "bad %s\n", "thing");
    DbgPrintEx(DPFLTR_IHVNETWORK_ID, DPFLTR_WARNING_LEVEL, "careful\n");
    DbgPrintEx(DPFLTR_IHVNETWORK_ID, DPFLTR_TRACE_LEVEL, "details\n");
    KdPrint(("kd %s\n", "print"));
  }
  DbgPrint("anonymous\n");
  std::string text = capture.text();
  EXPECT_NE(text.find("info|[printer] hello 42 dev0 7\n"), std::string::npos) << text;
  EXPECT_NE(text.find("error|[printer] bad thing\n"), std::string::npos) << text;
  EXPECT_NE(text.find("warning|[printer] careful\n"), std::string::npos) << text;
  EXPECT_NE(text.find("debug|[printer] details\n"), std::string::npos) << text;
  EXPECT_NE(text.find("info|[printer] kd print\n"), std::string::npos) << text;
  EXPECT_NE(text.find("info|[kernel] anonymous\n"), std::string::npos) << text;
}

TEST_F(KernelSupport, S1_1_FailedAssertIsReported) {
  openwfp::verifier::CurrentDriverScope scope("asserter");
  int x = 1;
  ASSERT(x == 1);
  EXPECT_EQ(count(Code::DriverAssertFailed), 0u);
  NT_ASSERT(x == 2);
  ASSERT_EQ(count(Code::DriverAssertFailed), 1u);
  auto v = Runtime::current().verifier().violations().back();
  EXPECT_EQ(v.driver, "asserter");
  EXPECT_NE(v.message.find("x == 2"), std::string::npos) << v.message;
}

// S1.1 (a Windows callout driver with a proxy channel runs unchanged): dispatcher objects and
// waits (KEVENT, KeWaitForSingleObject/MultipleObjects), system threads (PsCreateSystemThread,
// PsTerminateSystemThread, thread objects), IRP cancellation (IoSetCancelRoutine, IoCancelIrp,
// the cancel spin lock, cancel on client disconnect); S11.1 misuse reports (waits at
// DISPATCH_LEVEL, cancel lock kept); S11.2 leak reports (threads left running, handles not
// closed). Timeouts here are generous failure guards only; no assertion depends on timing.
#include <ntddk.h>

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "km/device_io.h"
#include "km/support.h"
#include "openwfp/host.h"
#include "openwfp/openwfp.h"
#include "verifier/verifier.h"

using openwfp::Runtime;
using openwfp::host::DriverHost;
using openwfp::verifier::Code;

namespace {

constexpr LONGLONG kGuard100ns = -10LL * 1000 * 1000 * 10;  // 10 s relative: a failure guard

LARGE_INTEGER rel100ns(LONGLONG v) {
  LARGE_INTEGER li;
  li.QuadPart = v;
  return li;
}

// Polls cond up to 10 s (failure guard).
template <typename F>
bool eventually(F cond) {
  for (int i = 0; i < 2000; ++i) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return cond();
}

class KernelObjects : public ::testing::Test {
 protected:
  void SetUp() override { Runtime::reset(); }
  void TearDown() override { Runtime::current().verifier().clear(); }
  size_t count(Code c) { return Runtime::current().verifier().count(c); }
};

}  // namespace

// ---- Events and waits ------------------------------------------------------------------------

TEST_F(KernelObjects, S1_1_DispatcherHeaderAndEventLayout) {
  EXPECT_EQ(sizeof(DISPATCHER_HEADER), 24u);
  EXPECT_EQ(offsetof(DISPATCHER_HEADER, SignalState), 4u);
  EXPECT_EQ(offsetof(DISPATCHER_HEADER, WaitListHead), 8u);
  EXPECT_EQ(sizeof(KEVENT), 24u);
  EXPECT_EQ(NotificationEvent, 0);
  EXPECT_EQ(SynchronizationEvent, 1);
  EXPECT_EQ(Executive, 0);
  EXPECT_EQ(UserRequest, 6);
  EXPECT_EQ(KernelMode, 0);
  EXPECT_EQ(UserMode, 1);
  EXPECT_EQ(STATUS_TIMEOUT, 0x102);
  EXPECT_EQ(WaitAll, 0);
  EXPECT_EQ(WaitAny, 1);
  EXPECT_EQ(THREAD_ALL_ACCESS, 0x1FFFFF);
  EXPECT_EQ(OBJ_KERNEL_HANDLE, 0x200);

  KEVENT e;
  std::memset(&e, 0xAB, sizeof e);
  KeInitializeEvent(&e, NotificationEvent, TRUE);
  EXPECT_EQ(e.Header.Type, 0);
  EXPECT_EQ(e.Header.SignalState, 1);
  EXPECT_EQ(KeReadStateEvent(&e), 1);
  KeInitializeEvent(&e, SynchronizationEvent, FALSE);
  EXPECT_EQ(e.Header.Type, 1);
  EXPECT_EQ(KeReadStateEvent(&e), 0);
  EXPECT_EQ(count(Code::KernelApiMisuse), 0u);
}

TEST_F(KernelObjects, S1_1_KeSetEventReturnsPreviousStateResetAndClear) {
  KEVENT e;
  KeInitializeEvent(&e, NotificationEvent, FALSE);
  EXPECT_EQ(KeSetEvent(&e, IO_NO_INCREMENT, FALSE), 0);
  EXPECT_EQ(KeSetEvent(&e, IO_NO_INCREMENT, FALSE), 1);
  EXPECT_EQ(KeReadStateEvent(&e), 1);
  EXPECT_EQ(KeResetEvent(&e), 1);
  EXPECT_EQ(KeResetEvent(&e), 0);
  KeSetEvent(&e, EVENT_INCREMENT, FALSE);
  KeClearEvent(&e);
  EXPECT_EQ(KeReadStateEvent(&e), 0);
}

TEST_F(KernelObjects, S1_1_NotificationEventWakesAllWaitersAndStaysSignaled) {
  KEVENT e;  // in zeroed "pool", as drivers keep them
  std::memset(&e, 0, sizeof e);
  KeInitializeEvent(&e, NotificationEvent, FALSE);
  constexpr int kWaiters = 4;
  std::atomic<int> woken{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kWaiters; ++i) {
    threads.emplace_back([&] {
      if (KeWaitForSingleObject(&e, Executive, KernelMode, FALSE, nullptr) == STATUS_SUCCESS) ++woken;
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // let them block (not required)
  EXPECT_EQ(woken.load(), 0);
  KeSetEvent(&e, IO_NO_INCREMENT, FALSE);
  for (auto& t : threads) t.join();
  EXPECT_EQ(woken.load(), kWaiters);
  EXPECT_EQ(KeReadStateEvent(&e), 1) << "a notification event stays signaled";
  LARGE_INTEGER zero = rel100ns(0);
  EXPECT_EQ(KeWaitForSingleObject(&e, Executive, KernelMode, FALSE, &zero), STATUS_SUCCESS);
}

TEST_F(KernelObjects, S1_1_SynchronizationEventWakesExactlyOneWaiterPerSet) {
  KEVENT e;
  KeInitializeEvent(&e, SynchronizationEvent, FALSE);
  constexpr int kWaiters = 3;
  std::atomic<int> woken{0};
  std::atomic<int> timedOut{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kWaiters; ++i) {
    threads.emplace_back([&] {
      LARGE_INTEGER guard = rel100ns(kGuard100ns);
      NTSTATUS s = KeWaitForSingleObject(&e, Executive, KernelMode, FALSE, &guard);
      if (s == STATUS_SUCCESS) ++woken;
      if (s == STATUS_TIMEOUT) ++timedOut;
    });
  }
  for (int round = 1; round <= kWaiters; ++round) {
    EXPECT_EQ(KeSetEvent(&e, IO_NO_INCREMENT, FALSE), 0);
    ASSERT_TRUE(eventually([&] { return woken.load() >= round; })) << "round " << round;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // a second wake would show here
    EXPECT_EQ(woken.load(), round) << "one KeSetEvent released exactly one waiter";
    EXPECT_EQ(KeReadStateEvent(&e), 0) << "the waiter that returned reset the event";
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(timedOut.load(), 0);
  // Signaled with nobody waiting: stays signaled until one wait consumes it.
  KeSetEvent(&e, IO_NO_INCREMENT, FALSE);
  LARGE_INTEGER zero = rel100ns(0);
  EXPECT_EQ(KeWaitForSingleObject(&e, Executive, KernelMode, FALSE, &zero), STATUS_SUCCESS);
  EXPECT_EQ(KeWaitForSingleObject(&e, Executive, KernelMode, FALSE, &zero), STATUS_TIMEOUT);
}

TEST_F(KernelObjects, S1_1_WaitTimeoutsZeroRelativeAbsolute) {
  KEVENT e;
  KeInitializeEvent(&e, NotificationEvent, FALSE);
  LARGE_INTEGER zero = rel100ns(0);
  EXPECT_EQ(KeWaitForSingleObject(&e, Executive, KernelMode, FALSE, &zero), STATUS_TIMEOUT) << "test only";
  LARGE_INTEGER relative = rel100ns(-10LL * 1000 * 5);  // 5 ms
  EXPECT_EQ(KeWaitForSingleObject(&e, Executive, KernelMode, FALSE, &relative), STATUS_TIMEOUT);
  LARGE_INTEGER absolute;
  KeQuerySystemTime(&absolute);
  absolute.QuadPart += 10LL * 1000 * 5;  // now + 5 ms, absolute system time
  EXPECT_EQ(KeWaitForSingleObject(&e, Executive, KernelMode, FALSE, &absolute), STATUS_TIMEOUT);
  LARGE_INTEGER past;
  KeQuerySystemTime(&past);
  past.QuadPart -= 10LL * 1000 * 1000;  // one second ago
  EXPECT_EQ(KeWaitForSingleObject(&e, Executive, KernelMode, FALSE, &past), STATUS_TIMEOUT);
  EXPECT_EQ(KeWaitForSingleObject(&e, UserRequest, UserMode, TRUE, &zero), STATUS_TIMEOUT);

  // Signaled from another thread while waiting with relative and absolute timeouts.
  std::thread setter([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    KeSetEvent(&e, IO_NO_INCREMENT, FALSE);
  });
  LARGE_INTEGER guard = rel100ns(kGuard100ns);
  EXPECT_EQ(KeWaitForSingleObject(&e, Executive, KernelMode, FALSE, &guard), STATUS_SUCCESS);
  setter.join();
  KeClearEvent(&e);
  std::thread setter2([&] { KeSetEvent(&e, IO_NO_INCREMENT, FALSE); });
  LARGE_INTEGER absoluteGuard;
  KeQuerySystemTime(&absoluteGuard);
  absoluteGuard.QuadPart += 10LL * 1000 * 1000 * 10;
  EXPECT_EQ(KeWaitForSingleObject(&e, Executive, KernelMode, FALSE, &absoluteGuard), STATUS_SUCCESS);
  setter2.join();
  EXPECT_EQ(count(Code::KernelApiMisuse), 0u);
}

TEST_F(KernelObjects, S1_1_WaitForMultipleObjectsAnyAndAll) {
  KEVENT a, b;
  KeInitializeEvent(&a, NotificationEvent, FALSE);
  KeInitializeEvent(&b, SynchronizationEvent, FALSE);
  PVOID objects[] = {&a, &b};
  LARGE_INTEGER zero = rel100ns(0);
  EXPECT_EQ(KeWaitForMultipleObjects(2, objects, WaitAny, Executive, KernelMode, FALSE, &zero, nullptr),
            STATUS_TIMEOUT);
  KeSetEvent(&b, IO_NO_INCREMENT, FALSE);
  EXPECT_EQ(KeWaitForMultipleObjects(2, objects, WaitAny, Executive, KernelMode, FALSE, &zero, nullptr),
            STATUS_WAIT_1);
  EXPECT_EQ(KeReadStateEvent(&b), 0) << "the synchronization event satisfied the wait and was reset";
  KeSetEvent(&a, IO_NO_INCREMENT, FALSE);
  EXPECT_EQ(KeWaitForMultipleObjects(2, objects, WaitAll, Executive, KernelMode, FALSE, &zero, nullptr),
            STATUS_TIMEOUT);
  std::thread setter([&] { KeSetEvent(&b, IO_NO_INCREMENT, FALSE); });
  LARGE_INTEGER guard = rel100ns(kGuard100ns);
  EXPECT_EQ(KeWaitForMultipleObjects(2, objects, WaitAll, Executive, KernelMode, FALSE, &guard, nullptr),
            STATUS_SUCCESS);
  setter.join();
  EXPECT_EQ(KeReadStateEvent(&a), 1);
  EXPECT_EQ(KeReadStateEvent(&b), 0);
  // More than THREAD_WAIT_OBJECTS without a wait block array: reported.
  KEVENT more[4];
  PVOID four[4];
  for (int i = 0; i < 4; ++i) {
    KeInitializeEvent(&more[i], NotificationEvent, TRUE);
    four[i] = &more[i];
  }
  EXPECT_EQ(KeWaitForMultipleObjects(4, four, WaitAll, Executive, KernelMode, FALSE, &zero, nullptr),
            STATUS_INVALID_PARAMETER);
  EXPECT_EQ(count(Code::KernelApiMisuse), 1u);
  KWAIT_BLOCK blocks[4];
  EXPECT_EQ(KeWaitForMultipleObjects(4, four, WaitAll, Executive, KernelMode, FALSE, &zero, blocks),
            STATUS_SUCCESS);
}

TEST_F(KernelObjects, S11_1_WaitAtDispatchLevelIsReportedNotAHang) {
  KEVENT e;
  KeInitializeEvent(&e, NotificationEvent, FALSE);
  KSPIN_LOCK lock;
  KeInitializeSpinLock(&lock);
  KIRQL old;
  KeAcquireSpinLock(&lock, &old);
  LARGE_INTEGER zero = rel100ns(0);
  EXPECT_EQ(KeWaitForSingleObject(&e, Executive, KernelMode, FALSE, &zero), STATUS_TIMEOUT);
  EXPECT_EQ(count(Code::KernelApiMisuse), 0u) << "a zero timeout is allowed at DISPATCH_LEVEL";
  EXPECT_EQ(KeWaitForSingleObject(&e, Executive, KernelMode, FALSE, nullptr), STATUS_TIMEOUT);
  LARGE_INTEGER relative = rel100ns(-10LL * 1000 * 1000);
  EXPECT_EQ(KeWaitForSingleObject(&e, Executive, KernelMode, FALSE, &relative), STATUS_TIMEOUT);
  EXPECT_EQ(KeDelayExecutionThread(KernelMode, FALSE, &relative), STATUS_SUCCESS);
  KeReleaseSpinLock(&lock, old);
  EXPECT_EQ(count(Code::KernelApiMisuse), 3u);
  auto v = Runtime::current().verifier().violations();
  ASSERT_FALSE(v.empty());
  EXPECT_NE(v[0].message.find("IRQL 2"), std::string::npos) << v[0].message;
  EXPECT_NE(v[0].message.find("KeWaitForSingleObject"), std::string::npos) << v[0].message;
}

TEST_F(KernelObjects, S1_1_DelayTickCountAndInterruptTime) {
  LARGE_INTEGER t0, t1;
  KeQueryTickCount(&t0);
  const ULONGLONG i0 = KeQueryInterruptTime();
  LARGE_INTEGER delay = rel100ns(-10LL * 1000 * 20);  // 20 ms
  EXPECT_EQ(KeDelayExecutionThread(KernelMode, FALSE, &delay), STATUS_SUCCESS);
  KeQueryTickCount(&t1);
  const ULONGLONG i1 = KeQueryInterruptTime();
  EXPECT_GE(i1 - i0, 20ULL * 10000) << "slept at least the interval";
  EXPECT_GE(t1.QuadPart, t0.QuadPart);
  EXPECT_EQ(KeQueryTimeIncrement(), 156250u);
}

// ---- System threads --------------------------------------------------------------------------

namespace {

struct ThreadProbe {
  KEVENT go;
  std::atomic<int> irql{-1};
  std::string driver;
  std::atomic<uint64_t> tid{0};
  std::atomic<bool> isSystem{false};
  std::atomic<bool> done{false};
};

void NTAPI probeThread(PVOID context) {
  auto* p = static_cast<ThreadProbe*>(context);
  p->irql = KeGetCurrentIrql();
  p->driver = openwfp::verifier::currentDriver();
  p->tid = reinterpret_cast<uintptr_t>(PsGetCurrentThreadId());
  p->isSystem = PsIsSystemThread(PsGetCurrentThread()) == TRUE;
  KeWaitForSingleObject(&p->go, Executive, KernelMode, FALSE, nullptr);
  p->done = true;
}

struct Unwound {
  std::atomic<bool>* flag;
  ~Unwound() { *flag = true; }
};
std::atomic<bool> gDestructorRan{false};
std::atomic<bool> gAfterTerminate{false};

void terminateFromNestedFrame() {
  Unwound u{&gDestructorRan};
  PsTerminateSystemThread(STATUS_SUCCESS);
  gAfterTerminate = true;
}

void NTAPI terminatingThread(PVOID) {
  terminateFromNestedFrame();
  gAfterTerminate = true;
}

}  // namespace

TEST_F(KernelObjects, S1_1_SystemThreadWaitsOnEventEndsAndSignalsItsObject) {
  ThreadProbe probe;
  KeInitializeEvent(&probe.go, NotificationEvent, FALSE);
  HANDLE handle = nullptr;
  CLIENT_ID client{};
  OBJECT_ATTRIBUTES attributes;
  InitializeObjectAttributes(&attributes, nullptr, OBJ_KERNEL_HANDLE, nullptr, nullptr);
  {
    openwfp::verifier::CurrentDriverScope scope("threads");
    ASSERT_EQ(PsCreateSystemThread(&handle, THREAD_ALL_ACCESS, &attributes, nullptr, &client, probeThread, &probe),
              STATUS_SUCCESS);
  }
  ASSERT_NE(handle, nullptr);
  PVOID object = nullptr;
  ASSERT_EQ(ObReferenceObjectByHandle(handle, SYNCHRONIZE, *PsThreadType, KernelMode, &object, nullptr),
            STATUS_SUCCESS);
  ASSERT_NE(object, nullptr);
  EXPECT_EQ(ZwClose(handle), STATUS_SUCCESS);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(client.UniqueProcess), static_cast<uintptr_t>(getpid()));

  LARGE_INTEGER zero = rel100ns(0);
  EXPECT_EQ(KeWaitForSingleObject(object, Executive, KernelMode, FALSE, &zero), STATUS_TIMEOUT) << "still waiting";
  EXPECT_FALSE(probe.done.load());
  KeSetEvent(&probe.go, IO_NO_INCREMENT, FALSE);
  LARGE_INTEGER guard = rel100ns(kGuard100ns);
  EXPECT_EQ(KeWaitForSingleObject(object, Executive, KernelMode, FALSE, &guard), STATUS_SUCCESS);
  EXPECT_TRUE(probe.done.load());
  EXPECT_EQ(KeWaitForSingleObject(object, Executive, KernelMode, FALSE, &zero), STATUS_SUCCESS)
      << "a thread object stays signaled";
  EXPECT_EQ(probe.irql.load(), PASSIVE_LEVEL);
  EXPECT_EQ(probe.driver, "threads");
  EXPECT_EQ(probe.tid.load(), reinterpret_cast<uintptr_t>(client.UniqueThread));
  EXPECT_NE(probe.tid.load(), reinterpret_cast<uintptr_t>(PsGetCurrentThreadId()));
  EXPECT_TRUE(probe.isSystem.load());
  EXPECT_FALSE(PsIsSystemThread(PsGetCurrentThread())) << "the test thread is not a system thread";
  EXPECT_EQ(openwfp::km::runningSystemThreads(), 0u);
  ObDereferenceObject(object);
  EXPECT_TRUE(openwfp::km::releaseSystemThreadsOf("threads").leaks.empty());
  EXPECT_EQ(count(Code::KernelApiMisuse), 0u);
}

TEST_F(KernelObjects, S1_1_PsTerminateSystemThreadUnwindsAndEndsTheThread) {
  gDestructorRan = false;
  gAfterTerminate = false;
  HANDLE handle = nullptr;
  ASSERT_EQ(PsCreateSystemThread(&handle, THREAD_ALL_ACCESS, nullptr, nullptr, nullptr, terminatingThread, nullptr),
            STATUS_SUCCESS);
  PVOID object = nullptr;
  ASSERT_EQ(ObReferenceObjectByHandle(handle, SYNCHRONIZE, nullptr, KernelMode, &object, nullptr), STATUS_SUCCESS);
  ZwClose(handle);
  LARGE_INTEGER guard = rel100ns(kGuard100ns);
  EXPECT_EQ(KeWaitForSingleObject(object, Executive, KernelMode, FALSE, &guard), STATUS_SUCCESS);
  ObDereferenceObject(object);
  EXPECT_TRUE(gDestructorRan.load()) << "the frames between the start routine and the call were unwound";
  EXPECT_FALSE(gAfterTerminate.load()) << "PsTerminateSystemThread does not return";
  // Not a system thread: reported, returns.
  EXPECT_EQ(PsTerminateSystemThread(STATUS_SUCCESS), STATUS_INVALID_PARAMETER);
  EXPECT_EQ(count(Code::KernelApiMisuse), 1u);
}

TEST_F(KernelObjects, S1_1_HandleAndReferenceErrors) {
  PVOID object = nullptr;
  EXPECT_EQ(ObReferenceObjectByHandle(reinterpret_cast<HANDLE>(0x1234), SYNCHRONIZE, *PsThreadType, KernelMode,
                                      &object, nullptr),
            STATUS_INVALID_HANDLE);
  ThreadProbe probe;
  KeInitializeEvent(&probe.go, NotificationEvent, FALSE);
  HANDLE handle = nullptr;
  ASSERT_EQ(PsCreateSystemThread(&handle, THREAD_ALL_ACCESS, nullptr, NtCurrentProcess(), nullptr, probeThread, &probe),
            STATUS_SUCCESS);
  EXPECT_EQ(ObReferenceObjectByHandle(handle, SYNCHRONIZE, *ExEventObjectType, KernelMode, &object, nullptr),
            STATUS_OBJECT_TYPE_MISMATCH);
  OBJECT_HANDLE_INFORMATION info{};
  ASSERT_EQ(ObReferenceObjectByHandle(handle, SYNCHRONIZE, *PsThreadType, KernelMode, &object, &info), STATUS_SUCCESS);
  EXPECT_EQ(info.GrantedAccess, static_cast<ACCESS_MASK>(THREAD_ALL_ACCESS));
  EXPECT_EQ(ObReferenceObject(object), 4) << "the running thread, the handle and two references";
  EXPECT_EQ(ObDereferenceObject(object), 3);
  EXPECT_EQ(ZwClose(handle), STATUS_SUCCESS);
  EXPECT_EQ(ZwClose(handle), STATUS_INVALID_HANDLE);
  EXPECT_EQ(count(Code::KernelApiMisuse), 1u) << "closing twice is reported";
  KeSetEvent(&probe.go, IO_NO_INCREMENT, FALSE);
  LARGE_INTEGER guard = rel100ns(kGuard100ns);
  EXPECT_EQ(KeWaitForSingleObject(object, Executive, KernelMode, FALSE, &guard), STATUS_SUCCESS);
  ObDereferenceObject(object);
}

// ---- Leak reports at unload ------------------------------------------------------------------

namespace {

HANDLE gKeptHandle = nullptr;
void NTAPI quickThread(PVOID) {}

void NTAPI unloadWaitsButKeepsHandle(PDRIVER_OBJECT) {
  PVOID object = nullptr;
  if (NT_SUCCESS(ObReferenceObjectByHandle(gKeptHandle, SYNCHRONIZE, *PsThreadType, KernelMode, &object, nullptr))) {
    KeWaitForSingleObject(object, Executive, KernelMode, FALSE, nullptr);
    ObDereferenceObject(object);
  }
  // ZwClose(gKeptHandle) forgotten.
}

NTSTATUS NTAPI handleKeepingEntry(PDRIVER_OBJECT driver, PUNICODE_STRING) {
  driver->DriverUnload = unloadWaitsButKeepsHandle;
  return PsCreateSystemThread(&gKeptHandle, THREAD_ALL_ACCESS, nullptr, nullptr, nullptr, quickThread, nullptr);
}

std::string driverPath(const char* file) { return std::string(OPENWFP_BINARY_DIR "/tests/drivers/") + file; }

std::string joined(const std::vector<openwfp::host::Leak>& leaks) {
  std::string all;
  for (const auto& l : leaks) all += l.what + "\n";
  return all;
}

}  // namespace

TEST_F(KernelObjects, S11_2_ThreadHandleNotClosedIsReported) {
  DriverHost host;
  ASSERT_TRUE(host.load(handleKeepingEntry, "keeper"));
  auto leaks = host.unload("keeper");
  ASSERT_EQ(leaks.size(), 1u) << joined(leaks);
  EXPECT_NE(leaks[0].what.find("not closed (ZwClose)"), std::string::npos) << leaks[0].what;
  EXPECT_EQ(count(Code::HandleLeak), 1u);
  EXPECT_EQ(ZwClose(gKeptHandle), STATUS_INVALID_HANDLE) << "closed by the host";
}

TEST_F(KernelObjects, S11_2_SystemThreadStoppedAndWaitedForAtUnloadIsClean) {
  unsetenv("THREAD_DRIVER_LEAVE_RUNNING");
  const std::string path = driverPath("libthread_driver.so");
  DriverHost host;
  auto r = host.load(path);
  ASSERT_TRUE(r) << r.error;
  auto leaks = host.unload("libthread_driver");
  EXPECT_TRUE(leaks.empty()) << joined(leaks);
  EXPECT_TRUE(Runtime::current().verifier().violations().empty());
  EXPECT_EQ(openwfp::km::runningSystemThreads(), 0u);
}

TEST_F(KernelObjects, S11_2_SystemThreadLeftRunningIsReportedAndLibraryStaysLoaded) {
  setenv("THREAD_DRIVER_LEAVE_RUNNING", "1", 1);
  const std::string path = driverPath("libthread_driver.so");
  DriverHost host;
  auto r = host.load(path);
  ASSERT_TRUE(r) << r.error;
  auto leaks = host.unload("libthread_driver");
  unsetenv("THREAD_DRIVER_LEAVE_RUNNING");
  const std::string all = joined(leaks);
  ASSERT_EQ(leaks.size(), 2u) << all;
  EXPECT_NE(all.find("still running"), std::string::npos) << all;
  EXPECT_NE(all.find("library is not unloaded"), std::string::npos) << all;
  EXPECT_NE(all.find("not closed (ZwClose)"), std::string::npos) << all;
  EXPECT_EQ(count(Code::HandleLeak), 2u);

  // The library is still mapped: its thread keeps running its code.
  void* library = dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD);
  ASSERT_NE(library, nullptr) << "the host must not dlclose a driver whose thread still runs";
  auto state = reinterpret_cast<LONG (*)(void)>(dlsym(library, "ThreadDriverState"));
  auto stopAndWait = reinterpret_cast<NTSTATUS (*)(void)>(dlsym(library, "ThreadDriverStopAndWait"));
  ASSERT_NE(state, nullptr);
  ASSERT_NE(stopAndWait, nullptr);
  EXPECT_EQ(state(), 0);
  EXPECT_EQ(openwfp::km::runningSystemThreads(), 1u);
  EXPECT_EQ(stopAndWait(), STATUS_SUCCESS);
  EXPECT_EQ(state(), 1) << "ended by PsTerminateSystemThread through the driver's C frames";
  EXPECT_EQ(openwfp::km::runningSystemThreads(), 0u);
  dlclose(library);
}

// ---- IRP cancellation ------------------------------------------------------------------------

namespace {

struct ManualIrp {
  IRP irp{};
  IO_STACK_LOCATION stack{};
  ManualIrp() {
    irp.Tail.Overlay.CurrentStackLocation = &stack;
    InitializeListHead(&irp.Tail.Overlay.ListEntry);
  }
};

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

// ---- Cancel-safe queues ------------------------------------------------------------------------

namespace {

struct TestQueue {
  IO_CSQ csq;  // first: the callbacks get the IO_CSQ
  KSPIN_LOCK lock;
  LIST_ENTRY head;
  std::vector<PIRP> cancelled;
};

TestQueue* queueOf(PIO_CSQ csq) { return CONTAINING_RECORD(csq, TestQueue, csq); }

void NTAPI qInsert(PIO_CSQ csq, PIRP irp) { InsertTailList(&queueOf(csq)->head, &irp->Tail.Overlay.ListEntry); }
void NTAPI qRemove(PIO_CSQ, PIRP irp) { RemoveEntryList(&irp->Tail.Overlay.ListEntry); }
PIRP NTAPI qPeek(PIO_CSQ csq, PIRP irp, PVOID) {
  TestQueue* q = queueOf(csq);
  PLIST_ENTRY next = irp == nullptr ? q->head.Flink : irp->Tail.Overlay.ListEntry.Flink;
  return next == &q->head ? nullptr : CONTAINING_RECORD(next, IRP, Tail.Overlay.ListEntry);
}
void NTAPI qAcquire(PIO_CSQ csq, PKIRQL irql) { KeAcquireSpinLock(&queueOf(csq)->lock, irql); }
void NTAPI qRelease(PIO_CSQ csq, KIRQL irql) { KeReleaseSpinLock(&queueOf(csq)->lock, irql); }
void NTAPI qCompleteCanceled(PIO_CSQ csq, PIRP irp) { queueOf(csq)->cancelled.push_back(irp); }

}  // namespace

TEST_F(KernelObjects, S1_1_CancelSafeQueueInsertCancelRemove) {
  TestQueue q;
  KeInitializeSpinLock(&q.lock);
  InitializeListHead(&q.head);
  ASSERT_EQ(IoCsqInitialize(&q.csq, qInsert, qRemove, qPeek, qAcquire, qRelease, qCompleteCanceled), STATUS_SUCCESS);
  ManualIrp irps[4];
  IO_CSQ_IRP_CONTEXT contexts[4];
  for (int i = 0; i < 3; ++i) IoCsqInsertIrp(&q.csq, &irps[i].irp, &contexts[i]);
  EXPECT_NE(irps[0].stack.Control & SL_PENDING_RETURNED, 0) << "inserted IRPs are marked pending";
  EXPECT_NE(irps[0].irp.CancelRoutine, nullptr) << "and cancelable";

  EXPECT_TRUE(IoCancelIrp(&irps[1].irp));
  ASSERT_EQ(q.cancelled.size(), 1u);
  EXPECT_EQ(q.cancelled[0], &irps[1].irp) << "the cancelled IRP left the queue and went to CompleteCanceledIrp";
  EXPECT_EQ(IoCsqRemoveIrp(&q.csq, &contexts[1]), nullptr) << "already cancelled";

  EXPECT_EQ(IoCsqRemoveIrp(&q.csq, &contexts[2]), &irps[2].irp);
  EXPECT_EQ(IoCsqRemoveNextIrp(&q.csq, nullptr), &irps[0].irp);
  EXPECT_EQ(IoCsqRemoveNextIrp(&q.csq, nullptr), nullptr);
  EXPECT_TRUE(IsListEmpty(&q.head));
  EXPECT_FALSE(IoCancelIrp(&irps[0].irp)) << "a removed IRP is no longer cancelable";
  EXPECT_EQ(q.cancelled.size(), 1u);

  // Cancelled before it was queued: completed as cancelled at once.
  irps[3].irp.Cancel = TRUE;
  IoCsqInsertIrp(&q.csq, &irps[3].irp, nullptr);
  ASSERT_EQ(q.cancelled.size(), 2u);
  EXPECT_EQ(q.cancelled[1], &irps[3].irp);
  EXPECT_TRUE(IsListEmpty(&q.head));
  EXPECT_EQ(KeGetCurrentIrql(), PASSIVE_LEVEL);
  EXPECT_EQ(count(Code::KernelApiMisuse), 0u);
}

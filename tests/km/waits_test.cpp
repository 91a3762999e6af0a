// S1.1 (a Windows callout driver runs unchanged): dispatcher objects and waits (src/km/waits.cpp):
// KEVENT, KeWaitForSingleObject / KeWaitForMultipleObjects, KeDelayExecutionThread, tick count
// and interrupt time; S11.1 misuse reports (waits at DISPATCH_LEVEL). Timeouts here are generous
// failure guards only; no assertion depends on timing.
#include <ntddk.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "km_test_support.h"
#include "openwfp/openwfp.h"
#include "verifier/verifier.h"

using kmtest::eventually;
using kmtest::kGuard100ns;
using kmtest::KernelObjects;
using kmtest::rel100ns;
using openwfp::Runtime;
using openwfp::verifier::Code;

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

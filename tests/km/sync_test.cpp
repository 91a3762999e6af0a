// S1.1 (a Windows callout driver runs unchanged): spin locks and IRQL (src/km/sync.cpp):
// KeAcquireSpinLock, in-stack queued spin locks, the DPC-level variants, misuse reports.
#include <ntddk.h>

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "km/support.h"
#include "km_test_support.h"
#include "verifier/verifier.h"

using kmtest::KernelSupport;
using openwfp::verifier::Code;

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

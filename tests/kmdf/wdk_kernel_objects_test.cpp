// S15.2: DPCs, timers, mutexes, ERESOURCE, push locks, rundown protection, callback objects and
// the BFE state (src/km/dpcs.cpp, timers.cpp, waits.cpp, ex_locks.cpp, eresource.cpp,
// callbacks.cpp, src/kapi/fwps_unsupported.cpp); S15.3: the stream, injection and NBL functions
// fail and the verifier names them. Waits are bounded (failure guards of seconds); no assertion
// depends on timing except the lower bounds of timer due times.
#include <ntifs.h>
#include <fwpmk.h>
#include <fwpsk.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "km/support.h"
#include "openwfp/openwfp.h"
#include "verifier/verifier.h"

namespace {

using Clock = std::chrono::steady_clock;
using openwfp::verifier::Code;

LARGE_INTEGER relMs(LONGLONG ms) {
  LARGE_INTEGER li;
  li.QuadPart = -ms * 10000;
  return li;
}
const LONGLONG kGuardMs = 10000;

template <typename F>
bool eventually(F cond, int ms = 10000) {
  const auto end = Clock::now() + std::chrono::milliseconds(ms);
  while (Clock::now() < end) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return cond();
}

struct DpcProbe {
  KEVENT ran;
  std::atomic<int> count{0};
  std::atomic<int> irql{-1};
  PVOID context = nullptr;
  PVOID a1 = nullptr;
  PVOID a2 = nullptr;
};

void NTAPI probeDpc(PKDPC, PVOID context, PVOID a1, PVOID a2) {
  auto* p = static_cast<DpcProbe*>(context);
  p->irql = KeGetCurrentIrql();
  p->a1 = a1;
  p->a2 = a2;
  ++p->count;
  KeSetEvent(&p->ran, 0, FALSE);
}

}  // namespace

TEST(WdkHeaders, S15_2_QueuedDpcRunsAtDispatchLevelWithItsArguments) {
  openwfp::Runtime::reset();
  DpcProbe p;
  KeInitializeEvent(&p.ran, SynchronizationEvent, FALSE);
  KDPC dpc;
  KeInitializeDpc(&dpc, probeDpc, &p);
  int a = 1, b = 2;
  ASSERT_TRUE(KeInsertQueueDpc(&dpc, &a, &b));
  LARGE_INTEGER guard = relMs(kGuardMs);
  ASSERT_EQ(KeWaitForSingleObject(&p.ran, Executive, KernelMode, FALSE, &guard), STATUS_SUCCESS) << "DPC never ran";
  EXPECT_EQ(p.irql.load(), DISPATCH_LEVEL);
  EXPECT_EQ(p.a1, &a);
  EXPECT_EQ(p.a2, &b);
  KeFlushQueuedDpcs();
  EXPECT_EQ(p.count.load(), 1);
  EXPECT_EQ(KeGetCurrentIrql(), PASSIVE_LEVEL);
}

TEST(WdkHeaders, S15_2_TimerFiresItsDpcAfterTheDueTime) {
  openwfp::Runtime::reset();
  DpcProbe p;
  KeInitializeEvent(&p.ran, SynchronizationEvent, FALSE);
  KDPC dpc;
  KeInitializeDpc(&dpc, probeDpc, &p);
  KTIMER timer;
  KeInitializeTimer(&timer);
  const auto start = Clock::now();
  EXPECT_FALSE(KeSetTimer(&timer, relMs(50), &dpc)) << "the timer was not set before";
  EXPECT_FALSE(KeReadStateTimer(&timer));
  LARGE_INTEGER guard = relMs(kGuardMs);
  ASSERT_EQ(KeWaitForSingleObject(&p.ran, Executive, KernelMode, FALSE, &guard), STATUS_SUCCESS) << "DPC never ran";
  EXPECT_GE(Clock::now() - start, std::chrono::milliseconds(50)) << "fired before its due time";
  EXPECT_TRUE(KeReadStateTimer(&timer)) << "an expired notification timer is signaled";
  EXPECT_EQ(KeWaitForSingleObject(&timer, Executive, KernelMode, FALSE, &guard), STATUS_SUCCESS);
  EXPECT_FALSE(KeCancelTimer(&timer)) << "an expired one-shot timer is no longer set";
  EXPECT_EQ(p.count.load(), 1);
}

TEST(WdkHeaders, S15_2_PeriodicTimerRepeatsUntilCancelled) {
  openwfp::Runtime::reset();
  DpcProbe p;
  KeInitializeEvent(&p.ran, SynchronizationEvent, FALSE);
  KDPC dpc;
  KeInitializeDpc(&dpc, probeDpc, &p);
  KTIMER timer;
  KeInitializeTimerEx(&timer, SynchronizationTimer);
  KeSetTimerEx(&timer, relMs(10), 10, &dpc);
  ASSERT_TRUE(eventually([&] { return p.count.load() >= 3; })) << "periodic timer fired " << p.count.load() << " times";
  EXPECT_TRUE(KeCancelTimer(&timer)) << "a periodic timer stays set";
  KeFlushQueuedDpcs();
  const int after = p.count.load();
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  KeFlushQueuedDpcs();
  EXPECT_EQ(p.count.load(), after) << "fired after KeCancelTimer";
}

TEST(WdkHeaders, S15_2_DpcQueuedTwiceRunsOnceAndCanBeRemoved) {
  openwfp::Runtime::reset();
  DpcProbe p;
  KeInitializeEvent(&p.ran, SynchronizationEvent, FALSE);
  KDPC dpc;
  KeInitializeDpc(&dpc, probeDpc, &p);
  // Block the DPC thread with a first DPC that waits, so the second stays queued.
  KEVENT gate;
  KeInitializeEvent(&gate, NotificationEvent, FALSE);
  KDPC blocker;
  KeInitializeThreadedDpc(
      &blocker,
      [](PKDPC, PVOID g, PVOID, PVOID) {
        LARGE_INTEGER guard = relMs(kGuardMs);
        KeWaitForSingleObject(g, Executive, KernelMode, FALSE, &guard);
      },
      &gate);
  ASSERT_TRUE(KeInsertQueueDpc(&blocker, nullptr, nullptr));
  ASSERT_TRUE(KeInsertQueueDpc(&dpc, nullptr, nullptr));
  EXPECT_FALSE(KeInsertQueueDpc(&dpc, nullptr, nullptr)) << "already queued";
  EXPECT_TRUE(KeRemoveQueueDpc(&dpc));
  EXPECT_FALSE(KeRemoveQueueDpc(&dpc));
  KeSetEvent(&gate, 0, FALSE);
  KeFlushQueuedDpcs();
  EXPECT_EQ(p.count.load(), 0) << "a removed DPC ran";
}

TEST(WdkHeaders, S15_2_MutexesExcludeAcrossThreads) {
  openwfp::Runtime::reset();
  KMUTEX kmutex;
  KeInitializeMutex(&kmutex, 0);
  FAST_MUTEX fast;
  ExInitializeFastMutex(&fast);
  KGUARDED_MUTEX guarded;
  KeInitializeGuardedMutex(&guarded);
  // Per lock: how many threads are inside at once (at most 1), and a plain counter that loses
  // increments if two threads run the section together.
  struct Section {
    std::atomic<int> inside{0}, maxInside{0};
    long counter = 0;
    void enter() {
      const int n = ++inside;
      int m = maxInside.load();
      while (n > m && !maxInside.compare_exchange_weak(m, n)) {
      }
      const long c = counter;
      std::this_thread::yield();
      counter = c + 1;
      --inside;
    }
  } sections[3];
  std::atomic<int> wrongIrql{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        KeWaitForSingleObject(&kmutex, Executive, KernelMode, FALSE, nullptr);
        KeWaitForSingleObject(&kmutex, Executive, KernelMode, FALSE, nullptr);  // recursive for its owner
        sections[0].enter();
        KeReleaseMutex(&kmutex, FALSE);
        KeReleaseMutex(&kmutex, FALSE);
        ExAcquireFastMutex(&fast);
        if (KeGetCurrentIrql() != APC_LEVEL) ++wrongIrql;
        sections[1].enter();
        ExReleaseFastMutex(&fast);
        KeAcquireGuardedMutex(&guarded);
        sections[2].enter();
        KeReleaseGuardedMutex(&guarded);
      }
    });
  }
  for (auto& t : threads) t.join();
  for (auto& sct : sections) {
    EXPECT_EQ(sct.maxInside.load(), 1) << "two threads were inside at once";
    EXPECT_EQ(sct.counter, 4 * 200);
  }
  EXPECT_EQ(wrongIrql.load(), 0) << "ExAcquireFastMutex raises to APC_LEVEL";
  EXPECT_EQ(KeReadStateMutex(&kmutex), 1) << "released";
  EXPECT_EQ(openwfp::Runtime::current().verifier().count(Code::KernelApiMisuse), 0u);
  ExAcquireFastMutex(&fast);
  ExAcquireFastMutex(&fast);  // recursive: reported, not a deadlock
  EXPECT_EQ(openwfp::Runtime::current().verifier().count(Code::KernelApiMisuse), 1u);
  ExReleaseFastMutex(&fast);
  EXPECT_EQ(KeGetCurrentIrql(), PASSIVE_LEVEL);
  EXPECT_TRUE(ExTryToAcquireFastMutex(&fast));
  std::thread([&] { EXPECT_FALSE(ExTryToAcquireFastMutex(&fast)) << "held by the other thread"; }).join();
  ExReleaseFastMutex(&fast);
}

TEST(WdkHeaders, S15_2_EresourceSharedAndExclusive) {
  openwfp::Runtime::reset();
  ERESOURCE res;
  ASSERT_EQ(ExInitializeResourceLite(&res), STATUS_SUCCESS);
  ASSERT_TRUE(ExAcquireResourceSharedLite(&res, TRUE));
  std::atomic<bool> otherShared{false}, otherExclusive{true};
  std::thread([&] {
    otherShared = ExAcquireResourceSharedLite(&res, FALSE) == TRUE;
    if (otherShared) ExReleaseResourceLite(&res);
    otherExclusive = ExAcquireResourceExclusiveLite(&res, FALSE) == TRUE;
  }).join();
  EXPECT_TRUE(otherShared) << "two shared owners at once";
  EXPECT_FALSE(otherExclusive) << "exclusive granted while held shared";
  EXPECT_EQ(ExIsResourceAcquiredSharedLite(&res), 1u);
  ExReleaseResourceLite(&res);

  ASSERT_TRUE(ExAcquireResourceExclusiveLite(&res, TRUE));
  ASSERT_TRUE(ExAcquireResourceSharedLite(&res, TRUE)) << "the exclusive owner may acquire shared";
  EXPECT_TRUE(ExIsResourceAcquiredExclusiveLite(&res));
  std::atomic<bool> acquired{false};
  std::thread waiter([&] {
    KeEnterCriticalRegion();
    ExAcquireResourceSharedLite(&res, TRUE);  // waits for the exclusive owner
    acquired = true;
    ExReleaseResourceLite(&res);
    KeLeaveCriticalRegion();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  EXPECT_FALSE(acquired.load()) << "shared granted while held exclusive";
  ExReleaseResourceLite(&res);
  EXPECT_FALSE(acquired.load()) << "granted while the owner still held it once";
  ExReleaseResourceLite(&res);
  EXPECT_TRUE(eventually([&] { return acquired.load(); })) << "the waiter never got the resource";
  waiter.join();
  EXPECT_EQ(ExDeleteResourceLite(&res), STATUS_SUCCESS);
  EXPECT_EQ(openwfp::Runtime::current().verifier().count(Code::KernelApiMisuse), 0u);
}

TEST(WdkHeaders, S15_2_PushLockExcludesWriters) {
  openwfp::Runtime::reset();
  EX_PUSH_LOCK lock;
  ExInitializePushLock(&lock);
  ExAcquirePushLockShared(&lock);
  ExAcquirePushLockShared(&lock);
  std::atomic<bool> writer{false};
  std::thread w([&] {
    ExAcquirePushLockExclusive(&lock);
    writer = true;
    ExReleasePushLockExclusive(&lock);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  EXPECT_FALSE(writer.load()) << "exclusive while two readers hold it";
  ExReleasePushLockShared(&lock);
  EXPECT_FALSE(writer.load());
  ExReleasePushLockShared(&lock);
  EXPECT_TRUE(eventually([&] { return writer.load(); }));
  w.join();
  EXPECT_EQ(lock.Value, 0u);
}

TEST(WdkHeaders, S15_2_RundownWaitBlocksUntilTheLastRelease) {
  openwfp::Runtime::reset();
  EX_RUNDOWN_REF ref;
  ExInitializeRundownProtection(&ref);
  ASSERT_TRUE(ExAcquireRundownProtection(&ref));
  ASSERT_TRUE(ExAcquireRundownProtection(&ref));
  std::atomic<bool> done{false};
  std::thread waiter([&] {
    ExWaitForRundownProtectionRelease(&ref);
    done = true;
  });
  ASSERT_TRUE(eventually([&] { return (ref.Count & 1) != 0; })) << "rundown never started";
  EXPECT_FALSE(ExAcquireRundownProtection(&ref)) << "acquired after rundown started";
  ExReleaseRundownProtection(&ref);
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  EXPECT_FALSE(done.load()) << "returned with one holder left";
  ExReleaseRundownProtection(&ref);
  EXPECT_TRUE(eventually([&] { return done.load(); })) << "the wait never returned";
  waiter.join();
  ExReInitializeRundownProtection(&ref);
  EXPECT_TRUE(ExAcquireRundownProtection(&ref));
  ExReleaseRundownProtection(&ref);
}

namespace {
struct CallbackLog {
  std::vector<std::pair<PVOID, PVOID>> calls;
  PVOID context = nullptr;
};
void NTAPI logCallback(PVOID context, PVOID a1, PVOID a2) {
  auto* log = static_cast<CallbackLog*>(context);
  log->calls.emplace_back(a1, a2);
}
}  // namespace

TEST(WdkHeaders, S15_2_CallbackObjectsNotifyRegisteredCallbacks) {
  openwfp::Runtime::reset();
  UNICODE_STRING name;
  RtlInitUnicodeString(&name, L"\\Callback\\OpenwfpTestS15_2");
  OBJECT_ATTRIBUTES attrs;
  InitializeObjectAttributes(&attrs, &name, OBJ_CASE_INSENSITIVE, nullptr, nullptr);
  PCALLBACK_OBJECT object = nullptr;
  EXPECT_EQ(ExCreateCallback(&object, &attrs, FALSE, TRUE), STATUS_OBJECT_NAME_NOT_FOUND);
  ASSERT_EQ(ExCreateCallback(&object, &attrs, TRUE, TRUE), STATUS_SUCCESS);
  PCALLBACK_OBJECT again = nullptr;
  ASSERT_EQ(ExCreateCallback(&again, &attrs, FALSE, TRUE), STATUS_SUCCESS);
  EXPECT_EQ(again, object) << "opened by name";
  CallbackLog first, second;
  PVOID r1 = ExRegisterCallback(object, logCallback, &first);
  PVOID r2 = ExRegisterCallback(object, logCallback, &second);
  ASSERT_NE(r1, nullptr);
  ASSERT_NE(r2, nullptr);
  int x = 0, y = 0;
  ExNotifyCallback(object, &x, &y);
  ExUnregisterCallback(r1);
  ExNotifyCallback(object, &y, &x);
  ASSERT_EQ(first.calls.size(), 1u);
  EXPECT_TRUE(first.calls[0].first == &x && first.calls[0].second == &y);
  ASSERT_EQ(second.calls.size(), 2u);
  EXPECT_TRUE(second.calls[1].first == &y && second.calls[1].second == &x);
  ExUnregisterCallback(r2);
  ObDereferenceObject(object);
  ObDereferenceObject(again);

  RtlInitUnicodeString(&name, L"\\Callback\\PowerState");
  PCALLBACK_OBJECT power = nullptr;
  EXPECT_EQ(ExCreateCallback(&power, &attrs, FALSE, TRUE), STATUS_SUCCESS) << "exists from the start";
  EXPECT_EQ(openwfp::Runtime::current().verifier().count(Code::KernelApiMisuse), 0u);
}

TEST(WdkHeaders, S15_2_BfeIsRunningAndSubscriptionsAreHandles) {
  openwfp::Runtime::reset();
  EXPECT_EQ(FwpmBfeStateGet0(), FWPM_SERVICE_RUNNING);
  static std::atomic<int> calls{0};
  calls = 0;
  int device = 0;
  HANDLE h = nullptr;
  ASSERT_EQ(FwpmBfeStateSubscribeChanges0(
                &device, [](void*, FWPM_SERVICE_STATE) { ++calls; }, nullptr, &h),
            STATUS_SUCCESS);
  EXPECT_NE(h, nullptr);
  EXPECT_EQ(calls.load(), 0) << "the state did not change: no callback (as on Windows)";
  EXPECT_EQ(FwpmBfeStateUnsubscribeChanges0(h), STATUS_SUCCESS);
  EXPECT_EQ(FwpmBfeStateUnsubscribeChanges0(h), STATUS_INVALID_PARAMETER);
  EXPECT_EQ(openwfp::Runtime::current().verifier().count(Code::UseAfterRelease), 1u);
}

TEST(WdkHeaders, S15_3_InjectionAndNblFunctionsFailAndAreNamed) {
  openwfp::Runtime::reset();
  auto& v = openwfp::Runtime::current().verifier();
  auto lastNames = [&](const char* fn) {
    const auto all = v.violations();
    return !all.empty() && all.back().code == Code::NotSupported && all.back().message.find(fn) == 0;
  };
  HANDLE inj = reinterpret_cast<HANDLE>(1);
  EXPECT_EQ(FwpsInjectionHandleCreate0(AF_INET, FWPS_INJECTION_TYPE_TRANSPORT, &inj), STATUS_NOT_SUPPORTED);
  EXPECT_EQ(inj, nullptr);
  EXPECT_TRUE(lastNames("FwpsInjectionHandleCreate0"));
  NET_BUFFER_LIST nbl{};
  NET_BUFFER_LIST* out = &nbl;
  EXPECT_EQ(FwpsAllocateCloneNetBufferList0(&nbl, nullptr, nullptr, 0, &out), STATUS_NOT_SUPPORTED);
  EXPECT_EQ(out, nullptr);
  EXPECT_TRUE(lastNames("FwpsAllocateCloneNetBufferList0"));
  EXPECT_EQ(FwpsStreamInjectAsync0(nullptr, nullptr, 0, 1, 2, FWPS_LAYER_STREAM_V4, FWPS_STREAM_FLAG_SEND, &nbl, 0,
                                   nullptr, nullptr),
            STATUS_NOT_SUPPORTED);
  EXPECT_TRUE(lastNames("FwpsStreamInjectAsync0"));
  EXPECT_EQ(FwpsStreamContinue0(1, 2, FWPS_LAYER_STREAM_V4, 0), STATUS_NOT_SUPPORTED);
  EXPECT_TRUE(lastNames("FwpsStreamContinue0"));
  EXPECT_EQ(FwpsQueryPacketInjectionState0(nullptr, &nbl, nullptr), FWPS_PACKET_NOT_INJECTED);
  EXPECT_TRUE(lastNames("FwpsQueryPacketInjectionState0"));
  FwpsReferenceNetBufferList0(&nbl, FALSE);
  EXPECT_TRUE(lastNames("FwpsReferenceNetBufferList0"));
  NET_BUFFER_LIST_POOL_PARAMETERS params{};
  EXPECT_EQ(NdisAllocateNetBufferListPool(nullptr, &params), nullptr);
  EXPECT_TRUE(lastNames("NdisAllocateNetBufferListPool"));
  EXPECT_EQ(FwpsInjectTransportSendAsync(nullptr, nullptr, 0, 0, nullptr, AF_INET, DEFAULT_COMPARTMENT_ID, &nbl,
                                         nullptr, nullptr),
            STATUS_NOT_SUPPORTED);
  EXPECT_TRUE(lastNames("FwpsInjectTransportSendAsync1"));
  EXPECT_EQ(v.count(Code::NotSupported), 8u) << "one violation per call";
  // The NBL macros read the WDK members.
  NET_BUFFER nb{};
  nb.DataLength = 40;
  nbl.FirstNetBuffer = &nb;
  EXPECT_EQ(NET_BUFFER_LIST_FIRST_NB(&nbl), &nb);
  EXPECT_EQ(NET_BUFFER_DATA_LENGTH(NET_BUFFER_LIST_FIRST_NB(&nbl)), 40u);
  EXPECT_EQ(NET_BUFFER_LIST_NEXT_NBL(&nbl), nullptr);
}

// km/dpcs.cpp - deferred procedure calls: KeInitializeDpc, KeInitializeThreadedDpc,
// KeInsertQueueDpc, KeRemoveQueueDpc, KeFlushQueuedDpcs, KeSetImportanceDpc,
// KeSetTargetProcessorDpc, KeGetCurrentProcessorNumber, KeQueryActiveProcessorCount.
//
// One DPC thread runs the queued DPCs in order, each inside a CurrentDriverScope of the driver
// that queued it, at DISPATCH_LEVEL (a threaded DPC at PASSIVE_LEVEL, as Windows runs them by
// default). A KDPC is queued at most once: KDPC.DpcData is non-NULL while it is queued, and
// SystemArgument1/2 hold the arguments of the KeInsertQueueDpc that queued it.
//
// Locking: Queue::mu guards the queue, the driver names and DpcData of every KDPC; it is never
// held while a deferred routine runs.
#include <fmt/format.h>
#include <sched.h>
#include <spdlog/spdlog.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include "km/internal.h"
#include "km/support.h"
#include "verifier/verifier.h"

namespace {

constexpr UCHAR kDpcObject = 19;          // KOBJECTS: DpcObject
constexpr UCHAR kThreadedDpcObject = 24;  // KOBJECTS: ThreadedDpcObject
PVOID const kQueuedMark = reinterpret_cast<PVOID>(static_cast<uintptr_t>(1));

using openwfp::km::internal::reportMisuse;

struct Queue {
  std::mutex mu;
  std::condition_variable cv;      // work queued / stop
  std::condition_variable idleCv;  // queue empty and nothing running
  std::deque<KDPC*> items;
  std::unordered_map<KDPC*, std::string> drivers;  // queued DPC -> driver that queued it
  bool running = false;                            // a routine is running now
  std::thread thread;
};

void runLoop(Queue& q);

// Never destroyed (drivers may queue DPCs while the process exits); the thread is detached.
Queue& queue() {
  static Queue* q = [] {
    auto* created = new Queue;
    created->thread = std::thread([created] { runLoop(*created); });
    created->thread.detach();
    return created;
  }();
  return *q;
}

void runLoop(Queue& q) {
  for (;;) {
    KDPC* dpc = nullptr;
    std::string driver;
    PVOID a1 = nullptr, a2 = nullptr;
    {
      std::unique_lock lock(q.mu);
      q.cv.wait(lock, [&] { return !q.items.empty(); });
      dpc = q.items.front();
      q.items.pop_front();
      auto it = q.drivers.find(dpc);
      if (it != q.drivers.end()) {
        driver = std::move(it->second);
        q.drivers.erase(it);
      }
      a1 = dpc->SystemArgument1;
      a2 = dpc->SystemArgument2;
      dpc->DpcData = nullptr;  // from here on the routine may queue it again
      q.running = true;
    }
    {
      openwfp::verifier::CurrentDriverScope scope(driver);
      openwfp::km::IrqlScope irql(dpc->Type == kThreadedDpcObject ? PASSIVE_LEVEL : DISPATCH_LEVEL);
      try {
        dpc->DeferredRoutine(dpc, dpc->DeferredContext, a1, a2);
      } catch (...) {
        spdlog::error("[{}] deferred routine threw an exception", driver);
      }
    }
    {
      std::lock_guard lock(q.mu);
      q.running = false;
      if (q.items.empty()) q.idleCv.notify_all();
    }
  }
}

void initialize(PRKDPC Dpc, PKDEFERRED_ROUTINE routine, PVOID context, UCHAR type, const char* api) {
  if (Dpc == nullptr || routine == nullptr) {
    reportMisuse(fmt::format("{}: {} is NULL", api, Dpc == nullptr ? "Dpc" : "DeferredRoutine"));
    return;
  }
  *Dpc = KDPC{};
  Dpc->Type = type;
  Dpc->Importance = MediumImportance;
  Dpc->DeferredRoutine = routine;
  Dpc->DeferredContext = context;
}

}  // namespace

namespace openwfp::km::internal {

BOOLEAN queueDpc(PRKDPC Dpc, PVOID a1, PVOID a2, const std::string& driver) {
  Queue& q = queue();
  std::lock_guard lock(q.mu);
  if (Dpc->DpcData != nullptr) return FALSE;
  Dpc->SystemArgument1 = a1;
  Dpc->SystemArgument2 = a2;
  Dpc->DpcData = kQueuedMark;
  if (Dpc->Importance == HighImportance) {
    q.items.push_front(Dpc);
  } else {
    q.items.push_back(Dpc);
  }
  q.drivers[Dpc] = driver;
  q.cv.notify_one();
  return TRUE;
}

}  // namespace openwfp::km::internal

extern "C" {

void NTAPI KeInitializeDpc(PRKDPC Dpc, PKDEFERRED_ROUTINE DeferredRoutine, PVOID DeferredContext) {
  initialize(Dpc, DeferredRoutine, DeferredContext, kDpcObject, "KeInitializeDpc");
}

void NTAPI KeInitializeThreadedDpc(PRKDPC Dpc, PKDEFERRED_ROUTINE DeferredRoutine, PVOID DeferredContext) {
  initialize(Dpc, DeferredRoutine, DeferredContext, kThreadedDpcObject, "KeInitializeThreadedDpc");
}

BOOLEAN NTAPI KeInsertQueueDpc(PRKDPC Dpc, PVOID SystemArgument1, PVOID SystemArgument2) {
  if (Dpc == nullptr || Dpc->DeferredRoutine == nullptr ||
      (Dpc->Type != kDpcObject && Dpc->Type != kThreadedDpcObject)) {
    reportMisuse(fmt::format("KeInsertQueueDpc({}): not a DPC initialized by KeInitializeDpc", static_cast<void*>(Dpc)));
    return FALSE;
  }
  return openwfp::km::internal::queueDpc(Dpc, SystemArgument1, SystemArgument2, openwfp::verifier::currentDriver());
}

BOOLEAN NTAPI KeRemoveQueueDpc(PRKDPC Dpc) {
  if (Dpc == nullptr) {
    reportMisuse("KeRemoveQueueDpc(NULL)");
    return FALSE;
  }
  Queue& q = queue();
  std::lock_guard lock(q.mu);
  if (Dpc->DpcData == nullptr) return FALSE;
  for (auto it = q.items.begin(); it != q.items.end(); ++it) {
    if (*it == Dpc) {
      q.items.erase(it);
      break;
    }
  }
  q.drivers.erase(Dpc);
  Dpc->DpcData = nullptr;
  if (q.items.empty() && !q.running) q.idleCv.notify_all();
  return TRUE;
}

void NTAPI KeFlushQueuedDpcs(void) {
  if (KeGetCurrentIrql() != PASSIVE_LEVEL) {
    reportMisuse(fmt::format("KeFlushQueuedDpcs at IRQL {}: requires PASSIVE_LEVEL; not waited", KeGetCurrentIrql()));
    return;
  }
  Queue& q = queue();
  std::unique_lock lock(q.mu);
  if (q.running && q.thread.get_id() == std::this_thread::get_id()) return;
  q.idleCv.wait(lock, [&] { return q.items.empty() && !q.running; });
}

void NTAPI KeSetImportanceDpc(PRKDPC Dpc, KDPC_IMPORTANCE Importance) {
  if (Dpc != nullptr) Dpc->Importance = static_cast<UCHAR>(Importance);
}

void NTAPI KeSetTargetProcessorDpc(PRKDPC Dpc, CCHAR Number) {
  // One DPC thread serves every processor number: the target is recorded, not enforced.
  if (Dpc != nullptr) Dpc->Number = static_cast<USHORT>(Number);
}

ULONG NTAPI KeGetCurrentProcessorNumber(void) { return static_cast<ULONG>(sched_getcpu() < 0 ? 0 : sched_getcpu()); }

ULONG NTAPI KeQueryActiveProcessorCount(PKAFFINITY ActiveProcessors) {
  const unsigned n = std::thread::hardware_concurrency() == 0 ? 1 : std::thread::hardware_concurrency();
  if (ActiveProcessors != nullptr) {
    *ActiveProcessors = n >= sizeof(KAFFINITY) * 8 ? ~static_cast<KAFFINITY>(0) : (static_cast<KAFFINITY>(1) << n) - 1;
  }
  return n;
}

}  // extern "C"

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
#include <dlfcn.h>
#include <sched.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

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
  uint64_t runSeq = 0;                             // counts the routines started
  std::string runningDriver;                       // of the running routine
  const void* runningRoutine = nullptr;
  const void* runningDpc = nullptr;
  const void* runningContext = nullptr;
  std::thread thread;
  std::thread::id threadId;  // of the DPC thread (thread is detached)
};

void runLoop(Queue& q);

// Never destroyed (drivers may queue DPCs while the process exits); the thread is detached.
Queue& queue() {
  static Queue* q = [] {
    auto* created = new Queue;
    created->thread = std::thread([created] { runLoop(*created); });
    created->threadId = created->thread.get_id();
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
      ++q.runSeq;
      q.runningDriver = driver;
      q.runningRoutine = reinterpret_cast<const void*>(dpc->DeferredRoutine);
      q.runningDpc = dpc;
      q.runningContext = dpc->DeferredContext;
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
      q.idleCv.notify_all();  // KeFlushQueuedDpcs and unload waits check their own condition
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

std::string describeCode(const void* address) {
  Dl_info info{};
  if (address == nullptr || dladdr(address, &info) == 0 || info.dli_fname == nullptr) {
    return fmt::format("{}", address);
  }
  std::string file = info.dli_fname;
  if (auto slash = file.rfind('/'); slash != std::string::npos) file.erase(0, slash + 1);
  const auto offset = reinterpret_cast<uintptr_t>(address) - reinterpret_cast<uintptr_t>(info.dli_fbase);
  if (info.dli_sname != nullptr && info.dli_saddr == address) return fmt::format("{} ({}+0x{:x})", info.dli_sname, file, offset);
  return fmt::format("{} ({}+0x{:x})", address, file, offset);
}

}  // namespace openwfp::km::internal

namespace openwfp::km {

PendingRelease cancelTimersAndDpcsOf(const std::string& driverName, const std::function<bool(const void*)>& owns,
                                     std::chrono::milliseconds timeout) {
  PendingRelease out;
  Queue& q = queue();
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  uint64_t reportedRun = 0;
  for (;;) {
    std::vector<const KDPC*> timerDpcs;
    std::vector<std::string> found = internal::cancelTimersOf(driverName, owns, timerDpcs);
    std::unique_lock lock(q.mu);
    for (auto it = q.items.begin(); it != q.items.end();) {
      KDPC* dpc = *it;
      auto named = q.drivers.find(dpc);
      const bool ofTimer = std::find(timerDpcs.begin(), timerDpcs.end(), dpc) != timerDpcs.end();
      if (!ofTimer && !(named != q.drivers.end() && named->second == driverName) && !owns(dpc) &&
          !owns(reinterpret_cast<const void*>(dpc->DeferredRoutine)) && !owns(dpc->DeferredContext)) {
        ++it;
        continue;
      }
      if (!ofTimer) {
        found.push_back(fmt::format("DPC {} routine {} still queued: KeRemoveQueueDpc / KeFlushQueuedDpcs not called "
                                    "before DriverUnload returned (Windows: bugcheck 0xCE); removed from the queue",
                                    static_cast<void*>(dpc),
                                    internal::describeCode(reinterpret_cast<const void*>(dpc->DeferredRoutine))));
      }
      if (named != q.drivers.end()) q.drivers.erase(named);
      dpc->DpcData = nullptr;
      it = q.items.erase(it);
    }
    const bool runningMine = q.running && (q.runningDriver == driverName || owns(q.runningDpc) ||
                                           owns(q.runningRoutine) || owns(q.runningContext));
    if (runningMine && q.runSeq != reportedRun) {
      reportedRun = q.runSeq;
      found.push_back(fmt::format("DPC {} routine {} running when DriverUnload returned (KeFlushQueuedDpcs not "
                                  "called): waited for it to return",
                                  q.runningDpc, internal::describeCode(q.runningRoutine)));
    }
    for (auto& w : found) out.leaks.push_back(std::move(w));
    if (!runningMine) {
      if (found.empty()) return out;
      continue;  // a routine that ran meanwhile may have set a timer again
    }
    if (q.threadId == std::this_thread::get_id()) return out;  // unloaded from a DPC: cannot wait for itself
    const uint64_t seq = q.runSeq;
    if (!q.idleCv.wait_until(lock, deadline, [&] { return !q.running || q.runSeq != seq; })) {
      out.stillRunning = true;
      out.leaks.push_back(fmt::format("DPC routine {} still running after {} ms; the driver's library is not unloaded",
                                      internal::describeCode(q.runningRoutine), timeout.count()));
      return out;
    }
  }
}

}  // namespace openwfp::km

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
  if (q.running && q.threadId == std::this_thread::get_id()) return;
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

// km/timers.cpp - kernel timers: KeInitializeTimer(Ex), KeSetTimer(Ex), KeCancelTimer,
// KeReadStateTimer.
//
// A set timer is an entry of the timer thread's deadline queue. At its due time the timer
// becomes signaled (a waiter of a SynchronizationTimer consumes the signal), its DPC is queued
// in the name of the driver that set the timer (SystemArgument1/2: the low and high half of the
// expiration's system time), and a periodic timer is queued again one period after the due time
// it had. Due times follow KeWaitForSingleObject's rules: negative = relative (100 ns units),
// positive = absolute system time.
//
// Locking: Timers::mu guards the queue and every KTIMER's DueTime/Period/Dpc as openwfp uses
// them; it is held while a DPC is queued or the header is signaled (km/dpcs.cpp and
// km/waits.cpp locks come after it), never while driver code runs.
#include <fmt/format.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "km/internal.h"
#include "km/support.h"
#include "verifier/verifier.h"

namespace {

using Clock = std::chrono::steady_clock;
using Ticks100ns = std::chrono::duration<LONGLONG, std::ratio<1, 10000000>>;
constexpr LONGLONG kUnixEpochIn100ns = 116444736000000000LL;

using openwfp::km::internal::kTimerNotificationObject;
using openwfp::km::internal::kTimerSynchronizationObject;
using openwfp::km::internal::reportMisuse;

struct Entry {
  Clock::time_point due;
  std::string driver;
};

struct Timers {
  std::mutex mu;
  std::condition_variable cv;
  std::multimap<Clock::time_point, KTIMER*> queue;
  std::unordered_map<KTIMER*, Entry> set;  // timers in the queue
};

void runLoop(Timers& t);

Timers& timers() {
  static Timers* t = [] {
    auto* created = new Timers;
    std::thread([created] { runLoop(*created); }).detach();
    return created;
  }();
  return *t;
}

LONGLONG systemTime100ns() {
  return std::chrono::duration_cast<Ticks100ns>(std::chrono::system_clock::now().time_since_epoch()).count() +
         kUnixEpochIn100ns;
}

// Timers::mu held: removes the timer from the queue; whether it was there.
bool unqueueLocked(Timers& t, KTIMER* timer) {
  auto it = t.set.find(timer);
  if (it == t.set.end()) return false;
  auto [first, last] = t.queue.equal_range(it->second.due);
  for (auto q = first; q != last; ++q) {
    if (q->second == timer) {
      t.queue.erase(q);
      break;
    }
  }
  t.set.erase(it);
  return true;
}

void queueLocked(Timers& t, KTIMER* timer, Clock::time_point due, std::string driver) {
  t.queue.emplace(due, timer);
  t.set[timer] = Entry{due, std::move(driver)};
  t.cv.notify_one();
}

void expireLocked(Timers& t, KTIMER* timer) {
  Entry entry = t.set[timer];
  unqueueLocked(t, timer);
  openwfp::km::internal::signalDispatcherObject(&timer->Header);
  if (timer->Dpc != nullptr) {
    const LONGLONG now = systemTime100ns();
    openwfp::km::internal::queueDpc(timer->Dpc, reinterpret_cast<PVOID>(static_cast<uintptr_t>(now & 0xffffffff)),
                                    reinterpret_cast<PVOID>(static_cast<uintptr_t>((now >> 32) & 0xffffffff)),
                                    entry.driver);
  }
  if (timer->Period > 0) {
    queueLocked(t, timer, entry.due + std::chrono::milliseconds(timer->Period), std::move(entry.driver));
  }
}

void runLoop(Timers& t) {
  std::unique_lock lock(t.mu);
  for (;;) {
    if (t.queue.empty()) {
      t.cv.wait(lock);
      continue;
    }
    const Clock::time_point next = t.queue.begin()->first;
    if (Clock::now() < next) {
      t.cv.wait_until(lock, next);
      continue;
    }
    expireLocked(t, t.queue.begin()->second);
  }
}

bool isTimer(const KTIMER* timer) {
  return timer != nullptr &&
         (timer->Header.Type == kTimerNotificationObject || timer->Header.Type == kTimerSynchronizationObject);
}

Clock::time_point dueFrom(LARGE_INTEGER dueTime) {
  if (dueTime.QuadPart <= 0) {
    return Clock::now() + std::chrono::duration_cast<Clock::duration>(Ticks100ns(-dueTime.QuadPart));
  }
  const LONGLONG fromNow = dueTime.QuadPart - systemTime100ns();  // absolute: system time
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(Ticks100ns(fromNow < 0 ? 0 : fromNow));
}

}  // namespace

namespace openwfp::km::internal {

std::vector<std::string> cancelTimersOf(const std::string& driver, const std::function<bool(const void*)>& owns,
                                        std::vector<const KDPC*>& timerDpcs) {
  std::vector<std::string> leaks;
  Timers& t = timers();
  std::lock_guard lock(t.mu);
  std::vector<KTIMER*> mine;
  for (const auto& [timer, entry] : t.set) {
    const KDPC* dpc = timer->Dpc;
    if (entry.driver == driver || owns(timer) ||
        (dpc != nullptr && (owns(dpc) || owns(reinterpret_cast<const void*>(dpc->DeferredRoutine)) ||
                            owns(dpc->DeferredContext)))) {
      mine.push_back(timer);
    }
  }
  for (KTIMER* timer : mine) {
    const KDPC* dpc = timer->Dpc;
    const std::string kind = timer->Period > 0 ? fmt::format("periodic timer ({} ms)", timer->Period) : "timer";
    leaks.push_back(fmt::format("{} {} still set{}: KeCancelTimer not called before DriverUnload returned (Windows: "
                                "bugcheck 0xCE); cancelled",
                                kind, static_cast<void*>(timer),
                                dpc == nullptr ? std::string()
                                               : fmt::format(", DPC {} routine {}", static_cast<const void*>(dpc),
                                                             describeCode(reinterpret_cast<const void*>(
                                                                 dpc->DeferredRoutine)))));
    if (dpc != nullptr) timerDpcs.push_back(dpc);
    unqueueLocked(t, timer);
  }
  return leaks;
}

}  // namespace openwfp::km::internal

extern "C" {

void NTAPI KeInitializeTimerEx(PKTIMER Timer, TIMER_TYPE Type) {
  if (Timer == nullptr) {
    reportMisuse("KeInitializeTimerEx(NULL)");
    return;
  }
  if (Type != NotificationTimer && Type != SynchronizationTimer) {
    reportMisuse(fmt::format("KeInitializeTimerEx: invalid TIMER_TYPE {}; initialized as NotificationTimer",
                             static_cast<int>(Type)));
    Type = NotificationTimer;
  }
  Timers& t = timers();
  std::lock_guard lock(t.mu);
  if (t.set.count(Timer) == 1) {
    reportMisuse(fmt::format("KeInitializeTimerEx({}): the timer is set; cancelled first", static_cast<void*>(Timer)));
    unqueueLocked(t, Timer);
  }
  *Timer = KTIMER{};
  Timer->Header.Type = Type == SynchronizationTimer ? kTimerSynchronizationObject : kTimerNotificationObject;
  Timer->Header.Size = static_cast<UCHAR>(sizeof(KTIMER) / sizeof(LONG));
  InitializeListHead(&Timer->Header.WaitListHead);
  InitializeListHead(&Timer->TimerListEntry);
}

void NTAPI KeInitializeTimer(PKTIMER Timer) { KeInitializeTimerEx(Timer, NotificationTimer); }

BOOLEAN NTAPI KeSetTimerEx(PKTIMER Timer, LARGE_INTEGER DueTime, LONG Period, PKDPC Dpc) {
  if (!isTimer(Timer)) {
    reportMisuse(fmt::format("KeSetTimerEx({}): not a timer initialized by KeInitializeTimer(Ex)",
                             static_cast<void*>(Timer)));
    return FALSE;
  }
  if (Period < 0) {
    reportMisuse(fmt::format("KeSetTimerEx: negative Period {} ms; set as a one-shot timer", Period));
    Period = 0;
  }
  Timers& t = timers();
  std::lock_guard lock(t.mu);
  const bool wasSet = unqueueLocked(t, Timer);
  openwfp::km::internal::resetDispatcherObject(&Timer->Header);
  const Clock::time_point due = dueFrom(DueTime);
  Timer->DueTime.QuadPart = static_cast<ULONGLONG>(
      std::chrono::duration_cast<Ticks100ns>(due.time_since_epoch()).count());
  Timer->Period = static_cast<ULONG>(Period);
  Timer->Dpc = Dpc;
  queueLocked(t, Timer, due, openwfp::verifier::currentDriver());
  return wasSet ? TRUE : FALSE;
}

BOOLEAN NTAPI KeSetTimer(PKTIMER Timer, LARGE_INTEGER DueTime, PKDPC Dpc) { return KeSetTimerEx(Timer, DueTime, 0, Dpc); }

BOOLEAN NTAPI KeCancelTimer(PKTIMER Timer) {
  if (!isTimer(Timer)) {
    reportMisuse(fmt::format("KeCancelTimer({}): not a timer initialized by KeInitializeTimer(Ex)",
                             static_cast<void*>(Timer)));
    return FALSE;
  }
  Timers& t = timers();
  std::lock_guard lock(t.mu);
  return unqueueLocked(t, Timer) ? TRUE : FALSE;
}

BOOLEAN NTAPI KeReadStateTimer(PKTIMER Timer) {
  if (!isTimer(Timer)) {
    reportMisuse("KeReadStateTimer: not an initialized timer");
    return FALSE;
  }
  return __atomic_load_n(&Timer->Header.SignalState, __ATOMIC_ACQUIRE) > 0 ? TRUE : FALSE;
}

}  // extern "C"

// km/work_items.cpp - IoAllocateWorkItem / IoQueueWorkItem / IoFreeWorkItem on a small
// thread pool (3 threads, started on first use, joined at process exit). The routine runs at
// PASSIVE_LEVEL inside a CurrentDriverScope of the device's driver. WORK_QUEUE_TYPE only names
// the priority on Windows; here all queue types share one FIFO.
//
// Locking: WorkQueue::mu_ guards the queue and pending counts; gItemsMu guards gItems and the
// fields of every _IO_WORKITEM. Neither is held while a routine runs.
#include <spdlog/spdlog.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "km/internal.h"
#include "km/support.h"
#include "verifier/verifier.h"

struct _IO_WORKITEM {
  PDEVICE_OBJECT device = nullptr;
  const DRIVER_OBJECT* driver = nullptr;
  std::string driverName;
  bool queued = false;
  bool freeWhenRun = false;  // IoFreeWorkItem was called while queued
};

namespace {

using openwfp::km::internal::reportMisuse;

std::mutex gItemsMu;
std::unordered_set<_IO_WORKITEM*> gItems;  // allocated, not yet freed

thread_local bool tlsInWorker = false;

class WorkQueue {
 public:
  static constexpr unsigned kThreads = 3;

  ~WorkQueue() {
    wait(nullptr);
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }

  void post(const void* driver, std::function<void()> fn) {
    {
      std::lock_guard lock(mu_);
      if (threads_.empty()) {
        for (unsigned i = 0; i < kThreads; ++i) threads_.emplace_back([this] { run(); });
      }
      queue_.emplace_back(driver, std::move(fn));
      ++pending_[driver];
      ++pendingAll_;
    }
    cv_.notify_one();
  }

  // Waits until no item of driver (nullptr: of anyone) is queued or running.
  void wait(const void* driver) {
    if (tlsInWorker) {
      spdlog::warn("openwfp: waiting for work items from inside a work item would deadlock; not waiting");
      return;
    }
    std::unique_lock lock(mu_);
    idle_.wait(lock, [&] {
      if (driver == nullptr) return pendingAll_ == 0;
      auto it = pending_.find(driver);
      return it == pending_.end() || it->second == 0;
    });
  }

 private:
  void run() {
    tlsInWorker = true;
    for (;;) {
      std::pair<const void*, std::function<void()>> job;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stop_ and drained
        job = std::move(queue_.front());
        queue_.pop_front();
      }
      job.second();
      {
        std::lock_guard lock(mu_);
        auto it = pending_.find(job.first);
        if (--it->second == 0) pending_.erase(it);
        --pendingAll_;
      }
      idle_.notify_all();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;    // work available / stop
  std::condition_variable idle_;  // a job finished
  std::deque<std::pair<const void*, std::function<void()>>> queue_;
  std::unordered_map<const void*, size_t> pending_;  // queued or running, per driver object
  size_t pendingAll_ = 0;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

WorkQueue& workQueue() {
  static WorkQueue queue;
  return queue;
}

void runItem(_IO_WORKITEM* item, PIO_WORKITEM_ROUTINE routine, PVOID context) {
  PDEVICE_OBJECT device;
  std::string driverName;
  {
    std::lock_guard lock(gItemsMu);
    device = item->device;
    driverName = item->driverName;
    item->queued = false;  // from here on the routine may requeue or free the item
    if (item->freeWhenRun) {
      gItems.erase(item);
      delete item;
    }
  }
  {
    openwfp::verifier::CurrentDriverScope scope(driverName);
    openwfp::km::IrqlScope irql(PASSIVE_LEVEL);
    try {
      routine(device, context);
    } catch (...) {
      spdlog::error("[{}] work item routine threw an exception", driverName);
    }
  }
  openwfp::km::internal::deviceRelease(device);
}

bool isLiveItem(_IO_WORKITEM* item) { return gItems.count(item) == 1; }

}  // namespace

namespace openwfp::km {

void waitForWorkItems(const void* driverObject) { workQueue().wait(driverObject); }

namespace internal {

std::vector<std::string> releaseWorkItemsOf(const DRIVER_OBJECT* driver) {
  std::vector<std::string> leaks;
  std::lock_guard lock(gItemsMu);
  for (auto it = gItems.begin(); it != gItems.end();) {
    _IO_WORKITEM* item = *it;
    if (item->driver == driver && !item->queued) {
      leaks.push_back(fmt::format("work item {} not freed (IoFreeWorkItem)", static_cast<void*>(item)));
      it = gItems.erase(it);
      delete item;
    } else {
      ++it;
    }
  }
  return leaks;
}

}  // namespace internal
}  // namespace openwfp::km

extern "C" {

PIO_WORKITEM NTAPI IoAllocateWorkItem(PDEVICE_OBJECT DeviceObject) {
  if (DeviceObject == nullptr) {
    reportMisuse("IoAllocateWorkItem(NULL)");
    return nullptr;
  }
  auto* item = new _IO_WORKITEM;
  item->device = DeviceObject;
  item->driver = DeviceObject->DriverObject;
  item->driverName = openwfp::km::driverNameOf(item->driver);
  if (item->driverName.empty()) item->driverName = openwfp::verifier::currentDriver();
  std::lock_guard lock(gItemsMu);
  gItems.insert(item);
  return item;
}

void NTAPI IoQueueWorkItem(PIO_WORKITEM IoWorkItem, PIO_WORKITEM_ROUTINE WorkerRoutine, WORK_QUEUE_TYPE QueueType,
                           PVOID Context) {
  (void)QueueType;
  if (WorkerRoutine == nullptr) {
    reportMisuse("IoQueueWorkItem with a NULL routine");
    return;
  }
  const void* driver = nullptr;
  PDEVICE_OBJECT device = nullptr;
  std::string problem;
  {
    std::lock_guard lock(gItemsMu);
    if (IoWorkItem == nullptr || !isLiveItem(IoWorkItem) || IoWorkItem->freeWhenRun) {
      problem = fmt::format("IoQueueWorkItem({}): not an allocated work item (freed?)", static_cast<void*>(IoWorkItem));
    } else if (IoWorkItem->queued) {
      problem = fmt::format("IoQueueWorkItem({}): already queued; not queued again", static_cast<void*>(IoWorkItem));
    } else {
      IoWorkItem->queued = true;
      driver = IoWorkItem->driver;
      device = IoWorkItem->device;
    }
  }
  if (!problem.empty()) {
    reportMisuse(std::move(problem));
    return;
  }
  openwfp::km::internal::deviceAddRef(device);  // the device outlives IoDeleteDevice until the item ran
  workQueue().post(driver, [IoWorkItem, WorkerRoutine, Context] { runItem(IoWorkItem, WorkerRoutine, Context); });
}

void NTAPI IoFreeWorkItem(PIO_WORKITEM IoWorkItem) {
  std::string problem;
  {
    std::lock_guard lock(gItemsMu);
    if (IoWorkItem == nullptr || !isLiveItem(IoWorkItem) || IoWorkItem->freeWhenRun) {
      problem = fmt::format("IoFreeWorkItem({}): not an allocated work item (freed twice?)",
                            static_cast<void*>(IoWorkItem));
    } else if (IoWorkItem->queued) {
      problem = fmt::format("IoFreeWorkItem({}) while the item is queued; freed after it runs",
                            static_cast<void*>(IoWorkItem));
      IoWorkItem->freeWhenRun = true;
    } else {
      gItems.erase(IoWorkItem);
      delete IoWorkItem;
    }
  }
  if (!problem.empty()) reportMisuse(std::move(problem));
}

}  // extern "C"

// linux/notification_loop.cpp - receiving notified calls on a pool of workers, answering them.
#include "linux/notification_loop.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include <spdlog/spdlog.h>

namespace openwfp::linux_backend {
namespace {

void noopSignalHandler(int) {}

int resolveWakeSignal(int configured) { return configured != 0 ? configured : SIGRTMAX - 3; }

void installWakeHandler(int sig) {
  static std::mutex mu;
  static std::vector<int> installed;
  std::lock_guard lock(mu);
  if (std::find(installed.begin(), installed.end(), sig) != installed.end()) return;
  struct sigaction sa {};
  sa.sa_handler = noopSignalHandler;  // no SA_RESTART: the receive ioctl returns EINTR
  sigemptyset(&sa.sa_mask);
  ::sigaction(sig, &sa, nullptr);
  installed.push_back(sig);
}

}  // namespace

NotificationLoop::NotificationLoop(int listenerFd, const InterceptorOptions& options,
                                   InterceptorCounters& counters)
    : options_(options),
      counters_(counters),
      wakeSignal_(resolveWakeSignal(options.wakeSignal)),
      listener_(listenerFd) {}

// ---- answering ----
bool NotificationLoop::respond(uint64_t id, int error, bool cont, int64_t val) {
  seccomp_notif_resp resp{};
  resp.id = id;
  resp.error = cont ? 0 : -error;
  resp.val = cont || error != 0 ? 0 : val;
  resp.flags = cont ? SECCOMP_USER_NOTIF_FLAG_CONTINUE : 0;
  int rc;
  {
    std::shared_lock lock(listenerMu_);
    rc = listener_ ? ::ioctl(listener_.get(), SECCOMP_IOCTL_NOTIF_SEND, &resp) : -1;
  }
  if (rc != 0) {
    counters_.stale.fetch_add(1, std::memory_order_relaxed);  // the caller went away (ENOENT)
    return false;
  }
  if (cont) counters_.continued.fetch_add(1, std::memory_order_relaxed);
  return true;
}

int NotificationLoop::addFd(uint64_t id, int srcFd, int targetFd, bool cloexec) {
  seccomp_notif_addfd add{};
  add.id = id;
  add.flags = SECCOMP_ADDFD_FLAG_SETFD;
  add.srcfd = static_cast<uint32_t>(srcFd);
  add.newfd = static_cast<uint32_t>(targetFd);
  add.newfd_flags = cloexec ? O_CLOEXEC : 0;
  std::shared_lock lock(listenerMu_);
  if (!listener_) return ENOENT;
  return ::ioctl(listener_.get(), SECCOMP_IOCTL_NOTIF_ADDFD, &add) >= 0 ? 0 : errno;
}

void NotificationLoop::failClosed(uint64_t id, int error, const char* what, pid_t tid, int cause) {
  counters_.failed.fetch_add(1, std::memory_order_relaxed);
  // One line a second at most: under fd exhaustion every call fails the same way.
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now().time_since_epoch()).count();
  int64_t last = lastFailLog_.load(std::memory_order_relaxed);
  if (now - last >= 1000 && lastFailLog_.compare_exchange_strong(last, now)) {
    const uint64_t more = unloggedFails_.exchange(0, std::memory_order_relaxed);
    spdlog::warn("openwfp: cannot inspect a call of task {} ({}: {}): failing it with {}{}", tid,
                 what, std::strerror(cause), std::strerror(error),
                 more != 0 ? " (" + std::to_string(more) + " more since the last line)" : "");
  } else {
    unloggedFails_.fetch_add(1, std::memory_order_relaxed);
  }
  respond(id, error, false);
}

void NotificationLoop::failOrDrop(uint64_t id, const char* what, pid_t tid, int cause) {
  if (!stillValid(id)) {
    counters_.stale.fetch_add(1, std::memory_order_relaxed);  // the task really is gone
    return;
  }
  failClosed(id, EACCES, what, tid, cause);
}

bool NotificationLoop::stillValid(uint64_t id) {
  std::shared_lock lock(listenerMu_);
  return listener_ && ::ioctl(listener_.get(), SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0;
}

// ---- workers ----
// One receiver at a time. The kernel wakes every thread waiting in the receive ioctl for each
// notification (with SYNC_WAKE_UP, all on the notifying task's CPU), so only one waits there.
// The receiver handles what it received itself and then receives again: no hand-off, no extra
// wake-up on the common path. The others are followers. One of them, the monitor, wakes now
// and then (every kStuckAfter while calls arrive, backing off to kMonitorMaxWait when idle); if
// nobody is receiving because a handler has been busy for kStuckAfter (a slow classify), it
// becomes a receiver too. A handler that finds another receiver becomes a follower.
void NotificationLoop::workerLoop(std::atomic<bool>* done) {
  std::vector<uint64_t> storage((notifSize_ + sizeof(uint64_t) - 1) / sizeof(uint64_t) + 1);
  auto* notif = reinterpret_cast<seccomp_notif*>(storage.data());
  for (;;) {
    {
      std::unique_lock lock(poolMu_);
      auto wait = std::chrono::duration_cast<std::chrono::steady_clock::duration>(kStuckAfter);
      bool wasMonitor = false;
      while (!stopping_.load(std::memory_order_acquire)) {
        if (receivers_ == 0 &&
            (handling_ == 0 || std::chrono::steady_clock::now() - lastReceive_ >= kStuckAfter)) {
          // Nobody receives (the handlers are stuck, or there are none): receive. A monitor
          // that leaves hands its role to another follower.
          if (wasMonitor) poolCv_.notify_one();
          break;
        }
        if (monitorTaken_) {
          poolCv_.wait(lock);
          continue;
        }
        monitorTaken_ = wasMonitor = true;
        auto before = lastReceive_;
        poolCv_.wait_for(lock, wait);
        monitorTaken_ = false;
        wait = lastReceive_ == before
                   ? std::min<std::chrono::steady_clock::duration>(2 * wait, kMonitorMaxWait)
                   : std::chrono::steady_clock::duration(kStuckAfter);
      }
      if (stopping_.load(std::memory_order_acquire)) break;
      ++receivers_;
    }
    std::memset(storage.data(), 0, storage.size() * sizeof(uint64_t));
    int rc = ::ioctl(listener_.get(), SECCOMP_IOCTL_NOTIF_RECV, notif);
    int err = rc == 0 ? 0 : errno;
    {
      std::lock_guard lock(poolMu_);
      --receivers_;
      if (rc == 0) {
        ++handling_;
        lastReceive_ = std::chrono::steady_clock::now();
      }
    }
    if (rc != 0) {
      if (err == EINTR) continue;
      if (err == ENOENT) {  // the call went away, or no task uses the filter any more
        pollfd p{listener_.get(), POLLIN, 0};
        if (::poll(&p, 1, 0) == 1 && (p.revents & POLLHUP) != 0) break;
        continue;
      }
      if (!stopping_.load()) spdlog::error("openwfp: seccomp receive failed: {}", std::strerror(err));
      break;
    }
    counters_.notifications.fetch_add(1, std::memory_order_relaxed);
    if (options_.passThrough) {
      respondContinue(notif->id);
    } else {
      handler_(*notif);
    }
    std::lock_guard lock(poolMu_);
    --handling_;
  }
  {
    std::lock_guard lock(poolMu_);
    poolCv_.notify_all();  // the filter is orphaned or we stop: let the followers see it
  }
  done->store(true, std::memory_order_release);
}

// ---- lifecycle ----
void NotificationLoop::start(Handler handler) {
  std::lock_guard lock(threadsMu_);
  handler_ = std::move(handler);
  seccomp_notif_sizes sizes{};
  if (sys::seccomp(SECCOMP_GET_NOTIF_SIZES, 0, &sizes) == 0) {
    notifSize_ = std::max<size_t>(sizes.seccomp_notif, sizeof(seccomp_notif));
  }
  syncWakeUp_.store(::ioctl(listener_.get(), SECCOMP_IOCTL_NOTIF_SET_FLAGS,
                            SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP) == 0,  // EINVAL/ENOTTY: old kernel
                    std::memory_order_relaxed);
  installWakeHandler(wakeSignal_);
  unsigned n = std::max(1u, options_.workerThreads);
  for (unsigned i = 0; i < n; ++i) {
    workerDone_.push_back(std::make_unique<std::atomic<bool>>(false));
    std::atomic<bool>* done = workerDone_.back().get();
    workers_.emplace_back([this, done] {
      ::pthread_setname_np(::pthread_self(), "owfp-notify");
      workerLoop(done);
    });
  }
}

void NotificationLoop::stopWorkers() {
  std::lock_guard lock(threadsMu_);
  stopping_.store(true, std::memory_order_release);
  {
    std::lock_guard pl(poolMu_);
    poolCv_.notify_all();
  }
  for (size_t i = 0; i < workers_.size(); ++i) {
    // A worker may be between its stop check and the blocking ioctl: signal until it leaves.
    while (!workerDone_[i]->load(std::memory_order_acquire)) {
      ::pthread_kill(workers_[i].native_handle(), wakeSignal_);
      for (int k = 0; k < 20 && !workerDone_[i]->load(std::memory_order_acquire); ++k) {
        std::this_thread::sleep_for(std::chrono::microseconds(500));
      }
    }
    workers_[i].join();
  }
  workers_.clear();
  workerDone_.clear();
}

void NotificationLoop::closeListener() {
  std::unique_lock lock(listenerMu_);
  listener_.reset();
}

}  // namespace openwfp::linux_backend

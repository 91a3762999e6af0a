// linux/notification_loop.h - the workers serving a seccomp listener: they receive notified
// calls and hand each to the handler on the thread that received it; calls are answered
// (continue, an errno, fail closed) from any thread, inline or after a pended classify.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <thread>
#include <vector>

#include "linux/interceptor_counters.h"
#include "linux/syscalls.h"
#include "net/unique_fd.h"
#include "openwfp/linux_backend.h"

namespace openwfp::linux_backend {

class NotificationLoop {
 public:
  // Runs on the receiving worker; must answer the call (now, or later through respond()).
  using Handler = std::function<void(const seccomp_notif&)>;

  // Takes ownership of listenerFd.
  NotificationLoop(int listenerFd, const InterceptorOptions& options, InterceptorCounters& counters);

  // Starts options.workerThreads workers. With options.passThrough every call is answered
  // "continue" unseen instead of being handed to the handler.
  void start(Handler handler);
  // Stops and joins the workers (a handler that is running finishes first). Later answers
  // still reach the kernel until closeListener().
  void stopWorkers();
  // Closes the listener: from now on the kernel fails notified calls with ENOSYS (fail closed,
  // S13.5), including those still waiting for an answer.
  void closeListener();

  // error: 0 or a positive errno; cont: let the kernel run the call; val: the call's return
  // value when error is 0 (a byte or message count). From any thread; a call that went away
  // (or a closed listener) counts as stale. true when the answer reached the waiting call.
  bool respond(uint64_t id, int error, bool cont, int64_t val = 0);
  bool respondContinue(uint64_t id) { return respond(id, 0, true); }
  // Installs srcFd in the calling task's table as number targetFd (replacing what is there),
  // before the call is answered. Returns 0 or an errno (ENOENT: the call is gone).
  int addFd(uint64_t id, int srcFd, int targetFd, bool cloexec);
  bool respondValue(uint64_t id, int64_t val) { return respond(id, 0, false, val); }
  // A call that cannot be inspected: logged (at most one line a second), counted as failed and
  // failed with `error`.
  void failClosed(uint64_t id, int error, const char* what, pid_t tid, int cause);
  // The call cannot be looked at because its task went away, or so it seems (`cause`: ESRCH,
  // ENOENT from /proc): only when the kernel agrees that the notification is no longer valid is
  // it dropped (counted stale); otherwise it is failed closed with EACCES (S13.9).
  void failOrDrop(uint64_t id, const char* what, pid_t tid, int cause);
  // The notified call is still waiting (SECCOMP_IOCTL_NOTIF_ID_VALID). From any thread.
  bool stillValid(uint64_t id);

  // SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP is in effect (set by start()).
  bool syncWakeUp() const { return syncWakeUp_.load(std::memory_order_relaxed); }

 private:
  void workerLoop(std::atomic<bool>* done);

  static constexpr auto kStuckAfter = std::chrono::milliseconds(2);
  static constexpr auto kMonitorMaxWait = std::chrono::milliseconds(64);

  // --- immutable after start() ---
  const InterceptorOptions options_;
  InterceptorCounters& counters_;
  const int wakeSignal_;
  size_t notifSize_ = sizeof(seccomp_notif);
  Handler handler_;
  std::atomic<bool> syncWakeUp_{false};
  std::atomic<int64_t> lastFailLog_{0};     // steady_clock ms of the last failClosed line
  std::atomic<uint64_t> unloggedFails_{0};  // failClosed calls not logged since then

  // Guards closing listener_ against answers in flight (respond() holds it shared). The workers
  // use listener_ without it: they are joined before closeListener().
  std::shared_mutex listenerMu_;
  net::UniqueFd listener_;

  std::atomic<bool> stopping_{false};
  // Guards receivers_, handling_, monitorTaken_, lastReceive_ (see workerLoop); poolCv_ waits on it.
  std::mutex poolMu_;
  std::condition_variable poolCv_;
  int receivers_ = 0;           // workers in, or about to enter, the receive ioctl
  int handling_ = 0;            // workers handling a notification they received
  bool monitorTaken_ = false;   // a follower is waiting with a timeout (watching for stuck handlers)
  std::chrono::steady_clock::time_point lastReceive_{};

  std::mutex threadsMu_;  // guards workers_, workerDone_ (start() against stopWorkers())
  std::vector<std::thread> workers_;
  std::vector<std::unique_ptr<std::atomic<bool>>> workerDone_;  // set by each worker as it ends
};

}  // namespace openwfp::linux_backend

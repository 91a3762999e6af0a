// linux/interceptor.cpp - openwfp::linux_backend::Interceptor: puts together the parts that
// serve one seccomp listener and routes each notified call through them:
//
//   NotificationLoop (notification_loop.*)  a worker receives the notification
//   CallDecoder      (call_decoder.*)       sockaddr + process facts + socket -> request
//   Classifier       (openwfp/stack.h)      the verdict, inline or later (a pended classify)
//   Performer        (performer.*, send_performer.cpp)  fail / connect, bind, send on the
//                                           process's socket
//   Reaper           (reaper.*)             ended connections -> Classifier::connectionClosed
//   TreeGuard        (tree_guard.*)         signals aimed at the supervisor, 32-bit execs (S13.8)
//   CallDeadlines    (call_deadlines.*)     a pended connect ends at the socket's SO_SNDTIMEO
//
// Lifetime: the parts live in one Impl, shared by the Interceptor and by every call waiting for
// a verdict (through Call::performer), so a classify that completes after the Interceptor is
// gone still finds them; its answer then fails (the listener is closed).
#include <cerrno>
#include <chrono>
#include <mutex>

#include "linux/call_deadlines.h"
#include "linux/call_decoder.h"
#include "linux/classifier_link.h"
#include "linux/connect_waiter.h"
#include "linux/connection_table.h"
#include "linux/flow_cache.h"
#include "linux/interceptor_counters.h"
#include "linux/notification_loop.h"
#include "linux/performer.h"
#include "linux/reaper.h"
#include "linux/task_cache.h"
#include "linux/tree_guard.h"
#include "openwfp/linux_backend.h"

namespace openwfp::linux_backend {

struct Interceptor::Impl : std::enable_shared_from_this<Interceptor::Impl> {
  Impl(Classifier& c, int fd, InterceptorOptions o)
      : options(o),
        classifier(c),
        loop(fd, options, counters),
        reaper(table, flows, classifier, counters, options.reapIntervalMs),
        performer(loop, table, flows, waiter, reaper, counters, options),
        guard(loop, tasks, options.protectedPids, options.protectedGroup),
        decoder(loop, tasks, table, flows, counters) {
    decoder.setGuard(&guard);
  }

  // Declaration order is construction order: the parts refer to the ones above them.
  const InterceptorOptions options;
  InterceptorCounters counters;  // atomics
  ClassifierLink classifier;     // cleared by ~Interceptor
  TaskCache tasks;               // thread-safe
  ConnectionTable table;         // thread-safe
  FlowCache flows;               // thread-safe
  ConnectWaiter waiter;          // thread-safe
  NotificationLoop loop;
  Reaper reaper;
  Performer performer;
  TreeGuard guard;
  CallDecoder decoder;
  CallDeadlines deadlines;  // thread-safe

  std::mutex lifecycleMu;  // guards started, stopped (start() against stop())
  bool started = false;
  bool stopped = false;

  // On the worker that received n.
  void handle(const seccomp_notif& n) {
    const auto received = std::chrono::steady_clock::now();
    std::optional<DecodedCall> d = decoder.decode(n);
    if (!d) return;  // answered, or gone
    auto call = std::make_shared<Call>(std::shared_ptr<Performer>(shared_from_this(), &performer),
                                       std::move(d->facts));
    if (!d->ask) {
      performer.perform(*call);  // needs no verdict (see call_decoder.h)
      return;
    }
    Classifier* c = classifier.forWorkers();
    if (c == nullptr) return;  // ~Call fails it closed
    if (call->op == CallOp::Connect && call->protocol == Protocol::Tcp) {
      d->request.socket = std::make_shared<CallSocket>(call);  // for a proxy's hand-off in place
    }
    c->classify(d->hook, d->request,
                [call](const StackVerdict& v) { call->performer->finish(*call, v); });
    call->classifyReturned.store(true, std::memory_order_release);
    if (call->op != CallOp::Connect || call->claimed.load(std::memory_order_acquire)) return;
    // Pended: answered when the socket's send timeout expires first, as the kernel would (S13.10).
    // The timeout is read only now, for a connect that pends: one getsockopt less for all the
    // others. Under shareMu, as CallSocket::duplicate: whoever claims the call takes it before it
    // touches the descriptor, so the duplicate is still open while it is read.
    std::chrono::microseconds timeout{0};
    {
      std::lock_guard lock(call->shareMu);
      if (!call->claimed.load(std::memory_order_acquire) && call->sock) timeout = sendTimeoutOf(call->sock.get());
    }
    if (timeout.count() > 0) {
      deadlines.arm(received + timeout, [this, weak = std::weak_ptr<Call>(call)] {
        auto c = weak.lock();
        if (c && c->claim()) loop.respond(c->id, EINPROGRESS, false);
      });
    }
  }

  void start() {
    std::lock_guard lock(lifecycleMu);
    if (started) return;
    started = true;
    loop.start([this](const seccomp_notif& n) { handle(n); });
    reaper.start();
    // Exited tasks leave the task cache at once (S13.9), on the waiter's thread.
    waiter.watchReadable(tasks.exitFd(), [this] { tasks.evictExited(); });
  }

  void stop() {
    std::lock_guard lock(lifecycleMu);
    if (stopped) return;
    stopped = true;
    loop.stopWorkers();
    reaper.stop();
    waiter.stop();
    deadlines.stop();
    loop.closeListener();  // from now on notified calls fail with ENOSYS (fail closed, S13.5)
    reaper.reportClosed(table.takeAll());
    reaper.reportClosed(flows.takeAll());
  }
};

Interceptor::Interceptor(Classifier& classifier, int listenerFd, InterceptorOptions options)
    : impl_(std::make_shared<Impl>(classifier, listenerFd, options)) {}

Interceptor::~Interceptor() {
  stop();
  impl_->classifier.clear();
}

void Interceptor::start() { impl_->start(); }
void Interceptor::stop() { impl_->stop(); }

std::optional<ConnectionInfo> Interceptor::findConnection(const Endpoint& local,
                                                          const Endpoint& remote) {
  return impl_->reaper.find(local, remote);
}

std::optional<ConnectionInfo> Interceptor::findBySocketCookie(uint64_t cookie) {
  return impl_->table.findByCookie(cookie);
}

void Interceptor::attachRecords(uint64_t socketCookie, std::shared_ptr<redirect::History> records) {
  impl_->table.attachRecords(socketCookie, std::move(records));
}

void Interceptor::reapNow() { impl_->reaper.scan(); }

InterceptorStats Interceptor::stats() const {
  const auto& c = impl_->counters;
  InterceptorStats s;
  s.notifications = c.notifications.load();
  s.continued = c.continued.load();
  s.redirected = c.redirected.load();
  s.blocked = c.blocked.load();
  s.failed = c.failed.load();
  s.stale = c.stale.load();
  s.pended = c.pended.load();
  s.connectionsClosed = c.connectionsClosed.load();
  s.syncWakeUp = impl_->loop.syncWakeUp();
  return s;
}

}  // namespace openwfp::linux_backend

// linux/performer.h - answers a notified connect()/bind() with the classifier's verdict (S13.3,
// S13.7): block -> the call fails; permitted unchanged -> the kernel runs it as asked; changed ->
// the supervisor connects/binds the process's own socket (its pidfd_getfd duplicate) to the
// final address and the call returns that result. A redirected connect on a blocking socket is
// made without holding a thread for the handshake (ConnectWaiter).
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <memory>

#include "linux/connect_waiter.h"
#include "linux/connection_table.h"
#include "linux/interceptor_counters.h"
#include "linux/notification_loop.h"
#include "linux/reaper.h"
#include "net/sockaddr_codec.h"
#include "net/unique_fd.h"
#include "openwfp/linux_backend.h"

namespace openwfp::linux_backend {

// What is known of a notified call once it is decoded: enough to perform and answer it.
struct CallFacts {
  uint64_t id = 0;  // the notification's id
  net::CallKind kind = net::CallKind::Connect;
  net::UniqueFd sock;  // the process's socket (a pidfd_getfd duplicate)
  int domain = AF_INET;
  Protocol protocol = Protocol::Tcp;
  Endpoint requested;  // the address the application passed
  uint64_t cookie = 0;
  uint64_t pid = 0;
  bool fastOpen = false;  // a sendto/sendmsg with MSG_FASTOPEN: a connect with data
};

class Performer;

// One notified call from classify to answer, owned by the copies of the classifier's done().
// Answered exactly once: by the verdict, or, if every copy of done() is destroyed unanswered, by
// the destructor (fail closed).
struct Call : CallFacts {
  Call(std::shared_ptr<Performer> p, CallFacts&& facts)
      : CallFacts(std::move(facts)), performer(std::move(p)) {}
  ~Call();

  std::shared_ptr<Performer> performer;  // keeps the Interceptor's parts alive
  std::atomic<bool> claimed{false};          // the call has been (or is being) answered
  std::atomic<bool> classifyReturned{false}; // a verdict after this counts as pended

  bool claim() { return !claimed.exchange(true); }
};

class Performer {
 public:
  Performer(NotificationLoop& loop, ConnectionTable& table, ConnectWaiter& waiter, Reaper& reaper,
            InterceptorCounters& counters, const InterceptorOptions& options)
      : loop_(loop), table_(table), waiter_(waiter), reaper_(reaper), counters_(counters),
        options_(options) {}

  // The classifier's verdict for the call. Only the first answer of a call counts.
  void finish(Call& call, const StackVerdict& verdict);
  // The classifier dropped done() unanswered: the call fails as blocked.
  void failUnanswered(const Call& call);

 private:
  // A permitted connect is remembered in the table (for the control channel) until it ends.
  void finishConnect(Call& call, const ConnectVerdict& verdict);
  void finishBind(Call& call, const BindVerdict& verdict);
  void countPended(const Call& call);
  // The answer to a connect the supervisor performed; a failed connection is reported closed.
  void finishPerformed(Call& call, int err);
  // Hands a redirected connect still in progress on a blocking socket to the waiter.
  void waitForConnect(Call& call);
  static bool connectedTo(int fd, const Endpoint& remote, int domain);

  // All thread-safe; they outlive the performer (the Interceptor's parts live together).
  NotificationLoop& loop_;
  ConnectionTable& table_;
  ConnectWaiter& waiter_;
  Reaper& reaper_;
  InterceptorCounters& counters_;
  const InterceptorOptions options_;
};

}  // namespace openwfp::linux_backend

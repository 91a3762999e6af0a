// linux/performer.h - answers a notified call with the classifier's verdict (S13.3, S13.7):
// block -> the call fails; permit -> the supervisor performs the call on the process's own
// socket (its pidfd_getfd duplicate) with the address it classified, or the redirect's final
// address, and the call returns that result. The kernel never re-reads the application's
// sockaddr or re-fetches its fd for an IP call (no "continue"). A connect on a blocking socket
// is made without holding a thread for the handshake (ConnectWaiter).
//
// Unconnected UDP (sendto/sendmsg/sendmmsg with a destination) is classified per flow (FlowCache)
// and each datagram is sent by the supervisor (see datagram.h). A TCP Fast Open send is
// classified as a connect and performed as one: connect (the data is not carried in the SYN),
// then, on a blocking socket, the data is sent once connected; a non-blocking one gets
// EINPROGRESS as without a Fast Open cookie, and sends its data when connected.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

#include "linux/connect_waiter.h"
#include "linux/connection_table.h"
#include "linux/datagram.h"
#include "linux/flow_cache.h"
#include "linux/interceptor_counters.h"
#include "linux/notification_loop.h"
#include "linux/reaper.h"
#include "net/sockaddr_codec.h"
#include "net/unique_fd.h"
#include "openwfp/linux_backend.h"

namespace openwfp::linux_backend {

enum class CallOp : uint8_t {
  Connect,   // connect() of a TCP/UDP socket: the connect hook
  Bind,      // bind() of a TCP/UDP socket: the bind hook
  FastOpen,  // sendto()/sendmsg() with MSG_FASTOPEN on TCP: the connect hook, then the data
  Send,      // sendto()/sendmsg()/sendmmsg() on UDP: the first message's flow at the connect hook
  RawConnect,  // connect()/bind() performed unclassified with the bytes read: an IP socket given
  RawBind,     // a non-IP address (AF_UNSPEC, ...), a non-TCP/UDP IP socket, a non-IP socket
               // given an IP address (the kernel's errno: EINVAL, ENOTSOCK, EAFNOSUPPORT...)
};

// What is known of a notified call once it is decoded: enough to perform and answer it.
struct CallFacts {
  uint64_t id = 0;  // the notification's id
  pid_t tid = 0;    // the calling thread
  CallOp op = CallOp::Connect;
  net::UniqueFd sock;  // the process's socket (a pidfd_getfd duplicate)
  int fdNumber = -1;   // its number in the process (the call's first argument)
  int domain = AF_INET;  // of the socket (0: not an IP socket)
  int type = 0;          // SO_TYPE
  Protocol protocol = Protocol::Tcp;
  Endpoint requested;  // the address the application passed (a send: its first message's)
  RawSockaddr raw;     // the sockaddr as read (a send: its first message's name)
  uint64_t cookie = 0;
  uint64_t pid = 0;
  bool remembered = false;  // a connect entered in the ConnectionTable
  // A connect of a blocking socket made non-blocking for the call: once it is over, connect()
  // is called again with `target` so that the socket's state is the one a blocking connect
  // leaves (connected: a third connect says EISCONN; failed: it may connect again).
  bool settle = false;
  RawSockaddr target;
  // Sends: which call, its flags, the messages (one for sendto/sendmsg), the mmsghdr array.
  int nr = 0;
  int flags = 0;
  uint64_t mmsg = 0;
  std::vector<MessageHead> heads;
  Datagram data;  // a Fast Open send's payload
  std::optional<FlowVerdict> firstFlow;  // a send's first message: its flow's verdict, if known
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
  // A driver gave the socket to its proxy (CallSocket): connected by the verdict, the proxy
  // connected it in place (hand-off in place). Set under shareMu, and only while unclaimed;
  // read with sharedAfterClaim().
  bool sharedWithProxy = false;
  std::mutex shareMu;

  bool claim() { return !claimed.exchange(true); }
  // After claim() (won or lost): no duplicate is being made any more, and none will be.
  bool sharedAfterClaim() {
    std::lock_guard lock(shareMu);
    return sharedWithProxy;
  }
};

// StackRequest::socket of a TCP connect (openwfp/stack.h): a new duplicate of the call's
// descriptor while the call lives, for a driver that hands it to its proxy (hand-off in place).
// The TCP socket is in TCP_CLOSE: neither connected, connecting nor listening (TCP_INFO).
bool tcpClosed(int fd);

class CallSocket final : public ApplicationSocket {
 public:
  explicit CallSocket(std::weak_ptr<Call> call) : call_(std::move(call)) {}
  int duplicate() const override;

 private:
  std::weak_ptr<Call> call_;
};

class Performer {
 public:
  Performer(NotificationLoop& loop, ConnectionTable& table, FlowCache& flows,
            ConnectWaiter& waiter, Reaper& reaper, InterceptorCounters& counters,
            const InterceptorOptions& options)
      : loop_(loop), table_(table), flows_(flows), waiter_(waiter), reaper_(reaper),
        counters_(counters), options_(options) {}

  // The classifier's verdict for the call. Only the first answer of a call counts.
  void finish(Call& call, const StackVerdict& verdict);
  // A call that needs no verdict: RawConnect/RawBind, a send whose first flow is known.
  void perform(Call& call);
  // The classifier dropped done() unanswered: the call fails as blocked.
  void failUnanswered(const Call& call);

  // A bind to a port below net.ipv4.ip_unprivileged_port_start needs CAP_NET_BIND_SERVICE: the
  // supervisor must not lend its own. 0, or EACCES when the task (CapEff) lacks it.
  static int bindPrivilegeCheck(pid_t tid, uint16_t port);
  // CapEff has CAP_NET_BIND_SERVICE; the unprivileged port start (exposed for unit tests).
  static bool hasBindService(uint64_t capEff);
  static int unprivilegedPortStart();

 private:
  void finishConnect(Call& call, const ConnectVerdict& verdict);
  // A permitted redirect whose proxy offered its verified upstream socket (hand_off.h): that
  // socket replaces the application's (SECCOMP_IOCTL_NOTIF_ADDFD) and the connect returns 0;
  // when it cannot (another family, not connected, the call gone), the connect fails with
  // ECONNREFUSED and one line says why. Always answers the call (returns true).
  bool handOff(Call& call, const ConnectVerdict& verdict, net::UniqueFd upstream);
  // A connect whose socket a driver gave to its proxy (Call::sharedWithProxy). keepInPlace: a
  // permitted redirect that finds it connected by the proxy keeps the connection (settled and
  // remembered; true); any other verdict, or a socket the proxy did not connect, drops what the
  // proxy may have connected (connect(AF_UNSPEC); false). finishInPlace answers a kept one 0;
  // otherwise the call goes on as usual. A call answered already (its SO_SNDTIMEO deadline said
  // EINPROGRESS) only gets keepInPlace: the kernel's connect would have gone on.
  bool keepInPlace(Call& call, const ConnectVerdict& verdict);
  bool finishInPlace(Call& call, const ConnectVerdict& verdict);
  // The connection is remembered as fd's (cookie and tuple; peer: its getpeername).
  void rememberHandedOff(Call& call, const ConnectVerdict& verdict, int fd, const sockaddr_storage& peer,
                         socklen_t peerLen);
  void finishBind(Call& call, const BindVerdict& verdict);
  void finishSend(Call& call, const ConnectVerdict& verdict);
  void countPended(const Call& call);
  // connect() on the duplicate to `sa`, keeping the application's blocking semantics.
  void performConnect(Call& call, const sockaddr* sa, socklen_t len, const Endpoint* final);
  void performBind(Call& call, const sockaddr* sa, socklen_t len, int checkPort);
  void performSend(Call& call);
  // The answer to a connect the supervisor performed; a failed connection is reported closed.
  void finishPerformed(Call& call, int err);
  // Hands a connect still in progress on a blocking socket to the waiter.
  void waitForConnect(Call& call);
  // A Fast Open connect has completed: its data is sent and the byte count answered.
  void sendFastOpenData(Call& call);
  static bool connectedTo(int fd, const Endpoint& remote, int domain);
  // A performed connect whose answer did not reach the task (its call will be restarted, and
  // will then find the socket connected: EISCONN means success then).
  void rememberUndelivered(uint64_t cookie);
  bool takeUndelivered(uint64_t cookie);

  // All thread-safe; they outlive the performer (the Interceptor's parts live together).
  NotificationLoop& loop_;
  ConnectionTable& table_;
  FlowCache& flows_;
  ConnectWaiter& waiter_;
  Reaper& reaper_;
  InterceptorCounters& counters_;
  const InterceptorOptions options_;
  std::mutex undeliveredMu_;  // guards undelivered_
  std::unordered_map<uint64_t, bool> undelivered_;  // by socket cookie, bounded
};

}  // namespace openwfp::linux_backend

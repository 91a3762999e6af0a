// sim/stack_state.h - the state behind openwfp::sim::Stack (include/openwfp/sim.h).
//
// Locking: StackState::mu guards everything in StackState below it (processes, sockets,
// connections' refs, flows, port counters). It is never held while calling the Classifier:
// a classify may complete inline or from another thread, and a callout may block. Each
// ConnectState has its own mutex for the result hand-off to the waiting thread. Lock order:
// the winsock SocketRegistry mutex may be held when StackState::mu is taken (owns()); never the
// reverse.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "openwfp/sim.h"
#include "openwfp/stack.h"
#include "sim/addresses.h"
#include "winsock/socket_registry.h"

namespace openwfp::sim::detail {

// One flow: a TCP connection (both ends refer to it) or a UDP flow (the sending socket, and a
// socket that adopted it on the receiving side).
struct Connection {
  std::shared_ptr<redirect::History> history;
  uint32_t redirectTargetPid = 0;
  bool redirected = false;
  int refs = 0;  // sockets referring to it; at 0 the stack reports connectionClosed(history)
};

enum class SockState { Unconnected, Connecting, Listening, Connected };

struct Datagram {
  Endpoint from;
  std::vector<uint8_t> bytes;
};

struct Socket {
  int fd = -1;
  Process* owner = nullptr;
  IpVersion version = IpVersion::V4;
  Protocol protocol = Protocol::Tcp;
  SockState state = SockState::Unconnected;
  bool holdsPort = false;  // bound explicitly or implicitly (accepted sockets do not)
  Endpoint local;
  Endpoint remote;
  std::shared_ptr<Connection> conn;     // the socket's own connection / flow
  std::shared_ptr<Connection> inbound;  // UDP: an adopted redirected flow (S9.5)
  std::shared_ptr<redirect::History> proxiedRecords;  // SIO_SET before connect (S9.4)
  // TCP stream.
  int peerFd = -1;
  bool peerClosed = false;
  std::deque<uint8_t> rx;
  // Listener.
  int backlog = 0;
  std::deque<int> acceptQueue;
  // UDP.
  std::deque<Datagram> datagrams;
  std::map<Endpoint, std::pair<Endpoint, std::shared_ptr<Connection>>, EndpointLess>
      sendToFlows;  // requested destination -> (final destination, flow)
  std::vector<std::pair<Endpoint, Endpoint>> flowKeys;  // keys this socket put in udpFlows
  // Histories of connect attempts that failed after the classify (blocked, refused, ...):
  // reported to connectionClosed when the socket closes.
  std::vector<std::shared_ptr<redirect::History>> endedHistories;
};

struct FlowKeyLess {
  bool operator()(const std::pair<Endpoint, Endpoint>& a,
                  const std::pair<Endpoint, Endpoint>& b) const {
    EndpointLess less;
    if (less(a.first, b.first)) return true;
    if (less(b.first, a.first)) return false;
    return less(a.second, b.second);
  }
};

struct ConnectState {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;  // guarded by mu
  ConnectResult result;
  bool completed = false;  // guarded by StackState::mu: done() was called once
};

// Per-host facts: host 0 is the simulated host, hosts 1.. are remoteHost()s.
struct Host {
  std::vector<Prefix> own;  // addresses the host owns (remote hosts: exactly one)
  std::unique_ptr<Process> remoteProcess;  // remote hosts only
};

struct StackState : std::enable_shared_from_this<StackState> {
  StackState(Classifier* classifier, Options options);

  // -- Called by Process (see sim.h for the semantics). --
  int newSocket(Process& p, IpVersion version, Protocol protocol);
  int bind(Process& p, int fd, const Endpoint& local);
  int listen(Process& p, int fd, int backlog);
  PendingConnect connectAsync(Process& p, int fd, const Endpoint& remote);
  AcceptResult accept(Process& p, int fd, const std::chrono::milliseconds* timeout);
  IoResult send(Process& p, int fd, std::span<const uint8_t> data);
  IoResult sendTo(Process& p, int fd, const Endpoint& to, std::span<const uint8_t> data);
  IoResult recv(Process& p, int fd, std::span<uint8_t> buffer, std::string* text,
                const std::chrono::milliseconds* timeout);
  int close(Process& p, int fd);
  int sockname(const Process& p, int fd, Endpoint& out, bool peer) const;
  std::optional<ConnectionInfo> connection(const Process& p, int fd) const;

  // -- Stack lifetime. --
  void shutdown();  // closes every socket, reports open connections, unregisters

  // -- For the winsock backend (socket_backend.cpp). --
  bool ownsFd(int fd) const;
  int describe(int fd, winsock::SocketFacts& facts) const;
  int attachRecords(int fd, std::shared_ptr<redirect::History> history);

  // -- Internals; the *Locked ones require mu. --
  Socket* findLocked(const Process& p, int fd);
  const Socket* findLocked(const Process& p, int fd) const;
  bool ownsAddressLocked(int host, const Endpoint& address) const;
  // The host reached by `address` from `fromHost`; -1 when none (outside the simulation).
  int routeLocked(int fromHost, const Endpoint& address) const;
  // Source address for a connection from fromHost to `to`; false when there is no route.
  bool sourceAddressLocked(int fromHost, const Endpoint& to, Endpoint& out) const;
  bool portInUseLocked(int host, Protocol protocol, const Endpoint& local, int exceptFd) const;
  // Picks an ephemeral port for `local` (address already chosen); 0 when exhausted.
  uint16_t ephemeralPortLocked(int host, Protocol protocol, const Endpoint& local);
  // Implicit bind before connect/sendTo/listen: binds an unbound socket, fills an unspecified
  // bound address with the route's source. 0 or an errno value.
  int implicitBindLocked(Socket& s, const Endpoint* to);
  Socket* findListenerLocked(int host, const Endpoint& destination);
  Socket* findDatagramReceiverLocked(int host, const Endpoint& from, const Endpoint& to);
  void deliverDatagramLocked(int fromHost, const Endpoint& from, const Endpoint& to,
                             std::span<const uint8_t> data);
  // Drops one reference to conn; collects its history when it was the last.
  void releaseLocked(std::shared_ptr<Connection>& conn,
                     std::vector<std::shared_ptr<redirect::History>>& closed);
  void closeLocked(int fd, std::vector<std::shared_ptr<redirect::History>>& closed);
  // A flow that never became a connection: its history is reported when socket s closes, or
  // (s == nullptr: closed meanwhile) with the next close() or at shutdown. Never reported from
  // inside a classify's done(), which runs before the driver released its classify handle.
  void endedLocked(Socket* s, const std::shared_ptr<redirect::History>& history);
  void reportClosed(const std::vector<std::shared_ptr<redirect::History>>& closed);
  void completeConnect(int fd, const ConnectRequest& request, const ConnectVerdict& verdict,
                       const std::shared_ptr<ConnectState>& cs);
  // Classifies and waits for done() (which may come from another thread: a pended classify).
  StackVerdict classifyBlocking(StackHook hook, const StackRequest& request);
  std::shared_ptr<Connection> makeConnection(const ConnectVerdict& verdict) const;
  void adoptInboundFlowLocked(Socket& s);

  Classifier* classifier;  // never null; the Stack's or runtimeAdapter
  std::unique_ptr<Classifier> runtimeAdapter;
  const Options options;
  winsock::SocketRegistry::Registration registration;

  mutable std::mutex mu;
  std::condition_variable changed;  // any socket state change (accept/recv waiters)
  bool closed = false;              // the Stack was destroyed
  std::vector<Host> hosts;          // [0] = the simulated host
  std::map<uint64_t, std::unique_ptr<Process>> processes;
  std::unordered_map<int, Socket> sockets;
  std::vector<std::shared_ptr<redirect::History>> orphanHistories;  // see endedLocked()
  std::map<std::pair<int, Protocol>, uint16_t> nextEphemeral;
  // UDP flows by (source, final destination), for adoption by the receiving side (S9.5).
  std::map<std::pair<Endpoint, Endpoint>, std::weak_ptr<Connection>, FlowKeyLess>
      udpFlows;
};

// A new sim fd, unique in the process across all Stacks (>= kFirstFd).
int allocateFd();

// Registers the stack's sockets with the winsock SocketRegistry (socket_backend.cpp).
void registerBackend(const std::shared_ptr<StackState>& state);

}  // namespace openwfp::sim::detail

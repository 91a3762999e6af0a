// openwfp/sim.h - the deterministic simulated network stack, for testing callout drivers.
//
// Everything is in memory: processes, TCP and UDP sockets (v4 and v6), listeners, accept
// queues, byte queues. Nothing touches the real network. Each connect() and explicit bind() of a
// process on the simulated host is classified by a Classifier (by default the engine of
// Runtime::current(), so the callouts registered through the WDK API run), exactly as the
// Linux backend does for real processes:
//
//   openwfp::sim::Stack stack;
//   auto& curl  = stack.process(4242, "/usr/bin/curl", 1000);
//   auto& proxy = stack.process(777, "/usr/bin/proxy", 0);
//   int l = proxy.socket(IpVersion::V4, Protocol::Tcp);
//   proxy.bind(l, *Endpoint::parse("127.0.0.1:8080"));
//   proxy.listen(l);
//   int s = curl.socket(IpVersion::V4, Protocol::Tcp);
//   sim::ConnectResult r = curl.connect(s, *Endpoint::parse("192.0.2.80:80"));
//   // r.error == 0, r.remote == 127.0.0.1:8080 when a callout redirected it to the proxy
//   sim::AcceptResult a = proxy.accept(l);  // a.fd: query records with openwfp_ioctl / WSAIoctl
//
// Addresses. The simulated host owns Options::ownAddresses (default 127.0.0.0/8, ::1, 10.0.0.5
// and 2001:db8::5); sockets of its processes bind only to those (or the unspecified address).
// Other hosts exist only when a test creates them with Stack::remoteHost(address): a process on
// that host can listen there (e.g. the server at a connection's original destination); its own
// calls are not classified. A connect to an address nobody listens on fails with ECONNREFUSED.
//
// Semantics (errno-style: 0 or an errno value, never exceptions):
//   * connect: an unbound socket is bound implicitly first (source address chosen by route:
//     loopback for loopback destinations, the host's own address otherwise; ephemeral ports from
//     Options::firstEphemeralPort, 49152); this implicit bind is not classified. Then the connect
//     is classified (StackHook::Connect; what a verdict means: openwfp/stack.h). The verdict's
//     finalRemote is where the connection goes. Permit + TCP listener there -> queued for
//     accept; no listener -> ECONNREFUSED; Block -> Options::blockErrno (ECONNREFUSED, as
//     openwfp's Linux backend, SPEC S13.3), or ETIMEDOUT when timedOut. connect() blocks the
//     calling thread until the classifier calls done (S4.4 synchronous when nobody pends;
//     S6.2 otherwise); connectAsync() returns at once with a PendingConnect to poll or wait on.
//     Connect on a connected or listening socket -> EISCONN; while connecting -> EALREADY.
//   * bind: classified at BIND_REDIRECT (StackHook::Bind); the verdict may change the
//     local address; Block -> EACCES; ETIMEDOUT as for connect. Port 0 picks an ephemeral
//     port. EADDRINUSE when another socket of the same protocol and family has the port on an
//     overlapping address (equal, or either unspecified); EADDRNOTAVAIL for an address the
//     host does not own; EINVAL when already bound; EAFNOSUPPORT on a family mismatch.
//     v6 sockets are v6-only (no v4-mapped dual stack).
//   * accept: the accepted socket carries the connection's redirect History (from the
//     verdict), the peer endpoints and the redirect target PID (see Process::connection()).
//   * UDP: connect() classifies the flow and fixes the peer; sendTo() on an unconnected socket
//     classifies the flow of each new destination at its first datagram and reuses that verdict
//     for later datagrams. Datagrams go to the socket bound at the final destination (dropped
//     silently when there is none). A UDP socket that connect()s back to the source of a
//     redirected flow that arrived at its local address adopts that flow's History and target
//     PID, so the proxy can query it (S9.5).
//   * send/recv: in-memory byte queues (TCP) or datagrams (UDP). recv never blocks unless given
//     a timeout: EAGAIN when nothing is queued; 0 bytes with error 0 at end of stream (the peer
//     closed). send to a closed peer -> EPIPE.
//   * close: when the last socket referring to a connection whose verdict carried a history
//     closes, the stack calls Classifier::connectionClosed(history) so the engine can free
//     per-flow state (S5.6). The history of a connect that failed after its classify (blocked,
//     refused, timed out) is reported when that socket is closed, never from inside the
//     classify's completion (the driver still holds its classify handle there). Closing a
//     listener closes its queued, not yet accepted connections. The Stack destructor closes
//     every socket.
//
// File descriptors are ints >= kFirstFd, unique in the process across all Stacks, so that
// openwfp_ioctl / WSAIoctl (openwfp/winsock.h) tell sim sockets from real ones. While a Stack
// lives, the controls of SPEC S9 work on its sockets; the caller PID is the sim process that owns
// the fd. A process may only use its own fds (EBADF otherwise).
//
// Thread safety: every call may come from any thread. One mutex guards the stack's state; it is
// never held while calling the Classifier, so a callout that pends blocks only the connecting
// thread and the test completes the classify from another thread.
#pragma once

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "openwfp/stack.h"

namespace openwfp::sim {

inline constexpr int kFirstFd = 1 << 20;

struct Options {
  // "address/prefix-length" (or a bare address: /32, /128) the simulated host owns. The first
  // non-loopback entry of each family is the source address of connects leaving the host.
  std::vector<std::string> ownAddresses{"127.0.0.0/8", "::1/128", "10.0.0.5/32", "2001:db8::5/128"};
  int blockErrno = ECONNREFUSED;    // connect result when the verdict blocks (S13.3)
  uint16_t firstEphemeralPort = 49152;
};

struct ConnectResult {
  int error = 0;           // 0 or an errno value
  Endpoint local;          // the socket's local address after the (implicit) bind
  Endpoint remote;         // where the connection went: the verdict's finalRemote
  bool redirected = false; // the verdict redirected the connection
  std::string reason;      // the verdict's reason (why blocked / why a redirect was not applied)
  bool ok() const { return error == 0; }
};

struct AcceptResult {
  int error = 0;  // 0, EAGAIN (nothing queued), EINVAL (not listening), EBADF
  int fd = -1;    // the accepted socket, owned by the listener's process
  Endpoint local; // the address the client reached (the final destination)
  Endpoint peer;  // the client's address
  bool ok() const { return error == 0; }
};

struct IoResult {
  int error = 0;     // 0, EAGAIN, EPIPE, ENOTCONN, EDESTADDRREQ, EBADF, ...
  size_t bytes = 0;  // bytes sent / received; 0 with error 0 from recv = end of stream
  Endpoint from;     // recv on UDP: the datagram's source; TCP: the peer
  bool ok() const { return error == 0; }
};

// The redirect facts of a socket's connection (what SIO_QUERY works from).
struct ConnectionInfo {
  std::shared_ptr<redirect::History> history;  // from the verdict; may be null
  uint32_t redirectTargetPid = 0;
  bool redirected = false;
  Endpoint local;
  Endpoint remote;
};

namespace detail {
struct StackState;
struct ConnectState;
}  // namespace detail

// The outcome of a connectAsync(); copyable handle to shared state.
class PendingConnect {
 public:
  bool ready() const;
  std::optional<ConnectResult> poll() const;  // the result once the classify completed
  ConnectResult wait() const;                 // blocks until it completed
  std::optional<ConnectResult> waitFor(std::chrono::milliseconds timeout) const;

 private:
  friend struct detail::StackState;
  explicit PendingConnect(std::shared_ptr<detail::ConnectState> state) : state_(std::move(state)) {}
  std::shared_ptr<detail::ConnectState> state_;
};

class Process {
 public:
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  uint64_t pid() const { return info_.pid; }
  const ProcessInfo& info() const { return info_; }

  int socket(IpVersion version, Protocol protocol);  // a new fd (never fails)
  int bind(int fd, const Endpoint& local);
  int listen(int fd, int backlog = 128);  // TCP only (EOPNOTSUPP for UDP); binds implicitly
  ConnectResult connect(int fd, const Endpoint& remote);
  PendingConnect connectAsync(int fd, const Endpoint& remote);
  AcceptResult accept(int fd);                                    // EAGAIN when none queued
  AcceptResult accept(int fd, std::chrono::milliseconds timeout); // waits up to timeout
  IoResult send(int fd, std::span<const uint8_t> data);
  IoResult send(int fd, std::string_view data);
  IoResult sendTo(int fd, const Endpoint& to, std::string_view data);  // UDP
  IoResult recv(int fd, std::span<uint8_t> buffer);
  IoResult recv(int fd, std::span<uint8_t> buffer, std::chrono::milliseconds timeout);
  // Convenience: everything queued (TCP) or one datagram (UDP) into out.
  IoResult recv(int fd, std::string& out);
  IoResult recv(int fd, std::string& out, std::chrono::milliseconds timeout);
  int close(int fd);
  int getsockname(int fd, Endpoint& out) const;
  int getpeername(int fd, Endpoint& out) const;
  // The redirect facts of fd's connection; nullopt when fd is not this process's connected
  // socket.
  std::optional<ConnectionInfo> connection(int fd) const;

 private:
  friend class Stack;
  friend struct detail::StackState;
  Process(detail::StackState* stack, ProcessInfo info, int host)
      : stack_(stack), info_(std::move(info)), host_(host) {}
  detail::StackState* stack_;
  ProcessInfo info_;
  int host_;  // 0 = the simulated host; >0 = a remote host (not classified)
};

class Stack {
 public:
  // Classifies with Runtime::current().classifier(), looked up at each classify (so a Stack may
  // be created before Runtime::reset()).
  Stack();
  explicit Stack(Options options);
  explicit Stack(Classifier& classifier, Options options = {});
  ~Stack();
  Stack(const Stack&) = delete;
  Stack& operator=(const Stack&) = delete;

  // The process with this pid on the simulated host, created on first use (later calls return
  // the same process; imagePath and uid are those of the first call).
  Process& process(uint64_t pid, std::string imagePath, uint32_t uid);
  // A process on another simulated host that owns `address` (e.g. "192.0.2.80" or
  // "2001:db8:1::1"); the same address returns the same process. Its calls are not classified.
  // Throws std::invalid_argument for an address that does not parse or the host owns.
  Process& remoteHost(std::string_view address);

  const Options& options() const;
  size_t openSockets() const;  // sockets not yet closed (for leak checks)

 private:
  std::shared_ptr<detail::StackState> state_;
};

}  // namespace openwfp::sim

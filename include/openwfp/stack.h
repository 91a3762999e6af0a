// openwfp/stack.h - the one interface between a network stack backend and the engine.
//
// A stack backend (the simulated stack in src/sim, the Linux seccomp interceptor in src/linux)
// reports "process P wants to connect socket S from L to R" (or bind: the hook) and the engine
// answers with a verdict, possibly later (a callout pended the classify). Nothing in this header
// knows about Linux, seccomp or real sockets; nothing in the engine knows about the backends.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace openwfp {

namespace redirect {
class History;  // a connection's redirect history (src/redirect/history.h)
}

enum class IpVersion : uint8_t { V4 = 0, V6 = 1 };
enum class Protocol : uint8_t { Tcp = 6, Udp = 17 };
enum class Action : uint8_t { Permit, Block };

// An IP address and port. addr holds network byte order bytes: a v4 address in addr[0..3].
// port is in host byte order.
struct Endpoint {
  IpVersion version = IpVersion::V4;
  std::array<uint8_t, 16> addr{};
  uint16_t port = 0;

  static Endpoint v4(uint32_t hostOrderAddr, uint16_t port);
  static Endpoint v6(const std::array<uint8_t, 16>& bytes, uint16_t port);
  // "127.0.0.1:80", "[::1]:80"; std::nullopt for anything else.
  static std::optional<Endpoint> parse(std::string_view text);

  uint32_t v4HostOrder() const;  // only for V4
  bool isLoopback() const;       // 127/8, ::1, ::ffff:127/104
  bool isUnspecified() const;    // 0.0.0.0 / ::
  bool isV4Mapped() const;       // ::ffff:a.b.c.d
  std::string str() const;       // same syntax parse() accepts
  friend bool operator==(const Endpoint&, const Endpoint&) = default;
};

struct ProcessInfo {
  uint64_t pid = 0;       // thread-group id
  uint32_t uid = 0;
  std::string imagePath;  // absolute path of the executable (the application id)
};

// The operation a backend reports: the hook it intercepted. The engine maps each hook to its
// sequence of ALE layers (src/engine/layers.*, hookLayers), so a backend never names a layer:
//   Connect  connect() (TCP or UDP) and, where the backend sees them, a UDP send to a new
//            destination or a TCP Fast Open send: ALE_CONNECT_REDIRECT_V4/V6 (the callouts
//            may redirect it and pend), then, if permitted, ALE_AUTH_CONNECT_V4/V6 for the final
//            tuple (S4.1, S4.4, S5.5, S5.8). V4 or V6 by the remote address; a v4-mapped one
//            stays V6 (S13.2).
//   Bind     an explicit bind(): ALE_BIND_REDIRECT_V4/V6 by the local address (callouts may move
//            the local address and pend). An implicit bind (by connect) is not reported.
// A new hook is a new value here, its layers in the engine's table, and the backends that can
// produce it; classifiers that do not know a hook answer it with permitUnchanged().
enum class StackHook : uint8_t { Connect, Bind };

// What the backend knows of the operation. One struct for every hook; a hook ignores the fields
// it does not list:
//   Connect  all fields. local may be unspecified (port 0) before the implicit bind; remote is
//            the destination the application asked for; proxiedRecords are the records
//            attached with SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS to this socket, if any.
//   Bind     process, protocol, local (what the application asked for), socketId.
// socketId is the backend's identity of the socket; it is unique for the lifetime of the socket
// within one backend. socket: the application's own socket, where the backend can share it
// (ApplicationSocket; null otherwise).
class ApplicationSocket;
struct StackRequest {
  ProcessInfo process;
  Protocol protocol = Protocol::Tcp;
  Endpoint local;
  Endpoint remote;
  uint64_t socketId = 0;
  std::shared_ptr<redirect::History> proxiedRecords;
  std::shared_ptr<const ApplicationSocket> socket;
};

// The application's own socket of a Connect, for a driver that gives it to its proxy with a
// device I/O reply (OpenwfpIrpAttachApplicationSocket, openwfp/km/openwfp_km_ext.h): the proxy
// then connects the application's socket itself (docs/performance.md, "Hand-off in place").
// The Linux backend has one (its supervisor holds a duplicate of the application's descriptor);
// the simulated stack has none. Opaque to the engine, which only keeps it with the classify.
class ApplicationSocket {
 public:
  virtual ~ApplicationSocket() = default;
  // A new descriptor of the same open file (the caller owns it), or -1 with errno: EBADF once
  // the operation has been answered.
  virtual int duplicate() const = 0;
};

// The engine's answer, one struct for every hook. What the backend does with it (both backends
// alike): Block -> the call fails (ETIMEDOUT when timedOut: a pended classify hit its deadline,
// S6.4; otherwise the backend's block errno, ECONNREFUSED for connect and EACCES for bind by
// default, S13.3); Permit -> the operation goes to finalRemote (Connect) / finalLocal (Bind),
// which equals the request's address unless redirected.
//   Connect  finalRemote, redirected, redirectTargetPid (the PID allowed to query the records of
//            a local redirect) and history: the connection's redirect history, non-null for every
//            permitted connect. The backend attaches it to the connection, so that the accepted
//            socket at the redirect target can SIO_QUERY it, and reports it with
//            Classifier::connectionClosed when the connection has ended.
//   Bind     finalLocal, redirected.
// blockErrno: the errno a deciding callout BLOCK asked for (OPENWFP_SET_BLOCK_ERRNO of
// openwfp/km/openwfp_km_ext.h); 0 = the backend's block errno. timedOut wins over it.
// reason is human-readable: why blocked / why a redirect was not applied.
struct StackVerdict {
  Action action = Action::Permit;
  Endpoint finalLocal;
  Endpoint finalRemote;
  bool redirected = false;
  uint32_t redirectTargetPid = 0;
  std::shared_ptr<redirect::History> history;
  bool timedOut = false;
  int blockErrno = 0;
  std::string reason;
};

// A permit that leaves the operation as it was asked: what a classifier answers for a hook it
// does not handle.
inline StackVerdict permitUnchanged(const StackRequest& request) {
  StackVerdict v;
  v.finalLocal = request.local;
  v.finalRemote = request.remote;
  return v;
}

using StackDone = std::function<void(const StackVerdict&)>;

// The hook-specific names, for code that handles one hook: the same types.
using ConnectRequest = StackRequest;
using ConnectVerdict = StackVerdict;
using ConnectDone = StackDone;
using BindRequest = StackRequest;
using BindVerdict = StackVerdict;
using BindDone = StackDone;

// What the engine offers a stack backend (src/engine/connect_pipeline.h implements it; tests and
// benchmarks have fakes). classify() may be called from many threads at once. done() is called
// exactly once, either before classify returns (nobody pended, S4.4) or later from the thread
// that completes the pended classify (S6.2) or from the deadline timer (S6.4); the backend keeps
// the operation waiting until then.
class Classifier {
 public:
  virtual ~Classifier() = default;
  virtual void classify(StackHook hook, const StackRequest& request, StackDone done) = 0;
  // The backend reports that a connection whose verdict carried a history has ended, so the
  // engine can release per-flow state (engine-owned redirect contexts, S5.6).
  virtual void connectionClosed(const std::shared_ptr<redirect::History>& history) = 0;
};

}  // namespace openwfp

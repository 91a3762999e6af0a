// openwfp/stack.h - the one interface between a network stack backend and the engine.
//
// A stack backend (the simulated stack in src/sim, the Linux seccomp interceptor in src/linux)
// reports "process P wants to connect socket S from L to R" (or bind) and the engine answers with
// a verdict, possibly later (a callout pended the classify). Nothing in this header knows about
// Linux, seccomp or real sockets; nothing in the engine knows about the backends.
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

// A connect() about to happen. socketId is the backend's identity of the socket; it is unique for
// the lifetime of the socket within one backend.
struct ConnectRequest {
  ProcessInfo process;
  Protocol protocol = Protocol::Tcp;
  Endpoint local;   // may be unspecified (port 0) before an implicit bind
  Endpoint remote;  // the destination the application asked for
  uint64_t socketId = 0;
  // Records attached with SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS on this socket, if any.
  std::shared_ptr<redirect::History> proxiedRecords;
};

struct ConnectVerdict {
  Action action = Action::Permit;
  Endpoint finalRemote;  // where the connection goes (== request.remote unless redirected)
  bool redirected = false;
  uint32_t redirectTargetPid = 0;  // the PID allowed to query the records (local redirects)
  // The connection's redirect history: attach it to the connection so that the accepted socket
  // at the redirect target can SIO_QUERY it. Non-null for every permitted connect.
  std::shared_ptr<redirect::History> history;
  bool timedOut = false;  // a pended classify hit its deadline (S6.4): fail with ETIMEDOUT
  std::string reason;     // human-readable: why blocked / why a redirect was not applied
};

struct BindRequest {
  ProcessInfo process;
  Protocol protocol = Protocol::Tcp;
  Endpoint local;  // what the application asked for
  uint64_t socketId = 0;
};

struct BindVerdict {
  Action action = Action::Permit;
  Endpoint finalLocal;  // == request.local unless redirected
  bool redirected = false;
  bool timedOut = false;
  std::string reason;
};

using ConnectDone = std::function<void(const ConnectVerdict&)>;
using BindDone = std::function<void(const BindVerdict&)>;

// What the engine offers a stack backend. done() is called exactly once, either before
// classifyConnect returns (nobody pended, S4.4) or later from the thread that completes the
// pended classify (S6.2) or from the deadline timer (S6.4).
class Classifier {
 public:
  virtual ~Classifier() = default;
  virtual void classifyConnect(const ConnectRequest& request, ConnectDone done) = 0;
  virtual void classifyBind(const BindRequest& request, BindDone done) = 0;
  // The backend reports that a connection whose verdict carried a history has ended, so the
  // engine can release per-flow state (engine-owned redirect contexts, S5.6).
  virtual void connectionClosed(const std::shared_ptr<redirect::History>& history) = 0;
};

}  // namespace openwfp

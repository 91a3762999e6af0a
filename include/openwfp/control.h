// openwfp/control.h - the control channel between proxies and the engine process (SPEC S9 on
// real sockets, S12.1, S12.3; protocol in docs/control-channel.md).
//
// The engine process runs a ControlServer: a Unix stream socket in a private directory whose
// path it exports to the processes it starts as OPENWFP_SOCKET (SupervisorOptions::extraEnv
// gets envEntry()). In those processes (and in any process given the path, e.g. a proxy
// started outside the supervised tree):
//   * openwfp_ioctl / WSAIoctl on a real socket send the control, the socket itself (SCM_RIGHTS)
//     and the buffers to the server, which identifies the connection by SO_COOKIE (a socket
//     that connected under the supervisor) or by its 4-tuple (a socket accepted by a proxy: the
//     connection whose local/remote are the accepted socket's peer/local address), applies the
//     S9 rules (src/winsock/control_rules.h) with the engine's RecordsSealer and answers;
//   * openwfp_device_open / _ioctl / _close (openwfp/device.h) reach the devices of the drivers
//     loaded in the engine process as IRPs.
// The caller of a request is the process the kernel names in the credentials of that message
// (SCM_CREDENTIALS, which the server asks for with SO_PASSCRED; SO_PEERCRED of the connection
// when the kernel attached none): never a PID the client claims (S12.3). So a forked child
// sharing its parent's connection is still seen as itself.
//
// Access: the socket is 0666 inside a 0711 directory, so a proxy running as another user that
// is given the path can connect; what it may do is decided per request: queries only by the
// redirect target PID (S12.1, in the S9 rules), device opens as the device's security descriptor
// says (S14.6, IoCreateDeviceSecure; without one: the engine's uid and root, outside any
// supervised tree; STATUS_ACCESS_DENIED -> EACCES otherwise; docs/control-channel.md).
//
// Limits (S14.9, docs/control-channel.md "Limits"): what a client can make the engine hold is
// bounded: a frame must complete within ControlServerOptions::frameDeadline once its first byte
// arrived (the time between frames is not bounded: a proxy may idle); payload buffers grow as
// bytes arrive; a frame carries at most 4 descriptors, counted across its reads; a uid other than
// the engine's and root holds at most maxClientsPerUid connections, and all clients together
// maxClients; clients the host vouches for (alwaysServe) are served past both. When the process
// is out of descriptors, the accept thread backs off (10 ms doubling to 1 s) instead of spinning.
//
// Threads: one accept thread, one thread per client connection. A pended device IOCTL does not
// hold its connection's thread: its reply is written when the driver completes the IRP, under
// the client's write lock, so other requests of the same client and other clients go on.
// When a client disconnects, IRP_MJ_CLEANUP then IRP_MJ_CLOSE are sent for its open handles.
//
// This header includes no Linux socket header.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "openwfp/connections.h"
#include "openwfp/stack.h"

namespace openwfp::control {

// The environment variable that carries the socket path to the processes the engine starts.
inline constexpr const char* kSocketEnv = "OPENWFP_SOCKET";
// The engine service's socket (S14.1), when set; see defaultEnginePath().
inline constexpr const char* kEngineEnv = "OPENWFP_ENGINE";

// The engine service's socket: $OPENWFP_ENGINE when set, else $XDG_RUNTIME_DIR/openwfp/engine.sock,
// else for root /run/openwfp/engine.sock, else /tmp/openwfp-UID/engine.sock.
std::string defaultEnginePath();

// Service calls (frame type 5, docs/control-channel.md "Service calls"): requests a host
// handles beyond the socket controls and device I/O, e.g. the engine service's management
// calls. `service` says who answers, `op` and the payload are that service's.
inline constexpr uint32_t kServiceManagement = 1;  // fwpmu.h calls (src/um)
inline constexpr uint32_t kServiceEngine = 2;      // drivers, attach, show, waits (src/host)

struct ServiceRequest {
  uint64_t connection = 0;  // the client connection, unique for the server's life
  int pid = 0;              // kernel credentials of the frame (S12.3)
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint32_t service = 0;
  uint32_t op = 0;
  std::vector<uint8_t> payload;  // at most 1 MiB
  // SCM_RIGHTS descriptors (at most 4): the handler takes one by setting it to -1; the server
  // closes the others after the handler returns.
  std::vector<int> fds;
};
struct ServiceResult {
  int32_t status = 0;            // the service's (e.g. an NTSTATUS or an errno)
  std::vector<uint8_t> payload;  // at most 1 MiB
};

struct ControlServerOptions {
  // Where the private directory is created: "" = $XDG_RUNTIME_DIR when other users can reach
  // it (mode o+x), else $TMPDIR, else /tmp.
  std::string parentDirectory;
  // Users who count as the engine's uid (SY) in device security descriptors (S14.6).
  std::vector<uint32_t> deviceUids;
  // True when pid is inside a tree the host supervises: device descriptors then grant it only
  // what they grant to RC (restricted code) as well. Asked for every device open; a host that
  // cannot tell should answer true (the restricted case). Unset: no process is inside a tree.
  std::function<bool(pid_t)> insideSupervisedTree;
  // Connections served at once; more are accepted and closed at once.
  unsigned maxClients = 1024;
  // Connections served at once per uid, for uids other than the engine's own and root (on top
  // of maxClients); more are accepted and closed at once.
  unsigned maxClientsPerUid = 64;
  // Once a frame's first byte has arrived, the rest must arrive within this, else the
  // connection is closed. 0 = no bound. The wait for a frame's first byte is never bounded.
  std::chrono::milliseconds frameDeadline{5000};
  // Asked (with the connecting process's pid, from SO_PEERCRED) only when a new client is over
  // maxClients or its uid's quota: true serves it anyway. A host sets it to "pid is in a tree I
  // supervise", so its own programs are never locked out by other clients.
  std::function<bool(pid_t)> alwaysServe;
  // The socket's path, for a service with a well-known address (the engine service, S14.1):
  // its directory must exist; a file already there is replaced (the caller makes sure no live
  // server uses it); stop() removes the socket only. "" = a fresh private directory.
  std::string socketPath;
  // Mode of the socket file at socketPath.
  unsigned socketMode = 0666;
  // Answers service calls (frame type 5), on the client connection's thread: it may block that
  // client (not others). Unset: such frames get an Error reply (EOPNOTSUPP).
  std::function<ServiceResult(ServiceRequest&)> serviceHandler;
  // Called once a client connection has ended (after its device handles were closed).
  std::function<void(uint64_t connection)> connectionClosed;
};

struct ControlServerStats {
  uint64_t clientsAccepted = 0;
  uint64_t clientsRefused = 0;        // over maxClients (or no thread could be started for it)
  uint64_t clientsRefusedPerUid = 0;  // over maxClientsPerUid
  uint64_t clientsServedOverLimit = 0;  // over a limit but alwaysServe said yes (in clientsAccepted)
  uint64_t requests = 0;              // well-formed requests answered
  uint64_t socketControls = 0;
  uint64_t deviceRequests = 0;        // open + ioctl + close
  uint64_t serviceCalls = 0;
  uint64_t malformed = 0;             // connections closed for a malformed frame (tooManyFds included)
  uint64_t tooManyFds = 0;            // ... because a frame carried more than 4 descriptors
  uint64_t slowFrames = 0;            // connections closed: a frame not complete within frameDeadline
  uint64_t unknownTypes = 0;          // answered with an Error reply
  uint64_t acceptBackoffs = 0;        // episodes of accept failing for want of descriptors or memory
  unsigned clientsNow = 0;
};

class ControlServer {
 public:
  explicit ControlServer(ControlServerOptions options = {});
  ~ControlServer();  // stop()
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Creates the directory and the socket and starts serving. std::nullopt on success, else one
  // line: "openwfp: control socket unusable: <step> <path>: <reason>".
  std::optional<std::string> start();
  // Closes the socket and every client connection (their handles are closed), removes the
  // socket and the directory, joins the threads. Idempotent.
  void stop();

  const std::string& path() const;  // the socket's path ("" before start)
  std::string envEntry() const;     // "OPENWFP_SOCKET=<path>"

  // The lookup used for socket controls (may be set or replaced at any time, e.g. once the
  // Supervisor's Interceptor exists). Without one, sockets have no redirected connection.
  void setLookup(std::shared_ptr<ConnectionLookup> lookup);

  ControlServerStats stats() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace openwfp::control

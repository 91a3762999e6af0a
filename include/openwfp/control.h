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
//     S9 rules (src/winsock/socket_registry.h) with the engine's RecordsSealer and answers;
//   * openwfp_device_open / _ioctl / _close (openwfp/device.h) reach the devices of the drivers
//     loaded in the engine process as IRPs.
// The caller of a request is the process the kernel names in the credentials of that message
// (SCM_CREDENTIALS, which the server asks for with SO_PASSCRED; SO_PEERCRED of the connection
// when the kernel attached none): never a PID the client claims (S12.3). So a forked child
// sharing its parent's connection is still seen as itself.
//
// Access: the socket is 0666 inside a 0711 directory, so a proxy running as another user that
// is given the path can connect; what it may do is decided per request: queries only by the
// redirect target PID (S12.1, in the S9 rules), device opens only by the engine's own uid, root,
// and ControlServerOptions::deviceUids (STATUS_ACCESS_DENIED otherwise).
//
// Threads: one accept thread, one thread per client connection. A pended device IOCTL does not
// hold its connection's thread: its reply is written when the driver completes the IRP, under
// the client's write lock, so other requests of the same client and other clients go on.
// When a client disconnects, IRP_MJ_CLEANUP then IRP_MJ_CLOSE are sent for its open handles.
//
// This header includes no Linux socket header.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "openwfp/connections.h"
#include "openwfp/stack.h"

namespace openwfp::control {

// The environment variable that carries the socket path to the processes the engine starts.
inline constexpr const char* kSocketEnv = "OPENWFP_SOCKET";

struct ControlServerOptions {
  // Where the private directory is created: "" = $XDG_RUNTIME_DIR when other users can reach
  // it (mode o+x), else $TMPDIR, else /tmp.
  std::string parentDirectory;
  // Users besides the engine's uid and root who may open devices.
  std::vector<uint32_t> deviceUids;
  // Connections served at once; more are accepted and closed at once.
  unsigned maxClients = 1024;
};

struct ControlServerStats {
  uint64_t clientsAccepted = 0;
  uint64_t clientsRefused = 0;     // over maxClients
  uint64_t requests = 0;           // well-formed requests answered
  uint64_t socketControls = 0;
  uint64_t deviceRequests = 0;     // open + ioctl + close
  uint64_t malformed = 0;          // connections closed for a malformed frame
  uint64_t unknownTypes = 0;       // answered with an Error reply
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

// winsock/socket_backend.h - the interface every socket backend behind openwfp_ioctl / WSAIoctl
// implements (SPEC S9). A bare interface: no registry, no rules, no sockets.
//
// The S9 rules (which control needs which socket state, who may query, size probes, error
// codes) are written once, in applyControlRules() (winsock/control_rules.h), over a small interface that every socket
// backend implements: SocketBackend. A backend owns a set of file descriptors and answers a few
// questions about each:
//
//   describe(fd)       is it a socket, its state (unconnected / connecting / listening /
//                      connected), the redirect History of its connection and that connection's
//                      redirect target PID, and the PID of the caller (the process whose control
//                      call this is)
//   attachRecords(fd)  remember a History on an unconnected socket, so that its next connect is
//                      classified with ConnectRequest::proxiedRecords = that History (SIO_SET)
//
// Backends:
//   * the simulated stack (src/sim/socket_backend.cpp) registers itself for the fds of its
//     sockets (>= sim::kFirstFd) while a sim::Stack lives; the caller is the sim process that
//     owns the fd;
//   * the control channel (src/control): in a proxy process its forwarding backend
//     (control/socket_forwarder.cpp) overrides control() to forward the call (with the fd, SCM_RIGHTS) to the engine process; on the
//     engine side the server builds a SocketBackend over the received fd (control/received_socket.h) (connection found by
//     SO_COOKIE / 4-tuple, caller from SO_PEERCRED, never a PID the client claims: S12.3) and
//     calls applyControlRules() with the engine's RecordsSealer, so both sides share these rules;
//   * when no registered backend owns an fd, a fallback describes plain OS sockets (fstat,
//     SO_ACCEPTCONN, getpeername): such sockets were never redirected by openwfp, so queries
//     answer ENOTSOCK / ENOTCONN / ENOENT and SIO_SET answers EOPNOTSUPP.
//
// Thread safety: backends are called concurrently from any thread; each backend guards its own
// state. The registry keeps a backend alive (shared_ptr) for the duration of a call, so a
// backend may be removed while another thread is inside it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "openwfp/stack.h"

namespace openwfp::winsock {

enum class SocketState {
  Unconnected,  // new, maybe bound; SIO_SET allowed
  Connecting,   // connect() called, classify not finished (maybe pended)
  Listening,
  Connected,    // TCP connected or accepted; UDP connected
};

// What applyControlRules needs to know about one fd.
struct SocketFacts {
  SocketState state = SocketState::Unconnected;
  Protocol protocol = Protocol::Tcp;
  // The redirect history of the socket's connection: for an accepted socket the history of the
  // connection that was accepted, for a client socket the verdict's history. Null when none.
  std::shared_ptr<redirect::History> history;
  // The PID allowed to query history (ConnectVerdict::redirectTargetPid); 0 when the connection
  // was not redirected to a local process (then nobody may query).
  uint32_t redirectTargetPid = 0;
  // The process making this control call (sim: the fd's owner; Linux: SO_PEERCRED of the
  // control channel client).
  uint64_t callerPid = 0;
};

// One control call (the arguments of openwfp_ioctl, bounds already known).
struct ControlCall {
  unsigned code = 0;
  const void* in = nullptr;
  size_t inLen = 0;
  void* out = nullptr;
  size_t outLen = 0;
  size_t* returned = nullptr;  // may be NULL; set on success and on ENOBUFS
};

class SocketBackend {
 public:
  virtual ~SocketBackend() = default;

  // True when fd is one of this backend's file descriptors. Cheap; called for every control in
  // registration order, the first backend that owns the fd handles the call.
  virtual bool owns(int fd) const = 0;

  // Fills facts for fd. Returns 0, or an errno value: ENOTSOCK when fd is not a socket, EBADF
  // when fd is not open (any other value is passed to the caller unchanged).
  virtual int describe(int fd, SocketFacts& facts) const = 0;
  // describe() without the connection's history and redirect target (what SIO_SET needs: the
  // state and the caller). By default describe().
  virtual int describeState(int fd, SocketFacts& facts) const { return describe(fd, facts); }

  // Attaches history to fd so its next connect is classified with proxiedRecords = history
  // (replacing records attached earlier). Must re-check the state atomically with the attach:
  // returns 0, EISCONN when the socket is connecting or connected (a connect raced the call),
  // EINVAL when it is listening, ENOTSOCK/EBADF as describe().
  virtual int attachRecords(int fd, std::shared_ptr<redirect::History> history) = 0;

  // SIO_OPENWFP_HAND_OFF_WITH_RECORDS, after attachRecords succeeded: offers fd to replace the
  // application's socket of that connection (ConnectionLookup::offerHandOff). EOPNOTSUPP by
  // default (the simulated stack and plain OS sockets cannot).
  virtual int offerHandOff(int fd, std::shared_ptr<redirect::History> history) {
    (void)fd;
    (void)history;
    return EOPNOTSUPP;
  }

  // Runs one control call on fd and returns 0 or an errno value (and sets *call.returned).
  // The default applies applyControlRules() with Runtime::current().sealer(). A backend whose
  // sockets are described by another process overrides this to forward the call there.
  virtual int control(int fd, const ControlCall& call);
};

}  // namespace openwfp::winsock

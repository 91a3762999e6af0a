// control/received_socket.h - the engine side of a socket control: a winsock::SocketBackend over a
// socket received from a client (SCM_RIGHTS), so the S9 rules (applyControlRules) run on it.
//
// describe(fd):
//   not a socket -> ENOTSOCK; SO_ACCEPTCONN -> Listening; getpeername works -> Connected (TCP
//   connected or accepted, UDP connected); TCP in SYN_SENT -> Connecting; else Unconnected.
//   A connected AF_INET/AF_INET6 socket's connection: by SO_COOKIE (a socket that connected
//   under the supervisor), else by 4-tuple as an accepted socket (the connection whose local
//   address is the socket's peer and whose remote is the socket's local address; a V4 address
//   and its v4-mapped form are tried both ways). history / redirectTargetPid come from it. A
//   connection not found is looked up again for up to ~kLookupRetries ms (the interceptor
//   records a connect it performed just after the connect returns; a fast proxy can ask first).
//   callerPid is the one given at construction (the kernel's credentials of the request).
// attachRecords(fd): listening -> EINVAL; connected, connecting, or already connected through
//   the supervisor (its cookie is a known connection) -> EISCONN; not AF_INET/AF_INET6 or no
//   lookup -> EOPNOTSUPP; else lookup.attachRecords(SO_COOKIE).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>

#include "control/protocol.h"
#include "openwfp/control.h"
#include "winsock/control_rules.h"

namespace openwfp::control {

class ReceivedSocket final : public winsock::SocketBackend {
 public:
  // fd is borrowed (the caller closes it); lookup may be null.
  ReceivedSocket(int fd, uint64_t callerPid, std::shared_ptr<ConnectionLookup> lookup)
      : fd_(fd), callerPid_(callerPid), lookup_(std::move(lookup)) {}

  static constexpr int kLookupRetries = 10;

  bool owns(int fd) const override { return fd == fd_; }
  int describe(int fd, winsock::SocketFacts& facts) const override;
  int describeState(int fd, winsock::SocketFacts& facts) const override { return describeImpl(fd, facts, false); }
  int attachRecords(int fd, std::shared_ptr<redirect::History> history) override;
  int offerHandOff(int fd, std::shared_ptr<redirect::History> history) override;

 private:
  std::optional<ConnectionInfo> findConnection() const;
  int describeImpl(int fd, winsock::SocketFacts& facts, bool withHistory) const;
  std::optional<ConnectionInfo> findConnectionOnce() const;

  int fd_;
  uint64_t callerPid_;
  std::shared_ptr<ConnectionLookup> lookup_;
};

// A SOCKET_CONTROL request on fd (borrowed): the S9 rules over a ReceivedSocket, with the
// runtime's records sealer.
SocketControlReply applySocketControl(const SocketControlRequest& m, int fd, uint64_t callerPid,
                                      std::shared_ptr<ConnectionLookup> lookup);

}  // namespace openwfp::control

// linux/inet_sockets.h - lists the machine's (network namespace's) TCP/UDP sockets through
// NETLINK_SOCK_DIAG, which works without privileges. Used to learn the 4-tuple of connections
// the kernel made on its own (calls answered "continue") and to notice closed connections.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "openwfp/stack.h"

namespace openwfp::linux_backend {

struct DiagSocket {
  uint64_t cookie = 0;
  uint8_t state = 0;  // TCP_ESTABLISHED, ... (UDP: TCP_ESTABLISHED when connected, else TCP_CLOSE)
  Endpoint local;
  Endpoint remote;
};

// All sockets of one family (AF_INET/AF_INET6) and protocol (IPPROTO_TCP/UDP), except TCP sockets
// in TIME_WAIT (over for the application, and numerous). std::nullopt when sock_diag is
// unavailable.
std::optional<std::vector<DiagSocket>> dumpSockets(int family, int protocol);

// TCP states in which the connection is over for the application.
bool tcpStateEnded(uint8_t state);

}  // namespace openwfp::linux_backend

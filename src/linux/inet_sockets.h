// linux/inet_sockets.h - lists the machine's (network namespace's) TCP/UDP sockets through
// NETLINK_SOCK_DIAG, which works without privileges. Used to learn the 4-tuple of connections
// the kernel made on its own (calls answered "continue") and to notice closed connections.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
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

// One dump of one (family, protocol): when it started, and its sockets by cookie. A socket that
// connected after `started` may be missing from it.
struct SocketListing {
  std::chrono::steady_clock::time_point started;
  uint64_t serial;  // unique in the process, increasing in the order listings are made
  std::vector<DiagSocket> sockets;
  std::unordered_map<uint64_t, size_t> byCookie;  // index into sockets

  SocketListing(std::chrono::steady_clock::time_point at, std::vector<DiagSocket> all);
  const DiagSocket* find(uint64_t cookie) const;
};

// Dumps shared by the reapers of a process. A dump walks every socket of the namespace, and an
// engine serving many sessions (or a bench running many supervisors) has a reaper per session:
// reapers that scan at the same moment take one dump instead of one each. get() returns a
// listing that started at or after notBefore: one still in use by another reaper, or the one in
// progress (waiting for it), else it dumps. A listing lives only while someone uses it, so
// reapers that scan one after another each dump.
class SharedSocketListings {
 public:
  using Clock = std::chrono::steady_clock;
  using Dump = std::function<std::optional<std::vector<DiagSocket>>(int family, int protocol)>;

  explicit SharedSocketListings(Dump dump = dumpSockets) : dump_(std::move(dump)) {}
  static SharedSocketListings& process();  // the one of this process

  // nullptr when the dump failed (sock_diag unavailable).
  std::shared_ptr<const SocketListing> get(int family, int protocol, Clock::time_point notBefore);
  uint64_t dumps() const;  // dumps made (for tests and benches)

 private:
  struct Slot {
    std::weak_ptr<const SocketListing> last;     // the newest, while someone uses it
    bool inFlight = false;
    uint64_t generation = 0;                     // dumps ended
    unsigned waiting = 0;                        // callers waiting for the one in flight
    std::shared_ptr<const SocketListing> handoff;  // the one that ended, until the waiters have it
  };
  const Dump dump_;
  mutable std::mutex mu_;  // guards slots_ and dumps_
  std::condition_variable done_;
  Slot slots_[4];  // TCP/v4, TCP/v6, UDP/v4, UDP/v6 (ConnectionTable::scanMask's bits)
  uint64_t dumps_ = 0;
};

}  // namespace openwfp::linux_backend

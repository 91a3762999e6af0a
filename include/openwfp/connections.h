// openwfp/connections.h - the connections a stack backend remembers, and how others find them.
//
// A bare interface between a stack backend that performs connects (src/linux: the connection
// table of the Interceptor) and the code that needs to know which connection a socket belongs
// to (src/control: the engine side of a socket control finds the connection of the socket it
// received, by SO_COOKIE or by 4-tuple). Neither side includes the other: the host wires a
// backend's ConnectionLookup (linux_backend::connectionLookup) into the control server.
#pragma once

#include <cerrno>
#include <cstdint>
#include <memory>
#include <optional>

#include "openwfp/stack.h"

namespace openwfp {

// A classified connection the backend remembers until it is closed.
struct ConnectionInfo {
  uint64_t socketCookie = 0;    // SO_COOKIE of the connecting socket (== ConnectRequest.socketId)
  uint64_t pid = 0;             // thread group of the connecting process
  Protocol protocol = Protocol::Tcp;
  Endpoint local;               // the connecting socket's local address (after connect)
  Endpoint remote;              // where it is connected (the final destination)
  Endpoint originalRemote;      // what the application asked for
  bool redirected = false;
  uint32_t redirectTargetPid = 0;
  bool tupleKnown = false;      // local/remote resolved (always true for performed connects)
  std::shared_ptr<redirect::History> history;
};

// How the connection of a socket is found. Thread-safe: called from any thread.
class ConnectionLookup {
 public:
  virtual ~ConnectionLookup() = default;
  // The connection made by the socket with this SO_COOKIE (a socket that connected under the
  // backend).
  virtual std::optional<ConnectionInfo> findBySocketCookie(uint64_t cookie) = 0;
  // The connection from local to remote (an accepted socket: its peer is the connection's local
  // address, its own address the connection's remote).
  virtual std::optional<ConnectionInfo> findConnection(const Endpoint& local, const Endpoint& remote) = 0;
  // Records attached with SIO_SET to the not yet connected socket with this cookie: its connect
  // is classified with them.
  virtual void attachRecords(uint64_t socketCookie, std::shared_ptr<redirect::History> records) = 0;
  // openwfp extension, SIO_OPENWFP_HAND_OFF_WITH_RECORDS (docs/performance.md, "Hand-off"): the
  // socket fd (the callee keeps a duplicate if it accepts; the caller still owns fd) is to
  // replace the application's socket of the connection `records` describe once its redirected
  // connect is permitted. 0, or an errno (EOPNOTSUPP: this backend cannot hand sockets over).
  virtual int offerHandOff(std::shared_ptr<redirect::History> records, int fd) {
    (void)records;
    (void)fd;
    return EOPNOTSUPP;
  }
};

}  // namespace openwfp

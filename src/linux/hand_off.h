// linux/hand_off.h - upstream sockets a proxy offered to hand to the application (opt-in,
// SIO_OPENWFP_HAND_OFF_WITH_RECORDS, docs/performance.md "Hand-off").
//
// A proxy in hand-off mode attaches the records of a pended connection to its upstream socket
// with SIO_OPENWFP_HAND_OFF_WITH_RECORDS instead of SIO_SET: the records are attached as with
// SIO_SET, and a duplicate of the socket is kept here under the connection's redirect history.
// When the pended connect is completed PERMIT with its redirect, the performer takes the socket,
// and if it is a connected stream socket of the application's family, installs it in place of
// the application's socket (SECCOMP_IOCTL_NOTIF_ADDFD) and answers the connect 0: no relay runs.
// A BLOCK, or a connection that never completes, discards the offer (and closes the duplicate).
//
// One table per process (every Interceptor of an engine shares it): the key, the History, is
// one connection's, whichever session made it. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "net/unique_fd.h"
#include "openwfp/stack.h"  // redirect::History (opaque here)

namespace openwfp::linux_backend {

class HandOffs {
 public:
  static HandOffs& instance();

  // Keeps fd (owned from now on) for the connection `records` describe; replaces an earlier
  // offer. Offers older than kLifetime are dropped on the way.
  void offer(std::shared_ptr<redirect::History> records, net::UniqueFd fd);
  // The offer for this connection, if any (removed). Offers older than kLifetime go on the way.
  net::UniqueFd take(const redirect::History* history);
  size_t size() const;

  static constexpr auto kLifetime = std::chrono::seconds(60);

 private:
  struct Offer {
    std::shared_ptr<redirect::History> records;  // keeps the key alive
    net::UniqueFd fd;
    std::chrono::steady_clock::time_point at;
  };
  void dropExpiredLocked(std::chrono::steady_clock::time_point now, std::vector<Offer>& dropped);
  mutable std::mutex mu_;
  std::unordered_map<const redirect::History*, Offer> offers_;
  std::atomic<size_t> count_{0};  // offers_.size(), read without mu_ by take()
};

}  // namespace openwfp::linux_backend

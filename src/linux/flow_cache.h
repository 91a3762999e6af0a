// linux/flow_cache.h - the verdicts of unconnected UDP flows (S13.7), as WFP's ALE keeps them:
// the first datagram of a (socket, remote) flow is classified at the connect hook; later
// datagrams of the same socket to the same remote reuse the verdict. Keyed by socket cookie
// (never reused while the system runs); bounded: a socket keeps at most kFlowsPerSocket flows
// and the cache at most kSockets sockets; the oldest go first, and a socket's flows go when the
// reaper finds the socket closed (forgetSockets). Evicted verdicts' histories are returned, to
// be reported closed.
#pragma once

#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "openwfp/linux_backend.h"

namespace openwfp::linux_backend {

struct FlowVerdict {
  bool blocked = false;
  int blockErrno = 0;   // when blocked
  Endpoint finalRemote; // when permitted: where the datagrams go
  std::shared_ptr<redirect::History> history;
};

class FlowCache {
 public:
  using HistoryPtr = std::shared_ptr<redirect::History>;
  using Clock = std::chrono::steady_clock;
  static constexpr size_t kFlowsPerSocket = 256;
  // A socket is in the UDP listings only once its first datagram has bound it, which is after
  // its first flow was classified: a listing judges the sockets cached this long before it began.
  static constexpr auto kGrace = std::chrono::seconds(2);
  static constexpr size_t kSockets = 4096;

  std::optional<FlowVerdict> find(uint64_t cookie, const Endpoint& remote) const;
  // Remembers a verdict; returns the histories of what it pushed out.
  std::vector<HistoryPtr> add(uint64_t cookie, const Endpoint& remote, FlowVerdict verdict,
                              Clock::time_point now = Clock::now());
  // Drops the flows of sockets not in `alive` (cookies of the UDP sockets a listing that began
  // at listedFrom found), among those cached at least kGrace before listedFrom.
  std::vector<HistoryPtr> keepOnly(const std::unordered_set<uint64_t>& alive,
                                   Clock::time_point listedFrom);
  std::vector<HistoryPtr> takeAll();
  size_t sockets() const;
  bool empty() const;

 private:
  struct Flow {
    Endpoint remote;
    FlowVerdict verdict;
  };
  struct Socket {
    std::list<Flow> flows;  // newest first
    std::list<uint64_t>::iterator age;
    Clock::time_point added;  // its first flow
  };
  mutable std::mutex mu_;  // guards everything below
  std::unordered_map<uint64_t, Socket> byCookie_;
  std::list<uint64_t> ages_;  // cookies, oldest first
};

}  // namespace openwfp::linux_backend

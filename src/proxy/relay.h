// proxy/relay.h - moves bytes between two connected sockets in both directions with splice(2).
//
// One Relay runs an epoll loop on its own thread and serves any number of connection pairs. Each
// direction has its own pipe: socket -> pipe -> socket, never through user memory. Half-close is
// forwarded: when one side reaches EOF, the other side's write half is shut down once every byte
// read before the EOF has been written; a pair ends when both directions are done or a socket
// fails (then both are closed at once).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

namespace openwfp::proxy {

struct RelayStats {
  uint64_t clientToUpstream = 0;  // bytes
  uint64_t upstreamToClient = 0;
  int error = 0;  // errno of the first failure, 0 if both directions ended cleanly
};

class Relay {
 public:
  using Finished = std::function<void(const RelayStats&)>;

  Relay();
  ~Relay();  // stops the loop, closes every pair still open
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;

  // Takes ownership of both fds (made non-blocking). onFinished runs on the relay thread once
  // the pair has ended and both fds are closed. Returns false if the pair cannot be set up
  // (pipe or epoll failure): the fds are closed, and onFinished does not run.
  bool add(int client, int upstream, Finished onFinished = {});
  size_t active() const;

 private:
  struct Pair;
  struct Direction;
  void loop();
  void pump(Pair& p, Direction& d);
  void finish(uint64_t id, int error);
  bool takePipe(int (&pipe)[2]);              // a spare drained pipe, or a new one
  void givePipe(int (&pipe)[2], bool empty);  // kept for reuse when empty, else closed
  void setWriteInterest(Pair& p);             // EPOLLOUT on a side only while bytes wait for it

  int epfd_ = -1;
  int wakefd_ = -1;  // eventfd to stop the loop
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;  // guards pairs_ and nextId_
  std::unordered_map<uint64_t, std::unique_ptr<Pair>> pairs_;
  uint64_t nextId_ = 1;
  std::mutex spareMu_;  // guards spare_
  std::vector<std::array<int, 2>> spare_;
  std::thread thread_;
};

}  // namespace openwfp::proxy

// linux/connect_waiter.h - waits for connects the supervisor started on a blocking socket of a
// supervised process: the socket is switched to non-blocking just for the connect() call, so no
// thread blocks for a handshake; one epoll thread reports SO_ERROR when the connect finishes.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "net/unique_fd.h"

namespace openwfp::linux_backend {

class ConnectWaiter {
 public:
  // Called once with 0 or the connect's errno; ECONNABORTED when the waiter stops first.
  using Finished = std::function<void(int error)>;

  ConnectWaiter();
  ~ConnectWaiter();  // stop()
  // Starts watching fd (which must stay open until Finished runs). false when epoll fails.
  bool watch(int fd, Finished finished);
  // Calls ready() on the waiter thread whenever fd is readable (level-triggered), until stop():
  // how the task cache hears of exited tasks (TaskCache::exitFd()). fd must outlive the waiter.
  bool watchReadable(int fd, std::function<void()> ready);
  void stop();

 private:
  void run();

  net::UniqueFd epoll_;
  net::UniqueFd wake_;  // eventfd: stop
  std::mutex mu_;  // guards waiting_, readable_ and stopped_
  std::unordered_map<int, Finished> waiting_;
  std::unordered_map<int, std::function<void()>> readable_;  // by fd, until stop()
  bool stopped_ = false;
  std::thread thread_;
};

}  // namespace openwfp::linux_backend

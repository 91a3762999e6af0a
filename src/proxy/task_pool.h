// proxy/task_pool.h - threads kept for the upstream handshakes (SOCKS5 / HTTP CONNECT) of the
// proxy: a task runs on an idle thread, on a new one when none is idle (up to maxThreads), else
// waits in order. Threads are started on demand and kept, so that a connection does not pay for
// creating one (it did: a thread per attempt). stop() runs what is queued, then joins.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace openwfp::proxy {

class TaskPool {
 public:
  explicit TaskPool(size_t maxThreads) : max_(maxThreads == 0 ? 1 : maxThreads) {}
  ~TaskPool() { stop(); }
  TaskPool(const TaskPool&) = delete;
  TaskPool& operator=(const TaskPool&) = delete;

  void post(std::function<void()> task);
  void stop();  // every task posted before has run when it returns; later posts run at once
  size_t threads() const;

 private:
  void run();

  const size_t max_;
  mutable std::mutex mu_;  // guards everything below
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  std::vector<std::thread> threads_;
  size_t idle_ = 0;
  bool stopping_ = false;
};

}  // namespace openwfp::proxy

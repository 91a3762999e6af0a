// engine/pend_timer.h - deadlines of pended classifies (SPEC S6.4): one thread and a min-heap,
// not a thread per pend. Started on the first schedule(); stopped by the destructor.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <queue>
#include <thread>
#include <vector>

namespace openwfp::engine {

class PendTimer {
 public:
  using Clock = std::chrono::steady_clock;
  PendTimer() = default;
  ~PendTimer();
  PendTimer(const PendTimer&) = delete;
  PendTimer& operator=(const PendTimer&) = delete;

  // Runs fn on the timer thread at (or after) `when`. fn must check itself whether it is still
  // relevant (the classify may have been completed meanwhile).
  void schedule(Clock::time_point when, std::function<void()> fn);
  void stop();
  size_t pending() const;

 private:
  struct Item {
    Clock::time_point when;
    uint64_t seq;
    std::function<void()> fn;
  };
  struct Later {
    bool operator()(const Item& a, const Item& b) const {
      return a.when != b.when ? a.when > b.when : a.seq > b.seq;
    }
  };
  void run();

  mutable std::mutex mu_;  // guards heap_, seq_, stopping_, started_
  std::condition_variable cv_;
  std::priority_queue<Item, std::vector<Item>, Later> heap_;
  uint64_t seq_ = 0;
  bool stopping_ = false;
  bool started_ = false;
  std::thread thread_;
};

}  // namespace openwfp::engine

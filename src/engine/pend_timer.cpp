#include "engine/pend_timer.h"

namespace openwfp::engine {

PendTimer::~PendTimer() { stop(); }

void PendTimer::schedule(Clock::time_point when, std::function<void()> fn) {
  std::lock_guard lock(mu_);
  if (stopping_) return;
  // The thread sleeps until the earliest deadline (it re-reads the heap under mu_ before every
  // wait): wake it only when this one is the new earliest. Pends with the one configured
  // deadline arrive in deadline order, so holding many pends costs no wake-up per pend.
  const bool earliest = heap_.empty() || when < heap_.top().when;
  heap_.push({when, seq_++, std::move(fn)});
  if (!started_) {
    started_ = true;
    thread_ = std::thread([this] { run(); });
  }
  if (earliest) cv_.notify_one();
}

void PendTimer::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(mu_);
  while (!heap_.empty()) heap_.pop();
}

size_t PendTimer::pending() const {
  std::lock_guard lock(mu_);
  return heap_.size();
}

void PendTimer::run() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    if (heap_.empty()) {
      cv_.wait(lock);
      continue;
    }
    auto when = heap_.top().when;
    if (Clock::now() < when) {
      cv_.wait_until(lock, when);
      continue;
    }
    auto fn = std::move(const_cast<Item&>(heap_.top()).fn);
    heap_.pop();
    lock.unlock();
    fn();
    lock.lock();
  }
}

}  // namespace openwfp::engine

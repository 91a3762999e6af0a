// proxy/task_pool.cpp - see task_pool.h.
#include "proxy/task_pool.h"

namespace openwfp::proxy {

void TaskPool::post(std::function<void()> task) {
  std::unique_lock lock(mu_);
  if (stopping_) {
    lock.unlock();
    task();  // after stop(): on the caller's thread, so that nothing is dropped
    return;
  }
  queue_.push_back(std::move(task));
  if (idle_ == 0 && threads_.size() < max_) {
    threads_.emplace_back([this] { run(); });
  } else {
    cv_.notify_one();
  }
}

void TaskPool::run() {
  std::unique_lock lock(mu_);
  for (;;) {
    while (queue_.empty() && !stopping_) {
      ++idle_;
      cv_.wait(lock);
      --idle_;
    }
    if (queue_.empty()) return;  // stopping, and nothing left
    auto task = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    task();
    lock.lock();
  }
}

void TaskPool::stop() {
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mu_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
    threads.swap(threads_);
    cv_.notify_all();
  }
  for (auto& t : threads) t.join();
}

size_t TaskPool::threads() const {
  std::lock_guard lock(mu_);
  return threads_.size();
}

}  // namespace openwfp::proxy

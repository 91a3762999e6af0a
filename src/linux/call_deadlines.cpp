// linux/call_deadlines.cpp - see call_deadlines.h.
#include "linux/call_deadlines.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/time.h>

namespace openwfp::linux_backend {

std::chrono::microseconds sendTimeoutOf(int sock) {
  timeval tv{};
  socklen_t len = sizeof tv;
  if (::getsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &tv, &len) != 0) return {};
  if (tv.tv_sec <= 0 && tv.tv_usec <= 0) return {};
  const int flags = ::fcntl(sock, F_GETFL);
  if (flags < 0 || (flags & O_NONBLOCK) != 0) return {};  // a non-blocking connect never waits
  return std::chrono::seconds(tv.tv_sec) + std::chrono::microseconds(tv.tv_usec);
}

void CallDeadlines::arm(Clock::time_point when, std::function<void()> expire) {
  std::lock_guard lock(mu_);
  if (stopped_) return;
  const bool first = due_.empty() || when < due_.begin()->first;
  due_.emplace(when, std::move(expire));
  if (!thread_.joinable()) {
    thread_ = std::thread([this] {
      ::pthread_setname_np(::pthread_self(), "owfp-deadline");
      run();
    });
  } else if (first) {
    cv_.notify_one();
  }
}

void CallDeadlines::run() {
  std::unique_lock lock(mu_);
  while (!stopped_) {
    if (due_.empty()) {
      cv_.wait(lock);
      continue;
    }
    auto it = due_.begin();
    if (Clock::now() < it->first) {
      cv_.wait_until(lock, it->first);
      continue;
    }
    std::function<void()> expire = std::move(it->second);
    due_.erase(it);
    lock.unlock();
    expire();
    lock.lock();
  }
}

void CallDeadlines::stop() {
  {
    std::lock_guard lock(mu_);
    stopped_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(mu_);
  due_.clear();
}

size_t CallDeadlines::pending() const {
  std::lock_guard lock(mu_);
  return due_.size();
}

}  // namespace openwfp::linux_backend

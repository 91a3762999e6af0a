// linux/connect_waiter.cpp - see connect_waiter.h.
#include "linux/connect_waiter.h"

#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <cerrno>
#include <vector>

namespace openwfp::linux_backend {

ConnectWaiter::ConnectWaiter()
    : epoll_(::epoll_create1(EPOLL_CLOEXEC)), wake_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (epoll_ && wake_) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = wake_.get();
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, wake_.get(), &ev);
    thread_ = std::thread([this] {
      ::pthread_setname_np(::pthread_self(), "owfp-connect");
      run();
    });
  }
}

ConnectWaiter::~ConnectWaiter() { stop(); }

bool ConnectWaiter::watch(int fd, Finished finished) {
  std::lock_guard lock(mu_);
  if (stopped_ || !thread_.joinable()) return false;
  epoll_event ev{};
  ev.events = EPOLLOUT | EPOLLONESHOT;
  ev.data.fd = fd;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) return false;
  waiting_[fd] = std::move(finished);
  return true;
}

bool ConnectWaiter::watchReadable(int fd, std::function<void()> ready) {
  std::lock_guard lock(mu_);
  if (stopped_ || !thread_.joinable() || fd < 0) return false;
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = fd;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) return false;
  readable_[fd] = std::move(ready);
  return true;
}

void ConnectWaiter::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  if (thread_.joinable()) {
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_.get(), &one, sizeof one);
    thread_.join();
  }
  std::unordered_map<int, Finished> left;
  {
    std::lock_guard lock(mu_);
    left.swap(waiting_);
    for (auto& [fd, ready] : readable_) ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
    readable_.clear();
  }
  for (auto& [fd, finished] : left) {
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
    finished(ECONNABORTED);
  }
}

void ConnectWaiter::run() {
  std::vector<epoll_event> events(64);
  for (;;) {
    int n = ::epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()), -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      if (fd == wake_.get()) return;
      Finished finished;
      std::function<void()>* ready = nullptr;
      {
        std::lock_guard lock(mu_);
        auto r = readable_.find(fd);
        // Erased only by stop(), after this thread is joined; rehashing keeps references.
        if (r != readable_.end()) ready = &r->second;
      }
      if (ready != nullptr) {
        (*ready)();
        continue;
      }
      {
        std::lock_guard lock(mu_);
        auto it = waiting_.find(fd);
        if (it == waiting_.end()) continue;
        finished = std::move(it->second);
        waiting_.erase(it);
      }
      ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
      int soError = 0;
      socklen_t len = sizeof soError;
      if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &len) != 0) soError = errno;
      finished(soError);
    }
  }
}

}  // namespace openwfp::linux_backend

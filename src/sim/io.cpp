// sim/io.cpp - accept, send, recv, and the Process facade over StackState.
#include <algorithm>
#include <cstring>

#include "sim/stack_state.h"

namespace openwfp::sim {
namespace detail {
namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

AcceptResult StackState::accept(Process& p, int fd, const std::chrono::milliseconds* timeout) {
  const auto deadline = timeout != nullptr ? Clock::now() + *timeout : Clock::time_point{};
  std::unique_lock lock(mu);
  while (true) {
    Socket* s = findLocked(p, fd);
    if (s == nullptr) return AcceptResult{EBADF, -1, {}, {}};
    if (s->state != SockState::Listening) return AcceptResult{EINVAL, -1, {}, {}};
    while (!s->acceptQueue.empty()) {
      const int accepted = s->acceptQueue.front();
      s->acceptQueue.pop_front();
      auto it = sockets.find(accepted);
      if (it == sockets.end()) continue;
      return AcceptResult{0, accepted, it->second.local, it->second.remote};
    }
    if (timeout == nullptr) return AcceptResult{EAGAIN, -1, {}, {}};
    if (changed.wait_until(lock, deadline) == std::cv_status::timeout) {
      timeout = nullptr;  // one last look, then EAGAIN
    }
  }
}

IoResult StackState::send(Process& p, int fd, std::span<const uint8_t> data) {
  std::lock_guard lock(mu);
  Socket* s = findLocked(p, fd);
  if (s == nullptr) return IoResult{EBADF, 0, {}};
  if (s->state != SockState::Connected) {
    return IoResult{s->protocol == Protocol::Udp ? EDESTADDRREQ : ENOTCONN, 0, {}};
  }
  if (s->protocol == Protocol::Udp) {
    deliverDatagramLocked(p.host_, s->local, s->remote, data);
    return IoResult{0, data.size(), s->remote};
  }
  auto peer = sockets.find(s->peerFd);
  if (s->peerClosed || peer == sockets.end()) return IoResult{EPIPE, 0, s->remote};
  peer->second.rx.insert(peer->second.rx.end(), data.begin(), data.end());
  changed.notify_all();
  return IoResult{0, data.size(), s->remote};
}

IoResult StackState::recv(Process& p, int fd, std::span<uint8_t> buffer, std::string* text,
                          const std::chrono::milliseconds* timeout) {
  const auto deadline = timeout != nullptr ? Clock::now() + *timeout : Clock::time_point{};
  std::unique_lock lock(mu);
  while (true) {
    Socket* s = findLocked(p, fd);
    if (s == nullptr) return IoResult{EBADF, 0, {}};
    if (s->protocol == Protocol::Tcp) {
      if (s->state != SockState::Connected) return IoResult{ENOTCONN, 0, {}};
      if (!s->rx.empty()) {
        const size_t n = text != nullptr ? s->rx.size() : std::min(buffer.size(), s->rx.size());
        if (text != nullptr) {
          text->assign(s->rx.begin(), s->rx.begin() + static_cast<ptrdiff_t>(n));
        } else {
          std::copy_n(s->rx.begin(), n, buffer.begin());
        }
        s->rx.erase(s->rx.begin(), s->rx.begin() + static_cast<ptrdiff_t>(n));
        return IoResult{0, n, s->remote};
      }
      if (s->peerClosed || sockets.find(s->peerFd) == sockets.end()) {
        if (text != nullptr) text->clear();
        return IoResult{0, 0, s->remote};  // end of stream
      }
    } else if (!s->datagrams.empty()) {
      Datagram d = std::move(s->datagrams.front());
      s->datagrams.pop_front();
      const size_t n = text != nullptr ? d.bytes.size() : std::min(buffer.size(), d.bytes.size());
      if (text != nullptr) {
        text->assign(d.bytes.begin(), d.bytes.end());
      } else if (n > 0) {
        std::memcpy(buffer.data(), d.bytes.data(), n);  // the rest of the datagram is lost
      }
      return IoResult{0, n, d.from};
    }
    if (timeout == nullptr) return IoResult{EAGAIN, 0, {}};
    if (changed.wait_until(lock, deadline) == std::cv_status::timeout) timeout = nullptr;
  }
}

}  // namespace detail

// ---- Process facade -------------------------------------------------------------------------

namespace {
std::span<const uint8_t> bytesOf(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}
}  // namespace

int Process::socket(IpVersion version, Protocol protocol) {
  return stack_->newSocket(*this, version, protocol);
}
int Process::bind(int fd, const Endpoint& local) { return stack_->bind(*this, fd, local); }
int Process::listen(int fd, int backlog) { return stack_->listen(*this, fd, backlog); }
ConnectResult Process::connect(int fd, const Endpoint& remote) {
  return stack_->connectAsync(*this, fd, remote).wait();
}
PendingConnect Process::connectAsync(int fd, const Endpoint& remote) {
  return stack_->connectAsync(*this, fd, remote);
}
AcceptResult Process::accept(int fd) { return stack_->accept(*this, fd, nullptr); }
AcceptResult Process::accept(int fd, std::chrono::milliseconds timeout) {
  return stack_->accept(*this, fd, &timeout);
}
IoResult Process::send(int fd, std::span<const uint8_t> data) {
  return stack_->send(*this, fd, data);
}
IoResult Process::send(int fd, std::string_view data) { return stack_->send(*this, fd, bytesOf(data)); }
IoResult Process::sendTo(int fd, const Endpoint& to, std::string_view data) {
  return stack_->sendTo(*this, fd, to, bytesOf(data));
}
IoResult Process::recv(int fd, std::span<uint8_t> buffer) {
  return stack_->recv(*this, fd, buffer, nullptr, nullptr);
}
IoResult Process::recv(int fd, std::span<uint8_t> buffer, std::chrono::milliseconds timeout) {
  return stack_->recv(*this, fd, buffer, nullptr, &timeout);
}
IoResult Process::recv(int fd, std::string& out) {
  return stack_->recv(*this, fd, {}, &out, nullptr);
}
IoResult Process::recv(int fd, std::string& out, std::chrono::milliseconds timeout) {
  return stack_->recv(*this, fd, {}, &out, &timeout);
}
int Process::close(int fd) { return stack_->close(*this, fd); }
int Process::getsockname(int fd, Endpoint& out) const {
  return stack_->sockname(*this, fd, out, false);
}
int Process::getpeername(int fd, Endpoint& out) const {
  return stack_->sockname(*this, fd, out, true);
}
std::optional<ConnectionInfo> Process::connection(int fd) const {
  return stack_->connection(*this, fd);
}

}  // namespace openwfp::sim

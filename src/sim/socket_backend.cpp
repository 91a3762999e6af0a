// sim/socket_backend.cpp - the simulated stack as a winsock SocketBackend, so openwfp_ioctl and
// WSAIoctl (SPEC S9) work on sim fds. The caller of a control is the sim process owning the fd.
#include "sim/stack_state.h"

namespace openwfp::sim::detail {
namespace {

class SimSocketBackend final : public winsock::SocketBackend {
 public:
  explicit SimSocketBackend(std::weak_ptr<StackState> state) : state_(std::move(state)) {}

  bool owns(int fd) const override {
    if (fd < kFirstFd) return false;
    auto state = state_.lock();
    return state && state->ownsFd(fd);
  }
  int describe(int fd, winsock::SocketFacts& facts) const override {
    auto state = state_.lock();
    return state ? state->describe(fd, facts) : EBADF;
  }
  int attachRecords(int fd, std::shared_ptr<redirect::History> history) override {
    auto state = state_.lock();
    return state ? state->attachRecords(fd, std::move(history)) : EBADF;
  }

 private:
  std::weak_ptr<StackState> state_;
};

}  // namespace

void registerBackend(const std::shared_ptr<StackState>& state) {
  state->registration =
      winsock::SocketRegistry::instance().add(std::make_shared<SimSocketBackend>(state));
}

bool StackState::ownsFd(int fd) const {
  std::lock_guard lock(mu);
  return sockets.count(fd) != 0;
}

int StackState::describe(int fd, winsock::SocketFacts& facts) const {
  std::lock_guard lock(mu);
  auto it = sockets.find(fd);
  if (it == sockets.end()) return EBADF;
  const Socket& s = it->second;
  switch (s.state) {
    case SockState::Unconnected:
      facts.state = winsock::SocketState::Unconnected;
      break;
    case SockState::Connecting:
      facts.state = winsock::SocketState::Connecting;
      break;
    case SockState::Listening:
      facts.state = winsock::SocketState::Listening;
      break;
    case SockState::Connected:
      facts.state = winsock::SocketState::Connected;
      break;
  }
  facts.protocol = s.protocol;
  // A UDP socket that adopted a redirected flow answers for that flow (S9.5).
  const Connection* c = s.inbound ? s.inbound.get() : s.conn.get();
  if (c != nullptr) {
    facts.history = c->history;
    facts.redirectTargetPid = c->redirectTargetPid;
  }
  facts.callerPid = s.owner->pid();
  return 0;
}

int StackState::attachRecords(int fd, std::shared_ptr<redirect::History> history) {
  std::lock_guard lock(mu);
  auto it = sockets.find(fd);
  if (it == sockets.end()) return EBADF;
  Socket& s = it->second;
  switch (s.state) {
    case SockState::Unconnected:
      s.proxiedRecords = std::move(history);
      return 0;
    case SockState::Listening:
      return EINVAL;
    case SockState::Connecting:
    case SockState::Connected:
      return EISCONN;
  }
  return EINVAL;
}

}  // namespace openwfp::sim::detail

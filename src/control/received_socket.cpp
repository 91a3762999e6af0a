// control/received_socket.cpp - facts about a socket received over the control channel.
#include "control/received_socket.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <thread>
#include <vector>

#include "net/sockaddr_codec.h"
#include "openwfp/openwfp.h"

namespace openwfp::control {
namespace {

int intOption(int fd, int level, int name, int fallback) {
  int v = 0;
  socklen_t len = sizeof v;
  return ::getsockopt(fd, level, name, &v, &len) == 0 ? v : fallback;
}

bool isSocket(int fd, int& err) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    err = EBADF;
    return false;
  }
  if (!S_ISSOCK(st.st_mode)) {
    err = ENOTSOCK;
    return false;
  }
  return true;
}

bool isConnecting(int fd) {
  tcp_info info{};
  socklen_t len = sizeof info;
  return ::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) == 0 && info.tcpi_state == TCP_SYN_SENT;
}

uint64_t cookieOf(int fd) {
  uint64_t cookie = 0;
  socklen_t len = sizeof cookie;
  if (::getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &len) != 0) return 0;
  return cookie;
}

std::optional<Endpoint> address(int fd, bool peer) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  int rc = peer ? ::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len)
                : ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  if (rc != 0) return std::nullopt;
  return net::endpointFromSockaddr(ss, len);
}

// The endpoint itself and, for a V4 address, its v4-mapped V6 form (and the reverse).
std::vector<Endpoint> forms(const Endpoint& ep) {
  std::vector<Endpoint> out{ep};
  if (ep.version == IpVersion::V4) {
    std::array<uint8_t, 16> mapped{};
    mapped[10] = 0xff;
    mapped[11] = 0xff;
    for (int i = 0; i < 4; ++i) mapped[12 + i] = ep.addr[i];
    out.push_back(Endpoint::v6(mapped, ep.port));
  } else if (ep.isV4Mapped()) {
    Endpoint v4;
    v4.version = IpVersion::V4;
    for (int i = 0; i < 4; ++i) v4.addr[i] = ep.addr[12 + i];
    v4.port = ep.port;
    out.push_back(v4);
  }
  return out;
}

bool isInet(int fd) {
  const int domain = intOption(fd, SOL_SOCKET, SO_DOMAIN, -1);
  return domain == AF_INET || domain == AF_INET6;
}

}  // namespace

std::optional<ConnectionInfo> ReceivedSocket::findConnection() const {
  // The interceptor records a connection it performed right after its connect() returns, so a
  // proxy that accepts and asks at once can be a moment early: look again for a few ms before
  // answering "not redirected".
  for (int attempt = 0;; ++attempt) {
    if (auto hit = findConnectionOnce()) return hit;
    if (!lookup_ || !isInet(fd_) || attempt == kLookupRetries) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

std::optional<ConnectionInfo> ReceivedSocket::findConnectionOnce() const {
  if (!lookup_ || !isInet(fd_)) return std::nullopt;
  if (const uint64_t cookie = cookieOf(fd_); cookie != 0) {
    if (auto hit = lookup_->findBySocketCookie(cookie)) return hit;
  }
  auto local = address(fd_, false);
  auto peer = address(fd_, true);
  if (!local || !peer) return std::nullopt;
  // An accepted socket: the connecting side's local address is our peer, its remote ours.
  for (const Endpoint& l : forms(*peer)) {
    for (const Endpoint& r : forms(*local)) {
      if (auto hit = lookup_->findConnection(l, r)) return hit;
    }
  }
  return std::nullopt;
}

int ReceivedSocket::describe(int fd, winsock::SocketFacts& facts) const { return describeImpl(fd, facts, true); }

int ReceivedSocket::describeImpl(int fd, winsock::SocketFacts& facts, bool withHistory) const {
  if (fd != fd_) return EBADF;
  int err = 0;
  if (!isSocket(fd, err)) return err;
  facts.callerPid = callerPid_;
  if (intOption(fd, SOL_SOCKET, SO_PROTOCOL, 0) == IPPROTO_UDP) facts.protocol = Protocol::Udp;
  sockaddr_storage peer{};
  socklen_t peerLen = sizeof peer;
  if (intOption(fd, SOL_SOCKET, SO_ACCEPTCONN, 0) != 0) {
    facts.state = winsock::SocketState::Listening;
  } else if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peerLen) == 0) {
    facts.state = winsock::SocketState::Connected;
    if (!withHistory) return 0;
    if (auto info = findConnection()) {
      facts.history = info->history;
      facts.redirectTargetPid = info->redirectTargetPid;
    }
  } else if (facts.protocol == Protocol::Tcp && isConnecting(fd)) {
    facts.state = winsock::SocketState::Connecting;
  } else {
    facts.state = winsock::SocketState::Unconnected;
  }
  return 0;
}

int ReceivedSocket::attachRecords(int fd, std::shared_ptr<redirect::History> history) {
  if (fd != fd_) return EBADF;
  int err = 0;
  if (!isSocket(fd, err)) return err;
  if (intOption(fd, SOL_SOCKET, SO_ACCEPTCONN, 0) != 0) return EINVAL;
  sockaddr_storage peer{};
  socklen_t peerLen = sizeof peer;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peerLen) == 0) return EISCONN;
  if (isConnecting(fd)) return EISCONN;
  if (!isInet(fd) || !lookup_) return EOPNOTSUPP;
  const uint64_t cookie = cookieOf(fd);
  if (cookie == 0) return EOPNOTSUPP;
  if (lookup_->findBySocketCookie(cookie)) return EISCONN;  // its connect already went through us
  lookup_->attachRecords(cookie, std::move(history));
  return 0;
}

int ReceivedSocket::offerHandOff(int fd, std::shared_ptr<redirect::History> history) {
  if (fd != fd_) return EBADF;
  if (!lookup_) return EOPNOTSUPP;
  return lookup_->offerHandOff(std::move(history), fd);
}

SocketControlReply applySocketControl(const SocketControlRequest& m, int fd, uint64_t callerPid,
                                      std::shared_ptr<ConnectionLookup> lookup) {
  SocketControlReply reply;
  ReceivedSocket backend(fd, callerPid, std::move(lookup));
  std::vector<uint8_t> out(m.outLen);
  size_t returned = 0;
  winsock::ControlCall call;
  call.code = m.code;
  call.in = m.in.empty() ? nullptr : m.in.data();
  call.inLen = m.in.size();
  call.out = m.outLen == 0 ? nullptr : out.data();
  call.outLen = m.outLen;
  call.returned = &returned;
  reply.err = winsock::applyControlRules(backend, fd, call, Runtime::current().sealer());
  reply.returned = returned;
  if (reply.err == 0 && returned <= out.size()) {
    out.resize(returned);
    reply.out = std::move(out);
  }
  return reply;
}

}  // namespace openwfp::control

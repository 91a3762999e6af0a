// winsock/os_socket_backend.cpp - the fallback SocketBackend for fds no registered backend owns:
// plain OS sockets of this process, which openwfp never redirected. Queries on them answer
// ENOTSOCK / ENOTCONN / ENOENT per S9.3; SIO_SET answers EOPNOTSUPP (nothing would classify
// the socket's connect with the records).
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "winsock/socket_registry.h"

namespace openwfp::winsock {
namespace {

class OsSocketBackend final : public SocketBackend {
 public:
  bool owns(int fd) const override { return fd >= 0; }

  int describe(int fd, SocketFacts& facts) const override {
    struct stat st {};
    if (fstat(fd, &st) != 0) return EBADF;
    if (!S_ISSOCK(st.st_mode)) return ENOTSOCK;
    int protocol = 0;
    socklen_t len = sizeof protocol;
    if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &protocol, &len) == 0 && protocol == IPPROTO_UDP) {
      facts.protocol = Protocol::Udp;
    }
    int listening = 0;
    len = sizeof listening;
    sockaddr_storage peer{};
    socklen_t peerLen = sizeof peer;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 && listening != 0) {
      facts.state = SocketState::Listening;
    } else if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peerLen) == 0) {
      facts.state = SocketState::Connected;
    } else {
      facts.state = SocketState::Unconnected;
    }
    facts.callerPid = static_cast<uint64_t>(getpid());
    return 0;
  }

  int attachRecords(int fd, std::shared_ptr<redirect::History>) override {
    struct stat st {};
    if (fstat(fd, &st) != 0) return EBADF;
    return S_ISSOCK(st.st_mode) ? EOPNOTSUPP : ENOTSOCK;
  }
};

}  // namespace

std::shared_ptr<SocketBackend> osSocketBackend() {
  static const auto backend = std::make_shared<OsSocketBackend>();
  return backend;
}

}  // namespace openwfp::winsock

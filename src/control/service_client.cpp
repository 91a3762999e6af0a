// control/service_client.cpp - service calls over a control connection, and where the engine
// service's socket is (openwfp/control.h).
#include "control/service_client.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "control/frame_io.h"
#include "control/protocol.h"

namespace openwfp::control {

std::string defaultEnginePath() {
  if (const char* e = std::getenv(kEngineEnv); e != nullptr && e[0] != '\0') return e;
  if (const char* xdg = std::getenv("XDG_RUNTIME_DIR"); xdg != nullptr && xdg[0] == '/') {
    return std::string(xdg) + "/openwfp/engine.sock";
  }
  if (::geteuid() == 0) return "/run/openwfp/engine.sock";
  return "/tmp/openwfp-" + std::to_string(::geteuid()) + "/engine.sock";
}

std::unique_ptr<ServiceClient> ServiceClient::connect(const std::string& path, std::string& error) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path) {
    error = "engine socket path too long or empty: " + path;
    return nullptr;
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  net::UniqueFd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!s) {
    error = std::string("socket: ") + std::strerror(errno);
    return nullptr;
  }
  int rc;
  do {
    rc = ::connect(s.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    if (errno == ENOENT || errno == ECONNREFUSED) {
      error = "no openwfp engine at " + path + " (start one with `openwfp engine`)";
    } else {
      error = "cannot reach the openwfp engine at " + path + ": " + std::strerror(errno);
    }
    return nullptr;
  }
  std::unique_ptr<ServiceClient> c(new ServiceClient());
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(s.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) c->serverPid_ = cred.pid;
  c->sock_ = std::move(s);
  c->path_ = path;
  return c;
}

std::optional<ServiceResult> ServiceClient::call(uint32_t service, uint32_t op, std::span<const uint8_t> payload,
                                                 std::span<const int> fds) {
  std::lock_guard lock(mu_);
  if (fds.size() > 1 || payload.size() > kMaxBuffer) {
    errno = EINVAL;
    return std::nullopt;
  }
  const uint64_t request = nextRequest_++;
  std::vector<uint8_t> frame =
      encode(request, ServiceCallRequest{service, op, std::vector<uint8_t>(payload.begin(), payload.end())});
  if (!writeFrame(sock_.get(), frame, fds.empty() ? -1 : fds[0])) {
    errno = EIO;
    return std::nullopt;
  }
  for (;;) {
    ReceivedFrame reply;
    ReadStatus st = readFrame(sock_.get(), reply);
    if (st == ReadStatus::UnknownType) continue;
    if (st != ReadStatus::Ok) {
      errno = EIO;
      return std::nullopt;
    }
    if (reply.header.request != request) continue;  // not ours (never expected: calls are in order)
    if (auto* r = std::get_if<ServiceCallReply>(&reply.message)) return ServiceResult{r->status, std::move(r->payload)};
    if (auto* e = std::get_if<ErrorReply>(&reply.message)) {
      errno = e->err;
      return std::nullopt;
    }
    errno = EIO;
    return std::nullopt;
  }
}

}  // namespace openwfp::control

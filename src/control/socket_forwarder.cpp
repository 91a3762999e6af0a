// control/socket_forwarder.cpp - the SocketBackend a proxy process registers at load: it owns
// every fd below sim::kFirstFd while $OPENWFP_SOCKET is set and forwards each socket control
// (openwfp_ioctl / WSAIoctl) with the fd to the engine, which applies the S9 rules there
// (control/received_socket.h). Without OPENWFP_SOCKET it owns nothing.
#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "control/client_connection.h"
#include "openwfp/sim.h"
#include "winsock/socket_registry.h"

namespace openwfp::control {
namespace {

using winsock::ControlCall;
using winsock::SocketBackend;
using winsock::SocketFacts;
using winsock::SocketRegistry;

class ChannelSocketBackend final : public SocketBackend {
 public:
  bool owns(int fd) const override { return fd >= 0 && fd < sim::kFirstFd && !controlSocketPath().empty(); }
  int describe(int fd, SocketFacts& facts) const override { return winsock::osSocketBackend()->describe(fd, facts); }
  int attachRecords(int, std::shared_ptr<redirect::History>) override { return EOPNOTSUPP; }

  int control(int fd, const ControlCall& call) override {
    if (call.in == nullptr && call.inLen != 0) return EFAULT;
    if (call.inLen > kMaxBuffer) return EINVAL;  // no records blob is that long
    if (::fcntl(fd, F_GETFD) < 0) return ENOTSOCK;
    SocketControlRequest req;
    req.code = call.code;
    req.outLen = static_cast<uint32_t>(std::min(call.outLen, kMaxBuffer));
    if (call.inLen > 0) req.in.assign(static_cast<const uint8_t*>(call.in), static_cast<const uint8_t*>(call.in) + call.inLen);
    Message reply;
    if (int rc = callFresh(req, fd, reply); rc != 0) return rc == EBADF ? ENOTSOCK : rc;
    auto* r = std::get_if<SocketControlReply>(&reply);
    if (r == nullptr) {
      if (auto* e = std::get_if<ErrorReply>(&reply)) return e->err != 0 ? e->err : EIO;
      return EIO;
    }
    if (r->err == 0) {
      if (r->out.size() > call.outLen || r->out.size() != r->returned) return EIO;
      if (!r->out.empty()) std::memcpy(call.out, r->out.data(), r->out.size());
    }
    if (call.returned != nullptr && (r->err == 0 || r->err == ENOBUFS)) {
      *call.returned = static_cast<size_t>(r->returned);
    }
    return r->err;
  }
};

}  // namespace

int postSocketControl(int fd, uint32_t code, const void* in, size_t inLen, PostedControl& posted) {
  if (in == nullptr && inLen != 0) return EFAULT;
  if (inLen > kMaxBuffer) return EINVAL;
  int err = 0;
  auto client = ControlClient::forProcess(err);
  if (!client) return err != 0 ? err : EIO;
  SocketControlRequest req;
  req.code = code;
  req.outLen = 0;
  if (inLen > 0) req.in.assign(static_cast<const uint8_t*>(in), static_cast<const uint8_t*>(in) + inLen);
  uint64_t id = 0;
  if (int rc = client->post(req, fd, &id); rc != 0) return rc;
  posted.client = std::move(client);
  posted.id = id;
  return 0;
}

int collectSocketControl(PostedControl& posted) {
  if (!posted.client) return EINVAL;
  Message reply;
  const int rc = posted.client->collect(posted.id, reply);
  posted.client.reset();
  if (rc != 0) return rc;
  if (auto* r = std::get_if<SocketControlReply>(&reply)) return r->err;
  if (auto* e = std::get_if<ErrorReply>(&reply)) return e->err != 0 ? e->err : EIO;
  return EIO;
}

namespace {

// Registered at load: owns fds only while OPENWFP_SOCKET is set (checked per call).
struct ChannelRegistration {
  ChannelRegistration() {
    registration = SocketRegistry::instance().add(std::make_shared<ChannelSocketBackend>());
  }
  SocketRegistry::Registration registration;
};
ChannelRegistration gChannelRegistration;

}  // namespace
}  // namespace openwfp::control

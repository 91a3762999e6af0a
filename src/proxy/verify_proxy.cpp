#include "proxy/verify_proxy.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "linux/sockaddr_codec.h"
#include "openwfp/device.h"
#include "openwfp/verify_proxy_channel.h"
#include "openwfp/winsock.h"

namespace openwfp::proxy {

namespace {

Endpoint endpointOf(const VP_ENDPOINT& ep) {
  if (ep.family == 4) {
    const uint32_t hostOrder = uint32_t{ep.addr[0]} << 24 | uint32_t{ep.addr[1]} << 16 | uint32_t{ep.addr[2]} << 8 | ep.addr[3];
    return Endpoint::v4(hostOrder, ep.port);
  }
  std::array<uint8_t, 16> bytes{};
  std::memcpy(bytes.data(), ep.addr, 16);
  return Endpoint::v6(bytes, ep.port);
}

std::string endpointText(const VP_ENDPOINT& ep) { return linux_backend::formatEndpoint(endpointOf(ep)); }

socklen_t toSockaddr(const VP_ENDPOINT& ep, sockaddr_storage& ss) {
  socklen_t len = 0;
  linux_backend::sockaddrFor(endpointOf(ep), ep.family == 4 ? AF_INET : AF_INET6, ss, len);
  return len;
}

int listenOn(int family, uint16_t port, uint16_t* bound) {
  int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_storage ss{};
  socklen_t len;
  if (family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&ss);
    in->sin_family = AF_INET;
    in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    in->sin_port = htons(port);
    len = sizeof(sockaddr_in);
  } else {
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
    in6->sin6_family = AF_INET6;
    in6->sin6_addr = in6addr_loopback;
    in6->sin6_port = htons(port);
    len = sizeof(sockaddr_in6);
  }
  if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || listen(fd, 1024) != 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  len = sizeof ss;
  getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  *bound = ntohs(family == AF_INET ? reinterpret_cast<sockaddr_in*>(&ss)->sin_port
                                   : reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  return fd;
}

// connect() with a deadline; returns 0 or an errno value.
int connectWithTimeout(int fd, const sockaddr_storage& ss, socklen_t len, std::chrono::milliseconds timeout) {
  int fl = fcntl(fd, F_GETFL);
  fcntl(fd, F_SETFL, fl | O_NONBLOCK);
  int rc = connect(fd, reinterpret_cast<const sockaddr*>(&ss), len);
  int err = rc == 0 ? 0 : errno;
  if (err == EINPROGRESS) {
    pollfd p{fd, POLLOUT, 0};
    int n;
    do {
      n = poll(&p, 1, static_cast<int>(timeout.count()));
    } while (n < 0 && errno == EINTR);
    if (n == 0) {
      err = ETIMEDOUT;
    } else {
      socklen_t elen = sizeof err;
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen);
    }
  }
  fcntl(fd, F_SETFL, fl);
  return err;
}

}  // namespace

VerifyProxy::VerifyProxy(VerifyProxyOptions options) : options_(std::move(options)) {}

VerifyProxy::~VerifyProxy() { stop(); }

void VerifyProxy::logLine(const std::string& line) {
  if (options_.log) {
    options_.log(line);
  } else {
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
  }
}

std::string VerifyProxy::start() {
  listenV4_ = listenOn(AF_INET, options_.listenPortV4, &portV4_);
  if (listenV4_ < 0) return std::string("proxy: cannot listen on 127.0.0.1: ") + std::strerror(errno);
  if (options_.listenV6) listenV6_ = listenOn(AF_INET6, 0, &portV6_);  // optional: no ::1 is fine
  controlHandle_ = openwfp_device_open(options_.device.c_str());
  if (controlHandle_ < 0)
    return "proxy: cannot open device " + options_.device + ": " + std::strerror(errno) +
           " (is the verify_proxy driver loaded and OPENWFP_SOCKET set?)";
  nextHandle_ = openwfp_device_open(options_.device.c_str());
  if (nextHandle_ < 0) return "proxy: cannot open device " + options_.device + ": " + std::strerror(errno);
  VP_REGISTER reg{portV4_, portV6_};
  size_t returned = 0;
  if (openwfp_device_ioctl(controlHandle_, IOCTL_VP_REGISTER, &reg, sizeof reg, nullptr, 0, &returned) != 0)
    return std::string("proxy: REGISTER refused by the driver: ") + std::strerror(errno);
  relay_ = std::make_unique<Relay>();
  loops_.emplace_back([this] { nextLoop(); });
  loops_.emplace_back([this] { acceptLoop(listenV4_); });
  if (listenV6_ >= 0) loops_.emplace_back([this] { acceptLoop(listenV6_); });
  logLine("proxy: listening on 127.0.0.1:" + std::to_string(portV4_) +
          (listenV6_ >= 0 ? " and [::1]:" + std::to_string(portV6_) : std::string()) + ", registered with " +
          options_.device);
  return "";
}

void VerifyProxy::stop() {
  if (stopping_.exchange(true)) return;
  // Closing the device handles makes the driver cancel our outstanding NEXT request.
  if (controlHandle_ >= 0) openwfp_device_close(controlHandle_);
  if (nextHandle_ >= 0) openwfp_device_close(nextHandle_);
  for (int fd : {listenV4_, listenV6_})
    if (fd >= 0) shutdown(fd, SHUT_RDWR);
  for (auto& t : loops_) t.join();
  loops_.clear();
  {
    std::unique_lock lk(mu_);
    idle_.wait(lk, [this] { return activeWorkers_ == 0; });
  }
  relay_.reset();
  for (int fd : {listenV4_, listenV6_})
    if (fd >= 0) close(fd);
  std::lock_guard lk(mu_);
  for (auto& [id, up] : waiting_) close(up.fd);
  waiting_.clear();
}

VerifyProxyStats VerifyProxy::stats() const {
  std::lock_guard lk(mu_);
  return stats_;
}

void VerifyProxy::nextLoop() {
  while (!stopping_) {
    std::vector<uint8_t> buf(sizeof(VP_REQUEST));
    size_t returned = 0;
    if (openwfp_device_ioctl(nextHandle_, IOCTL_VP_NEXT, nullptr, 0, buf.data(), buf.size(), &returned) != 0) {
      if (!stopping_) logLine(std::string("proxy: NEXT failed: ") + std::strerror(errno));
      return;
    }
    if (returned < sizeof(VP_REQUEST)) continue;
    {
      std::lock_guard lk(mu_);
      ++activeWorkers_;
    }
    // One short-lived thread per pended connect: its upstream connect may take up to the timeout.
    std::thread([this, b = std::move(buf)] {
      handleRequest(b);
      std::lock_guard lk(mu_);
      if (--activeWorkers_ == 0) idle_.notify_all();
    }).detach();
  }
}

void VerifyProxy::handleRequest(const std::vector<uint8_t>& bytes) {
  VP_REQUEST req;
  std::memcpy(&req, bytes.data(), sizeof req);
  {
    std::lock_guard lk(mu_);
    ++stats_.requests;
  }
  std::string original = endpointText(req.originalDestination);
  auto t0 = std::chrono::steady_clock::now();
  int family = req.originalDestination.family == 4 ? AF_INET : AF_INET6;
  int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int err = fd < 0 ? errno : 0;
  if (err == 0 && req.recordsSize > 0) {
    size_t returned = 0;
    if (openwfp_ioctl(fd, SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS, req.records, req.recordsSize, nullptr, 0,
                      &returned) != 0) {
      logLine("proxy: id=" + std::to_string(req.id) + " SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS failed: " +
              std::strerror(errno) + " (continuing: the connection may be redirected again)");
    }
  }
  if (err == 0) {
    sockaddr_storage ss;
    socklen_t len = toSockaddr(req.originalDestination, ss);
    err = connectWithTimeout(fd, ss, len, options_.upstreamTimeout);
  }
  auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (err == 0) {
    std::lock_guard lk(mu_);
    ++stats_.upstreamOk;
    waiting_[req.id] = Upstream{fd, original, req.appPid, std::chrono::steady_clock::now()};
  } else {
    if (fd >= 0) close(fd);
    std::lock_guard lk(mu_);
    ++stats_.upstreamFailed;
  }
  char line[256];
  std::snprintf(line, sizeof line, "proxy: id=%llu pid=%u upstream %s: %s in %.2f ms (records %u bytes) -> %s",
                static_cast<unsigned long long>(req.id), req.appPid, original.c_str(),
                err == 0 ? "connected" : std::strerror(err), ms, req.recordsSize, err == 0 ? "PERMIT" : "BLOCK");
  logLine(line);
  VP_OUTCOME outcome{req.id, err};
  size_t returned = 0;
  if (openwfp_device_ioctl(controlHandle_, IOCTL_VP_OUTCOME, &outcome, sizeof outcome, nullptr, 0, &returned) != 0) {
    logLine("proxy: id=" + std::to_string(req.id) + " OUTCOME not accepted: " + std::strerror(errno));
    std::lock_guard lk(mu_);
    auto it = waiting_.find(req.id);
    if (it != waiting_.end()) {
      close(it->second.fd);
      waiting_.erase(it);
    }
  }
}

void VerifyProxy::acceptLoop(int listenFd) {
  while (!stopping_) {
    int client = accept4(listenFd, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;  // listener shut down
    }
    VP_CONTEXT ctx{};
    size_t returned = 0;
    int rc = openwfp_ioctl(client, SIO_QUERY_WFP_CONNECTION_REDIRECT_CONTEXT, nullptr, 0, &ctx, sizeof ctx, &returned);
    Upstream up;
    bool found = false;
    {
      std::lock_guard lk(mu_);
      if (rc == 0 && returned == sizeof ctx) {
        auto it = waiting_.find(ctx.id);
        if (it != waiting_.end()) {
          up = it->second;
          waiting_.erase(it);
          found = true;
        }
      }
      if (found) {
        ++stats_.accepted;
      } else {
        ++stats_.unpaired;
      }
    }
    if (!found) {
      logLine(rc == 0 ? "proxy: accepted a connection for unknown id " + std::to_string(ctx.id) + ", closed"
                      : std::string("proxy: accepted a connection without redirect context (") + std::strerror(errno) +
                            "), closed");
      close(client);
      continue;
    }
    uint64_t id = ctx.id;
    auto started = std::chrono::steady_clock::now();
    relay_->add(client, up.fd, [this, id, up, started](const RelayStats& s) {
      auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
      char line[256];
      std::snprintf(line, sizeof line, "proxy: id=%llu pid=%u %s closed: %llu bytes up, %llu bytes down, %.1f ms%s%s",
                    static_cast<unsigned long long>(id), up.appPid, up.original.c_str(),
                    static_cast<unsigned long long>(s.clientToUpstream),
                    static_cast<unsigned long long>(s.upstreamToClient), ms, s.error ? ", error: " : "",
                    s.error ? std::strerror(s.error) : "");
      {
        std::lock_guard lk(mu_);
        ++stats_.relaysFinished;
      }
      logLine(line);
    });
  }
}

}  // namespace openwfp::proxy

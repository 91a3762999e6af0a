#include "proxy/verify_proxy.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "net/sockaddr_codec.h"
#include "openwfp/device.h"
#include "openwfp/policy_channel.h"
#include "openwfp/verify_proxy_channel.h"
#include "openwfp/winsock.h"
#include "control/client_connection.h"
#include "proxy/task_pool.h"
#include "proxy/upstream.h"

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

std::string endpointText(const VP_ENDPOINT& ep) { return net::formatEndpoint(endpointOf(ep)); }

socklen_t toSockaddr(const VP_ENDPOINT& ep, sockaddr_storage& ss) {
  socklen_t len = 0;
  net::sockaddrFor(endpointOf(ep), ep.family == 4 ? AF_INET : AF_INET6, ss, len);
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

// connect() on a non-blocking socket: 0, EINPROGRESS, or its error. On loopback the handshake
// is usually over once the first call returns: a second connect() says so in one call (0, which
// also leaves the socket SS_CONNECTED as a blocking connect would, so that a later connect()
// says EISCONN; EALREADY while it goes on; or the handshake's error).
int connectNow(int fd, const sockaddr* sa, socklen_t len) {
  int err = connect(fd, sa, len) == 0 ? 0 : errno;
  if (err == EINPROGRESS) {
    err = connect(fd, sa, len) == 0 ? 0 : errno;
    if (err == EALREADY) err = EINPROGRESS;
  }
  return err;
}

}  // namespace

std::chrono::steady_clock::time_point deadlineTime(uint64_t deadline) {
  using Ticks100ns = std::chrono::duration<int64_t, std::ratio<1, 10000000>>;
  return std::chrono::steady_clock::time_point(
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(Ticks100ns(static_cast<int64_t>(deadline))));
}

bool requestExpired(uint64_t deadline, std::chrono::steady_clock::time_point now) {
  return deadline != 0 && now >= deadlineTime(deadline);
}

VerifyProxy::VerifyProxy(VerifyProxyOptions options) : options_(std::move(options)) {}

namespace {
// Under a seccomp filter (a supervised tree, or a service's system-call filter), a connect of
// this process may be classified: records must be on a socket before it connects.
bool underSeccompFilter() {
  FILE* f = std::fopen("/proc/self/status", "re");
  if (f == nullptr) return true;
  char line[256];
  int mode = -1;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::sscanf(line, "Seccomp: %d", &mode) == 1) break;
  }
  std::fclose(f);
  return mode != 0;
}
}  // namespace

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
  supervised_ = underSeccompFilter();
  listenV4_ = listenOn(AF_INET, options_.listenPortV4, &portV4_);
  if (listenV4_ < 0) return std::string("proxy: cannot listen on 127.0.0.1: ") + std::strerror(errno);
  if (options_.listenV6) listenV6_ = listenOn(AF_INET6, 0, &portV6_);  // optional: no ::1 is fine
  // A proxy in the driver's own process may open the device there (no control channel crossing
  // per NEXT / OUTCOME); its socket controls still go through the channel when one is set.
  handle_ = options_.localDevice ? device::open(options_.device.c_str(), static_cast<uint64_t>(::getpid()))
                                 : openwfp_device_open(options_.device.c_str());
  if (handle_ < 0)
    return "proxy: cannot open device " + options_.device + ": " + std::strerror(errno) +
           " (is the verify_proxy driver loaded and OPENWFP_SOCKET set?)";
  // Outside any session a hand-off proxy connects the application's own socket when the driver
  // gives it; inside one (its connects classified) it offers a socket of its own.
  const uint32_t flags = options_.handOff && !supervised_ ? VP_REGISTER_APPLICATION_SOCKET : 0u;
  VP_REGISTER reg{portV4_, portV6_, static_cast<uint32_t>(options_.pendTimeout.count()), flags};
  size_t returned = 0;
  if (openwfp_device_ioctl(handle_, IOCTL_VP_REGISTER, &reg, sizeof reg, nullptr, 0, &returned) != 0)
    return std::string("proxy: REGISTER refused by the driver: ") + std::strerror(errno);
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  wakefd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (epfd_ < 0 || wakefd_ < 0) return std::string("proxy: epoll/eventfd: ") + std::strerror(errno);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = wakefd_;
  epoll_ctl(epfd_, EPOLL_CTL_ADD, wakefd_, &ev);
  relay_ = std::make_unique<Relay>();
  upstreamPool_ = std::make_unique<TaskPool>(64);
  loops_.emplace_back([this] { waiterLoop(); });
  for (unsigned i = 0; i < std::max(1u, options_.workers); ++i) loops_.emplace_back([this] { workerLoop(); });
  loops_.emplace_back([this] { acceptLoop(listenV4_); });
  if (listenV6_ >= 0) loops_.emplace_back([this] { acceptLoop(listenV6_); });
  logLine("proxy: listening on 127.0.0.1:" + std::to_string(portV4_) +
          (listenV6_ >= 0 ? " and [::1]:" + std::to_string(portV6_) : std::string()) + ", registered with " +
          options_.device);
  return "";
}

void VerifyProxy::stop() {
  if (stopping_.exchange(true)) return;
  // Closing the device handle makes the driver cancel the workers' outstanding NEXT requests and
  // block the connections still pended for us.
  if (handle_ >= 0) openwfp_device_close(handle_);
  {
    std::lock_guard lk(mu_);
    for (auto* c : channels_) c->shutdown();
  }
  if (wakefd_ >= 0) {
    uint64_t one = 1;
    (void)!write(wakefd_, &one, sizeof one);
  }
  for (int fd : {listenV4_, listenV6_})
    if (fd >= 0) shutdown(fd, SHUT_RDWR);
  for (auto& t : loops_) t.join();
  loops_.clear();
  if (upstreamPool_) upstreamPool_->stop();  // the handshakes in progress end by their deadlines
  relay_.reset();
  for (int fd : {listenV4_, listenV6_, epfd_, wakefd_})
    if (fd >= 0) close(fd);
  std::lock_guard lk(mu_);
  for (auto& [id, up] : waiting_) close(up.fd);
  waiting_.clear();
  for (auto& [fd, c] : connecting_) close(fd);
  connecting_.clear();
}

VerifyProxyStats VerifyProxy::stats() const {
  std::lock_guard lk(mu_);
  return stats_;
}

// One of the pool: its own NEXT outstanding, the request handled on this thread. Under the
// control channel the worker has its own connection and its own device handle on it, so the
// completed NEXT and the replies to its SIO_SET and OUTCOME come straight to this thread.
void VerifyProxy::workerLoop() {
  control::ThreadConnection own;
  // Without the channel the driver is in this process and every call is direct: share handle_
  // (closing it in stop() cancels every worker's NEXT).
  const bool shared = options_.localDevice || control::controlSocketPath().empty();
  int handle = shared ? handle_ : openwfp_device_open(options_.device.c_str());
  if (handle < 0) {
    if (!stopping_) logLine("proxy: worker cannot open device " + options_.device + ": " + std::strerror(errno));
    return;
  }
  {
    std::lock_guard lk(mu_);
    channels_.push_back(&own);  // stop() shuts it down, ending a NEXT that waits on it
  }
  POLICY_PROXY_REQUEST preq;
  VP_REQUEST& req = preq.request;
  const size_t want = options_.policyRequests ? sizeof(POLICY_PROXY_REQUEST) : sizeof(VP_REQUEST);
  Deferred deferred;  // the last request's outcome, sent with the next NEXT
  while (!stopping_) {
    size_t returned = 0;
    if (deferred.pending) {
      deferred.pending = false;
      VP_OUTCOME outcome{deferred.attempt.id, deferred.err};
      int e = -1;
      // The line is written once the outcome is on its way (not on the application's path).
      bool announced = false;
      auto announceNow = [&] {
        if (deferred.closeAfter >= 0) close(deferred.closeAfter);
        deferred.closeAfter = -1;
        announce(deferred.attempt, deferred.err, deferred.ms);
        announced = true;
      };
      if (deferred.offerFd < 0) {
        e = control::deviceIoctlWhile(handle, IOCTL_VP_OUTCOME_NEXT, &outcome, sizeof outcome, &preq, want, &returned,
                                      announceNow) == 0
                ? 0 : errno;
        if (e == EOPNOTSUPP && !announced) e = -1;  // not sent: the plain IOCTL below
      }
      if (!announced) announceNow();
      if (deferred.offerFd >= 0) {
        // The hand-off offer and the outcome written back to back: the engine takes the offer
        // before it reads the outcome; its answer is read before the NEXT's (handOffAnswered).
        control::PostedControl offer;
        const int pe = control::postSocketControl(deferred.offerFd, SIO_OPENWFP_HAND_OFF_WITH_RECORDS,
                                                  deferred.records.data(), deferred.records.size(), offer);
        if (pe == 0) {
          e = control::deviceIoctlAfter(offer, [&](int r) { handOffAnswered(deferred, r); }, handle,
                                        IOCTL_VP_OUTCOME_NEXT, &outcome, sizeof outcome, &preq, want, &returned) == 0
                  ? 0 : errno;
          if (offer.client) handOffAnswered(deferred, control::collectSocketControl(offer));  // not sent behind it
          if (e == EOPNOTSUPP) e = -1;
        } else {
          handOffAnswered(deferred, pe);
        }
        deferred.offerFd = -1;
      }
      if (e == -1) {
        e = openwfp_device_ioctl(handle, IOCTL_VP_OUTCOME_NEXT, &outcome, sizeof outcome, &preq, want, &returned) == 0
                ? 0 : errno;
      }
      if (e == ENOTTY) {  // a driver without it: OUTCOME and NEXT apart from now on
        combined_ = false;
        if (openwfp_device_ioctl(handle, IOCTL_VP_OUTCOME, &outcome, sizeof outcome, nullptr, 0, &returned) != 0)
          outcomeRejected(deferred.attempt, deferred.err, errno);
        continue;
      }
      // ENOENT: the outcome found nothing (and no request came); any other result: it was applied
      // (and announced before it was sent: a success is only known with the next request).
      if (e == ENOENT) {
        outcomeRejected(deferred.attempt, deferred.err, ENOENT);
        continue;
      }
      if (e != 0) {
        if (!stopping_) logLine(std::string("proxy: NEXT failed: ") + std::strerror(e));
        break;
      }
    } else if (openwfp_device_ioctl(handle, IOCTL_VP_NEXT, nullptr, 0, &preq, want, &returned) != 0) {
      if (!stopping_) logLine(std::string("proxy: NEXT failed: ") + std::strerror(errno));
      break;
    }
    // The application's socket, when the driver attached it to this reply (hand-off in place).
    const int appSocket = (req.flags & VP_REQUEST_APPLICATION_SOCKET) != 0 ? openwfp_device_take_descriptor() : -1;
    if (returned < want || req.recordsSize > sizeof req.records) {
      if (appSocket >= 0) close(appSocket);
      continue;
    }
    if (!options_.policyRequests) {
      handleRequest(req, handle, options_.upstream, &deferred, appSocket);
      continue;
    }
    if (appSocket >= 0) close(appSocket);  // the policy driver sends none
    policy::Upstream up;
    const POLICY_UPSTREAM& u = preq.upstream;
    up.kind = u.kind == POLICY_UPSTREAM_SOCKS5 ? policy::UpstreamKind::Socks5
              : u.kind == POLICY_UPSTREAM_HTTP ? policy::UpstreamKind::Http
                                               : policy::UpstreamKind::Direct;
    up.server.family = u.server.family;
    std::memcpy(up.server.addr.data(), u.server.addr, 16);
    up.server.port = u.server.port;
    up.user.assign(u.user, strnlen(u.user, sizeof u.user));
    up.password.assign(u.password, strnlen(u.password, sizeof u.password));
    handleRequest(req, handle, up, &deferred);
  }
  if (deferred.pending) {  // stopping: still tell the driver (it may block the connect anyway)
    VP_OUTCOME outcome{deferred.attempt.id, deferred.err};
    size_t returned = 0;
    const int oe = openwfp_device_ioctl(handle, IOCTL_VP_OUTCOME, &outcome, sizeof outcome, nullptr, 0, &returned) == 0
                       ? 0 : errno;
    outcomeDone(deferred.attempt, deferred.err, deferred.ms, oe);
  }
  if (deferred.closeAfter >= 0) close(deferred.closeAfter);
  {
    std::lock_guard lk(mu_);
    channels_.erase(std::find(channels_.begin(), channels_.end(), &own));
  }
  if (!shared) openwfp_device_close(handle);
}

void VerifyProxy::handleRequest(const VP_REQUEST& req, int handle, const policy::Upstream& upstream,
                                Deferred* defer, int appSocket) {
  // The application's socket serves a direct connect of a hand-off proxy outside the session.
  if (appSocket >= 0 && (upstream.kind != policy::UpstreamKind::Direct || !options_.handOff || supervised_)) {
    close(appSocket);
    appSocket = -1;
  }
  {
    std::lock_guard lk(mu_);
    ++stats_.requests;
  }
  Attempt a;
  a.id = req.id;
  a.appPid = req.appPid;
  a.recordsSize = req.recordsSize;
  a.original = endpointText(req.originalDestination);
  a.started = std::chrono::steady_clock::now();
  a.deadline = req.deadline;
  if (requestExpired(req.deadline, a.started)) {
    // The driver has BLOCKed it already: connecting upstream now would be a stale connect.
    {
      std::lock_guard lk(mu_);
      ++stats_.expired;
    }
    logLine("proxy: id=" + std::to_string(req.id) + " pid=" + std::to_string(req.appPid) + " upstream " + a.original +
            ": past its deadline when received, skipped (the driver blocked it)");
    if (appSocket >= 0) close(appSocket);
    return;
  }
  if (appSocket >= 0) {  // hand-off in place
    connectInPlace(a, req, handle, defer, appSocket);
    return;
  }
  if (upstream.kind != policy::UpstreamKind::Direct) {
    startUpstream(a, req, upstream);
    return;
  }
  int family = req.originalDestination.family == 4 ? AF_INET : AF_INET6;
  int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    finishAttempt(a, handle, -1, errno, defer);
    return;
  }
  // Unsupervised, a proxy's connects are classified by nobody: the hand-off offer can go after
  // the connect, written together with the outcome (one crossing fewer); see workerLoop.
  const bool lateOffer = options_.handOff && handOffWorks_ && !supervised_ && defer != nullptr && combined_ &&
                         options_.setRecords && req.recordsSize > 0;
  if (req.recordsSize > 0 && options_.setRecords && !lateOffer) {
    size_t returned = 0;
    if (options_.handOff && handOffWorks_) a.handedOff = offer(req.id, fd, req.records, req.recordsSize);
    if (!a.handedOff &&
        openwfp_ioctl(fd, SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS, req.records, req.recordsSize, nullptr, 0,
                      &returned) != 0) {
      logLine("proxy: id=" + std::to_string(req.id) + " SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS failed: " +
              std::strerror(errno) + " (continuing: the connection may be redirected again)");
    }
  }
  sockaddr_storage ss;
  socklen_t len = toSockaddr(req.originalDestination, ss);
  int err = connectNow(fd, reinterpret_cast<const sockaddr*>(&ss), len);
  if (err != EINPROGRESS) {
    finishAttempt(a, handle, fd, err, defer);
    if (lateOffer && err == 0 && defer->pending) {
      defer->offerFd = fd;  // also in waiting_: the relay's, should the engine refuse the offer
      defer->records.assign(req.records, req.records + req.recordsSize);
    }
    return;
  }
  waitForConnect(a, handle, fd);
}

// Still connecting: the waiter reports the outcome; the worker goes back to NEXT. Registered
// under mu_, so the waiter never sees the event without the entry.
void VerifyProxy::waitForConnect(const Attempt& a, int handle, int fd) {
  int err;
  {
    std::lock_guard lk(mu_);
    epoll_event ev{};
    ev.events = EPOLLOUT | EPOLLONESHOT;
    ev.data.fd = fd;
    err = epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) == 0 ? 0 : errno;
    if (err == 0) {
      auto until = a.started + options_.upstreamTimeout;
      if (a.deadline != 0) until = std::min(until, deadlineTime(a.deadline));
      connecting_[fd] = Connecting{a, until};
    }
  }
  if (err != 0) {
    finishAttempt(a, handle, fd, err);
    return;
  }
  uint64_t one = 1;
  (void)!write(wakefd_, &one, sizeof one);  // the earliest deadline may have changed
}

// Hand-off in place: the application's own socket is connected to the destination here; the
// engine, which gave it to the driver, finds it connected when the PERMIT comes and only answers
// the application's connect. Its file status flags are the application's: a blocking socket is
// made non-blocking for the connect() call only.
void VerifyProxy::connectInPlace(Attempt& a, const VP_REQUEST& req, int handle, Deferred* defer, int fd) {
  a.inPlace = true;
  sockaddr_storage ss;
  socklen_t len = toSockaddr(req.originalDestination, ss);
  const int flags = fcntl(fd, F_GETFL);
  const bool toggled = flags >= 0 && (flags & O_NONBLOCK) == 0;
  if (toggled) fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  int err = connectNow(fd, reinterpret_cast<const sockaddr*>(&ss), len);
  if (toggled) fcntl(fd, F_SETFL, flags);
  if (err != EINPROGRESS) {
    finishAttempt(a, handle, fd, err, defer);
    return;
  }
  waitForConnect(a, handle, fd);
}

void VerifyProxy::startUpstream(const Attempt& a, const VP_REQUEST& req, const policy::Upstream& upstream) {
  auto until = a.started + options_.upstreamTimeout;
  if (a.deadline != 0) until = std::min(until, deadlineTime(a.deadline));
  const Endpoint target = endpointOf(req.originalDestination);
  // Hand-off through an upstream proxy: the application gets the socket to it, the handshake done.
  std::vector<uint8_t> records;
  if (options_.handOff && handOffWorks_ && req.recordsSize > 0) records.assign(req.records, req.records + req.recordsSize);
  upstreamPool_->post([this, a, until, target, upstream, records] {
    std::string detail;
    int fd = connectThroughUpstream(upstream, target, until, &detail);
    int err = fd >= 0 ? 0 : -fd;
    Attempt b = a;
    if (fd >= 0 && !records.empty()) b.handedOff = offer(a.id, fd, records.data(), records.size());
    if (err == ETIMEDOUT && a.deadline != 0 && requestExpired(a.deadline, std::chrono::steady_clock::now()))
      detail.clear();  // finishAttempt says it
    if (err != 0 && !detail.empty())
      logLine("proxy: id=" + std::to_string(a.id) + " pid=" + std::to_string(a.appPid) + " upstream " + a.original +
              " via " + upstream.str() + ": " + detail);
    finishAttempt(b, handle_, fd >= 0 ? fd : -1, err);
  });
}

// SIO_OPENWFP_HAND_OFF_WITH_RECORDS (before connect: records and offer; connected: the offer
// only). True when taken.
bool VerifyProxy::offer(uint64_t id, int fd, const void* records, size_t size) {
  size_t returned = 0;
  if (openwfp_ioctl(fd, SIO_OPENWFP_HAND_OFF_WITH_RECORDS, records, size, nullptr, 0, &returned) == 0) return true;
  offerRefused(id, errno);
  return false;
}

// Upstream connects that did not end at once: each reported when it ends or its deadline passes.
void VerifyProxy::waiterLoop() {
  epoll_event events[64];
  while (!stopping_) {
    int timeoutMs = -1;
    {
      std::lock_guard lk(mu_);
      auto now = std::chrono::steady_clock::now();
      for (const auto& [fd, c] : connecting_) {
        auto left = std::chrono::ceil<std::chrono::milliseconds>(c.deadline - now).count();
        int ms = static_cast<int>(std::clamp<long long>(left, 0, 60000));
        if (timeoutMs < 0 || ms < timeoutMs) timeoutMs = ms;
      }
    }
    int n = epoll_wait(epfd_, events, 64, timeoutMs);
    if (n < 0 && errno != EINTR) return;
    std::vector<std::pair<Connecting, std::pair<int, int>>> done;  // attempt, (fd, error)
    {
      std::lock_guard lk(mu_);
      for (int i = 0; i < n; ++i) {
        int fd = events[i].data.fd;
        if (fd == wakefd_) {
          uint64_t v;
          (void)!read(wakefd_, &v, sizeof v);
          continue;
        }
        auto it = connecting_.find(fd);
        if (it == connecting_.end()) continue;
        int err = 0;
        socklen_t elen = sizeof err;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0) err = errno;
        done.push_back({std::move(it->second), {fd, err}});
        connecting_.erase(it);
      }
      auto now = std::chrono::steady_clock::now();
      for (auto it = connecting_.begin(); it != connecting_.end();) {
        if (it->second.deadline <= now) {
          done.push_back({std::move(it->second), {it->first, ETIMEDOUT}});
          it = connecting_.erase(it);
        } else {
          ++it;
        }
      }
    }
    for (auto& [c, r] : done) {
      epoll_ctl(epfd_, EPOLL_CTL_DEL, r.first, nullptr);
      finishAttempt(c.attempt, handle_, r.first, r.second);
    }
  }
}

void VerifyProxy::acceptLoop(int listenFd) {
  // Its SIO_QUERY_WFP_CONNECTION_REDIRECT_CONTEXT replies come straight to this thread too.
  control::ThreadConnection own;
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
    const bool relayed = relay_->add(client, up.fd, [this, id, up, started](const RelayStats& s) {
      auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
      char line[384];
      std::snprintf(line, sizeof line,
                    "proxy: id=%llu pid=%u upstream %s (SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS, %u bytes): connected in %.2f ms -> PERMIT; "
                    "the app's connection paired by SIO_QUERY_WFP_CONNECTION_REDIRECT_CONTEXT (%zu bytes); "
                    "closed: %llu bytes up, %llu bytes down, %.1f ms%s%s",
                    static_cast<unsigned long long>(id), up.appPid, up.original.c_str(), up.recordsSize, up.connectMs,
                    sizeof(VP_CONTEXT),
                    static_cast<unsigned long long>(s.clientToUpstream),
                    static_cast<unsigned long long>(s.upstreamToClient), ms, s.error ? ", error: " : "",
                    s.error ? std::strerror(s.error) : "");
      {
        std::lock_guard lk(mu_);
        ++stats_.relaysFinished;
      }
      logLine(line);
    });
    if (!relayed)  // both sockets are closed: the application sees its connection end
      logLine("proxy: id=" + std::to_string(id) + " pid=" + std::to_string(up.appPid) + " upstream " + up.original +
              ": relay could not be set up (" + std::strerror(errno) + "), both connections closed");
  }
}

}  // namespace openwfp::proxy

// linux/hand_off.cpp - see hand_off.h; Performer::handOff.
#include "linux/hand_off.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <utility>

#include <spdlog/spdlog.h>

#include "linux/performer.h"
#include "net/sockaddr_codec.h"

namespace openwfp::linux_backend {

HandOffs& HandOffs::instance() {
  // Never destroyed: an offer still held at exit must not end its History during static
  // destruction (the runtime it belongs to may be gone by then).
  static HandOffs* table = new HandOffs;
  return *table;
}

void HandOffs::dropExpiredLocked(std::chrono::steady_clock::time_point now, std::vector<Offer>& dropped) {
  for (auto it = offers_.begin(); it != offers_.end();) {
    if (now - it->second.at >= kLifetime) {
      dropped.push_back(std::move(it->second));
      it = offers_.erase(it);
    } else {
      ++it;
    }
  }
}

void HandOffs::offer(std::shared_ptr<redirect::History> records, net::UniqueFd fd) {
  const auto now = std::chrono::steady_clock::now();
  std::vector<Offer> dropped;  // closed outside the lock
  std::lock_guard lock(mu_);
  dropExpiredLocked(now, dropped);
  const redirect::History* key = records.get();
  offers_[key] = Offer{std::move(records), std::move(fd), now};
  count_.store(offers_.size(), std::memory_order_release);
}

net::UniqueFd HandOffs::take(const redirect::History* history) {
  // Every permitted connect of every session asks: without an offer anywhere, no lock.
  if (count_.load(std::memory_order_acquire) == 0) return {};
  std::vector<Offer> dropped;
  std::lock_guard lock(mu_);
  dropExpiredLocked(std::chrono::steady_clock::now(), dropped);  // offers whose connect never completed
  net::UniqueFd fd;
  if (auto it = offers_.find(history); it != offers_.end()) {
    fd = std::move(it->second.fd);
    offers_.erase(it);
  }
  count_.store(offers_.size(), std::memory_order_release);
  return fd;
}

size_t HandOffs::size() const {
  std::lock_guard lock(mu_);
  return offers_.size();
}

int offerHandOff(std::shared_ptr<redirect::History> records, int fd) {
  if (!records) return EINVAL;
  net::UniqueFd dup(::fcntl(fd, F_DUPFD_CLOEXEC, 0));
  if (!dup) return errno;
  HandOffs::instance().offer(std::move(records), std::move(dup));
  return 0;
}

namespace {

int intOption(int fd, int level, int name, int fallback) {
  int v = 0;
  socklen_t len = sizeof v;
  return ::getsockopt(fd, level, name, &v, &len) == 0 ? v : fallback;
}

// The application's FD_CLOEXEC on its own descriptor number (a pidfd_getfd duplicate does not
// carry it): the "flags:" line of /proc/PID/fdinfo/FD, in octal.
bool closeOnExec(uint64_t pid, int fdNumber) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%llu/fdinfo/%d", static_cast<unsigned long long>(pid), fdNumber);
  net::UniqueFd f(::open(path, O_RDONLY | O_CLOEXEC));
  if (!f) return false;
  char buf[256];
  const ssize_t n = ::read(f.get(), buf, sizeof buf - 1);
  if (n <= 0) return false;
  buf[n] = '\0';
  const char* line = std::strstr(buf, "flags:");
  unsigned long flags = 0;
  return line != nullptr && std::sscanf(line, "flags: %lo", &flags) == 1 && (flags & O_CLOEXEC) != 0;
}

// Options the application may have set on its socket before connect(), carried over to the
// socket that replaces it: those whose value differs from a fresh socket's (the defaults, read
// once per family). Buffer sizes are reported as twice what was set, hence the halving. The
// list is the common ones (docs/performance.md, "Hand-off"); each costs a syscall per connect.
struct IntOption {
  int level, name;
  bool doubled;  // SO_RCVBUF / SO_SNDBUF
};
constexpr IntOption kIntOptions[] = {
    {SOL_SOCKET, SO_KEEPALIVE, false}, {SOL_SOCKET, SO_RCVBUF, true}, {SOL_SOCKET, SO_SNDBUF, true},
    {IPPROTO_TCP, TCP_NODELAY, false}, {IPPROTO_IP, IP_TOS, false},
    // Read only when SO_KEEPALIVE is on (index >= kKeepaliveFirst).
    {IPPROTO_TCP, TCP_KEEPIDLE, false}, {IPPROTO_TCP, TCP_KEEPINTVL, false}, {IPPROTO_TCP, TCP_KEEPCNT, false},
};
constexpr size_t kKeepaliveFirst = 5;
constexpr size_t kIntCount = sizeof kIntOptions / sizeof kIntOptions[0];

struct Defaults {
  int ints[kIntCount];
};

const Defaults& defaultsFor(int domain) {
  static std::once_flag once;
  static Defaults v4{}, v6{};
  std::call_once(once, [] {
    for (auto [family, out] : {std::pair{AF_INET, &v4}, std::pair{AF_INET6, &v6}}) {
      net::UniqueFd fresh(::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
      for (size_t i = 0; i < kIntCount; ++i) {
        IntOption o = kIntOptions[i];
        if (family == AF_INET6 && o.level == IPPROTO_IP) o = {IPPROTO_IPV6, IPV6_TCLASS, false};
        out->ints[i] = fresh ? intOption(fresh.get(), o.level, o.name, -1) : -1;
      }
    }
  });
  return domain == AF_INET6 ? v6 : v4;
}

void carryOptions(int from, int to, int domain) {
  const Defaults& d = defaultsFor(domain);
  bool keepalive = false;
  for (size_t i = 0; i < kIntCount; ++i) {
    if (i >= kKeepaliveFirst && !keepalive) break;
    IntOption o = kIntOptions[i];
    if (domain == AF_INET6 && o.level == IPPROTO_IP) o = {IPPROTO_IPV6, IPV6_TCLASS, false};
    const int v = intOption(from, o.level, o.name, d.ints[i]);
    if (o.level == SOL_SOCKET && o.name == SO_KEEPALIVE) keepalive = v != 0;
    if (v == d.ints[i]) continue;
    const int set = o.doubled ? v / 2 : v;
    ::setsockopt(to, o.level, o.name, &set, sizeof set);
  }
  for (int name : {SO_RCVTIMEO, SO_SNDTIMEO}) {
    timeval tv{};
    socklen_t len = sizeof tv;
    if (::getsockopt(from, SOL_SOCKET, name, &tv, &len) == 0 && (tv.tv_sec != 0 || tv.tv_usec != 0)) {
      ::setsockopt(to, SOL_SOCKET, name, &tv, len);
    }
  }
  linger lg{};
  socklen_t lgLen = sizeof lg;
  if (::getsockopt(from, SOL_SOCKET, SO_LINGER, &lg, &lgLen) == 0 && lg.l_onoff != 0) {
    ::setsockopt(to, SOL_SOCKET, SO_LINGER, &lg, lgLen);
  }
}

}  // namespace

bool tcpClosed(int fd) {
  tcp_info ti{};
  socklen_t len = sizeof ti;
  return ::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 && ti.tcpi_state == TCP_CLOSE;
}

int CallSocket::duplicate() const {
  std::shared_ptr<Call> c = call_.lock();  // keeps the Call alive meanwhile
  if (!c) {
    errno = EBADF;
    return -1;
  }
  // Under shareMu: whoever answers the call claims it first and then takes shareMu before it
  // looks at sharedWithProxy or touches the descriptor, so a claimed call is never shared and a
  // shared one is always seen as such.
  std::lock_guard lock(c->shareMu);
  if (c->claimed.load(std::memory_order_acquire) || !c->sock) {
    errno = EBADF;
    return -1;
  }
  // Only a socket in TCP_CLOSE (neither connected, nor connecting, nor listening): the proxy's
  // connect must be the one that connects it, and dropping what it made must not drop a
  // connection the application had (that connect fails with EISCONN / EALREADY as usual).
  if (!tcpClosed(c->sock.get())) {
    errno = EISCONN;
    return -1;
  }
  const int fd = ::fcntl(c->sock.get(), F_DUPFD_CLOEXEC, 0);
  if (fd >= 0) c->sharedWithProxy = true;
  return fd;
}

bool Performer::handOff(Call& call, const ConnectVerdict& v, net::UniqueFd up) {
  const int fd = up.get();
  std::string why;
  sockaddr_storage peer{};
  socklen_t peerLen = sizeof peer;
  if (call.protocol != Protocol::Tcp || call.fdNumber < 0) {
    why = "not a TCP connect";
  } else if (intOption(fd, SOL_SOCKET, SO_DOMAIN, -1) != call.domain) {
    why = "the upstream socket's family differs from the application's";
  } else if (intOption(fd, SOL_SOCKET, SO_TYPE, -1) != SOCK_STREAM) {
    why = "the upstream socket is not a stream socket";
  } else if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peerLen) != 0) {
    why = "the upstream socket is not connected";
  }
  if (why.empty()) {
    // The application's file status flags (O_NONBLOCK) live in its open file, which the
    // duplicate shares; FD_CLOEXEC is its descriptor's.
    const int appFlags = ::fcntl(call.sock.get(), F_GETFL);
    const int upFlags = ::fcntl(fd, F_GETFL);
    if (appFlags >= 0 && upFlags >= 0) ::fcntl(fd, F_SETFL, (upFlags & ~O_NONBLOCK) | (appFlags & O_NONBLOCK));
    carryOptions(call.sock.get(), fd, call.domain);
    // As a blocking connect leaves it (SS_CONNECTED: the application's next connect() says
    // EISCONN), whatever way the proxy connected it.
    (void)::connect(fd, reinterpret_cast<const sockaddr*>(&peer), peerLen);
    if (int err = loop_.addFd(call.id, fd, call.fdNumber, closeOnExec(call.pid, call.fdNumber)); err != 0) {
      why = std::string("SECCOMP_IOCTL_NOTIF_ADDFD: ") + std::strerror(err);
    }
  }
  if (!why.empty()) {
    // The proxy gave its socket away with the offer: there is nothing to relay to. The connect
    // fails (closed, never a connection to nowhere or past the proxy).
    spdlog::warn("openwfp: pid {}: the proxy's socket cannot replace the application's ({}): the connect "
                 "fails with ECONNREFUSED",
                 call.pid, why);
    counters_.blocked.fetch_add(1, std::memory_order_relaxed);
    loop_.respond(call.id, ECONNREFUSED, false);
    return true;
  }
  // The application goes on; then the connection is remembered as the upstream socket's (its
  // cookie and tuple): nobody can look it up before (the proxy does not accept it).
  loop_.respond(call.id, 0, false);
  rememberHandedOff(call, v, fd, peer, peerLen);
  return true;
}

namespace {

// connect(AF_UNSPEC): drops what the proxy connected or is connecting (a reset, the SYN
// abandoned) and leaves the socket unconnected, so that it can connect again.
void dropConnection(int fd) {
  sockaddr unspec{};
  unspec.sa_family = AF_UNSPEC;
  ::connect(fd, &unspec, sizeof unspec);
}

}  // namespace

bool Performer::keepInPlace(Call& call, const ConnectVerdict& v) {
  const int fd = call.sock.get();
  sockaddr_storage peer{};
  socklen_t peerLen = sizeof peer;
  if (v.action == Action::Block || !v.redirected ||
      ::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peerLen) != 0) {
    // Refused, or not connected by the proxy: whatever it connected (or is connecting) must not
    // outlive the verdict.
    dropConnection(fd);
    return false;
  }
  // connect() once more, as a blocking connect would have left it: the socket is now
  // SS_CONNECTED, so that the application's next connect() says EISCONN (the proxy's
  // non-blocking connect may have left it connecting in the socket layer's eyes).
  (void)::connect(fd, reinterpret_cast<const sockaddr*>(&peer), peerLen);
  rememberHandedOff(call, v, fd, peer, peerLen);
  return true;
}

bool Performer::finishInPlace(Call& call, const ConnectVerdict& v) {
  if (!keepInPlace(call, v)) return false;
  loop_.respond(call.id, 0, false);
  // This thread (the one that completed the classify: a proxy connection's reader) still has
  // the classify's and the channel's work to finish, and a synchronous wake-up put the
  // application on this CPU: let it run first.
  if (loop_.syncWakeUp()) ::sched_yield();
  return true;
}

void Performer::rememberHandedOff(Call& call, const ConnectVerdict& v, int fd, const sockaddr_storage& peer,
                                  socklen_t peerLen) {
  sockaddr_storage self{};
  socklen_t selfLen = sizeof self;
  ConnectionInfo info;
  uint64_t cookie = fd == call.sock.get() ? call.cookie : 0;
  socklen_t cookieLen = sizeof cookie;
  if (cookie == 0) ::getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &cookieLen);
  info.socketCookie = cookie;
  info.pid = call.pid;
  info.protocol = call.protocol;
  info.originalRemote = call.requested;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&self), &selfLen) != 0) selfLen = 0;
  if (auto local = net::endpointFromSockaddr(self, selfLen)) info.local = *local;
  if (auto remote = net::endpointFromSockaddr(peer, peerLen)) info.remote = *remote;
  info.tupleKnown = true;
  info.redirected = v.redirected;
  info.redirectTargetPid = v.redirectTargetPid;
  info.history = v.history;
  reaper_.reportClosed(table_.add(info));
  counters_.redirected.fetch_add(1, std::memory_order_relaxed);
  counters_.handedOff.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace openwfp::linux_backend

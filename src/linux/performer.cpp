// linux/performer.cpp - performing and answering a classified call (see performer.h).
#include "linux/performer.h"

#include "linux/hand_off.h"

#include <fcntl.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <cstdio>
#include <cstdlib>

#include "linux/task_cache.h"

namespace openwfp::linux_backend {
namespace {

constexpr int kCapNetBindService = 10;
constexpr size_t kMaxUndelivered = 1024;

}  // namespace

Call::~Call() {
  if (!claimed.exchange(true) && performer) {
    performer->failUnanswered(*this);  // the classifier dropped done() without calling it
  }
}

void Performer::failUnanswered(const Call& call) {
  counters_.blocked.fetch_add(1, std::memory_order_relaxed);
  loop_.respond(call.id, call.op == CallOp::Bind ? options_.bindBlockErrno : options_.blockErrno,
                false);
}

void Performer::finish(Call& call, const StackVerdict& verdict) {
  if (call.op == CallOp::Bind) {
    finishBind(call, verdict);
  } else if (call.op == CallOp::Send) {
    finishSend(call, verdict);
  } else {
    finishConnect(call, verdict);
  }
}

void Performer::perform(Call& call) {
  if (!call.claim()) return;
  switch (call.op) {
    case CallOp::RawConnect:
      performConnect(call, call.raw.addr(), call.raw.len, nullptr);
      return;
    case CallOp::RawBind: {
      // A non-raw IP socket checks the port of an AF_INET/AF_INET6/AF_UNSPEC address (bytes 2..3).
      int port = -1;
      if (call.domain != 0 && call.type != SOCK_RAW && call.raw.len >= 4) {
        port = (call.raw.bytes[2] << 8) | call.raw.bytes[3];
      }
      performBind(call, call.raw.addr(), call.raw.len, port);
      return;
    }
    case CallOp::Send:
      performSend(call);
      return;
    default:
      loop_.respond(call.id, EINVAL, false);  // not reached: the others are classified first
  }
}

void Performer::countPended(const Call& call) {
  if (call.classifyReturned.load(std::memory_order_acquire)) {
    counters_.pended.fetch_add(1, std::memory_order_relaxed);
  }
}

bool Performer::hasBindService(uint64_t capEff) { return (capEff >> kCapNetBindService) & 1; }

int Performer::unprivilegedPortStart() {
  // Of the supervisor's network namespace (the tree's, unless a process unshared its own).
  std::FILE* f = std::fopen("/proc/sys/net/ipv4/ip_unprivileged_port_start", "re");
  if (f == nullptr) return 1024;
  int v = 1024;
  if (std::fscanf(f, "%d", &v) != 1) v = 1024;
  std::fclose(f);
  return v;
}

int Performer::bindPrivilegeCheck(pid_t tid, uint16_t port) {
  if (port == 0 || port >= unprivilegedPortStart()) return 0;
  pid_t tgid = 0;
  uint32_t euid = 0;
  uint64_t capEff = 0;
  // Read now, not cached: capset() is not handed over. Unreadable: refused (fail closed).
  if (readTaskStatus(tid, tgid, euid, &capEff) != 0) return EACCES;
  return hasBindService(capEff) ? 0 : EACCES;
}

void Performer::finishBind(Call& call, const BindVerdict& v) {
  if (!call.claim()) return;
  countPended(call);
  if (v.action == Action::Block) {
    counters_.blocked.fetch_add(1, std::memory_order_relaxed);
    loop_.respond(call.id, v.timedOut ? ETIMEDOUT : options_.bindBlockErrno, false);
    return;
  }
  if (net::sameEndpoint(v.finalLocal, call.requested)) {
    performBind(call, call.raw.addr(), call.raw.len, v.finalLocal.port);  // the bytes classified
    return;
  }
  sockaddr_storage sa;
  socklen_t len;
  if (!net::sockaddrFor(v.finalLocal, call.domain, sa, len)) {
    loop_.respond(call.id, EAFNOSUPPORT, false);
    return;
  }
  counters_.redirected.fetch_add(1, std::memory_order_relaxed);
  performBind(call, reinterpret_cast<sockaddr*>(&sa), len, v.finalLocal.port);
}

void Performer::performBind(Call& call, const sockaddr* sa, socklen_t len, int checkPort) {
  if (checkPort > 0) {
    if (int err = bindPrivilegeCheck(call.tid, static_cast<uint16_t>(checkPort)); err != 0) {
      loop_.respond(call.id, err, false);
      return;
    }
  }
  int rc = ::bind(call.sock.get(), sa, len);
  loop_.respond(call.id, rc == 0 ? 0 : errno, false);
}

void Performer::finishConnect(Call& call, const ConnectVerdict& v) {
  if (!call.claim()) {
    if (call.sharedAfterClaim()) keepInPlace(call, v);
    return;
  }
  countPended(call);
  // A proxy's offer to hand its upstream socket over (hand_off.h): taken whatever the verdict,
  // so that a BLOCK closes it at once.
  net::UniqueFd offered = v.history ? HandOffs::instance().take(v.history.get()) : net::UniqueFd{};
  if (call.sharedAfterClaim() && finishInPlace(call, v)) return;
  // Only in place of a socket in TCP_CLOSE: connect() on one connected or connecting is
  // performed below, and fails as the kernel's would (EISCONN, EALREADY).
  if (offered && v.action != Action::Block && v.redirected && tcpClosed(call.sock.get()) &&
      handOff(call, v, std::move(offered))) {
    return;
  }
  if (v.action == Action::Block) {
    counters_.blocked.fetch_add(1, std::memory_order_relaxed);
    loop_.respond(call.id, v.timedOut ? ETIMEDOUT : v.blockErrno != 0 ? v.blockErrno : options_.blockErrno, false);
    return;
  }
  ConnectionInfo info;
  info.socketCookie = call.cookie;
  info.pid = call.pid;
  info.protocol = call.protocol;
  info.originalRemote = call.requested;
  info.remote = v.finalRemote;
  info.redirected = v.redirected;
  info.redirectTargetPid = v.redirectTargetPid;
  info.history = v.history;
  const bool same = net::sameEndpoint(v.finalRemote, call.requested);
  sockaddr_storage sa;
  socklen_t len;
  if (!same && !net::sockaddrFor(v.finalRemote, call.domain, sa, len)) {
    reaper_.reportClosed(v.history);
    loop_.respond(call.id, EAFNOSUPPORT, false);
    return;
  }
  if (!same) counters_.redirected.fetch_add(1, std::memory_order_relaxed);
  // Remembered before the connect: the peer may look the connection up as soon as the
  // handshake is done, before connect() returns here (a lookup then resolves it by sock_diag).
  info.local.version = v.finalRemote.version;
  reaper_.reportClosed(table_.add(info));
  call.remembered = true;
  if (same) {
    // The bytes that were classified, with their length (scope id, flow info kept).
    performConnect(call, call.raw.addr(), call.raw.len, &v.finalRemote);
  } else {
    performConnect(call, reinterpret_cast<sockaddr*>(&sa), len, &v.finalRemote);
  }
}

void Performer::performConnect(Call& call, const sockaddr* sa, socklen_t len, const Endpoint* final) {
  const int fd = call.sock.get();
  const int flags = ::fcntl(fd, F_GETFL);
  const bool appNonBlocking = flags >= 0 && (flags & O_NONBLOCK) != 0;
  // Never block a thread for a handshake: a blocking socket is non-blocking for this call only.
  const bool toggled = !appNonBlocking && flags >= 0;
  if (toggled) ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  int rc = ::connect(fd, sa, len);
  int err = rc == 0 ? 0 : errno;
  // A blocking call's answer is the handshake's end. On loopback it is usually over by now:
  // connect() again, still non-blocking, says so in one call (0: connected, and the socket is in
  // the state a blocking connect leaves; EALREADY: still going on; else the handshake's error,
  // which it also clears, as a blocking connect does).
  bool over = false;
  int result = err;
  if (toggled && err == EINPROGRESS) {
    int again = ::connect(fd, sa, len);
    result = again == 0 ? 0 : errno;
    over = result != EALREADY;
  }
  if (toggled) ::fcntl(fd, F_SETFL, flags);

  if (err == EISCONN && final != nullptr && takeUndelivered(call.cookie) &&
      connectedTo(fd, *final, call.domain)) {
    err = result = 0;  // the call was restarted after we had connected it and our answer was lost
  }
  if (final != nullptr && (err == 0 || err == EINPROGRESS || err == EALREADY)) {
    sockaddr_storage ss{};
    socklen_t ssLen = sizeof ss;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &ssLen) == 0) {
      if (auto local = net::endpointFromSockaddr(ss, ssLen)) table_.resolve(call.cookie, *local, *final);
    }
  }
  if (call.op == CallOp::FastOpen && appNonBlocking && (err == EINPROGRESS || err == EALREADY)) {
    finishPerformed(call, EINPROGRESS);  // as a Fast Open send without a cookie: nothing sent yet
    return;
  }
  if (over) {
    finishPerformed(call, result);
    return;
  }
  if ((err == EINPROGRESS || err == EALREADY) && !appNonBlocking) {
    call.settle = true;
    call.target.len = std::min<socklen_t>(len, sizeof call.target.bytes);
    std::memcpy(call.target.bytes.data(), sa, call.target.len);
    waitForConnect(call);  // without holding this thread
    return;
  }
  finishPerformed(call, err);
}

void Performer::finishPerformed(Call& call, int err) {
  if (call.settle) {
    // Its result is not the answer: connect() again so that the socket is in the state a
    // blocking connect leaves, non-blocking for this call only as in performConnect (the
    // handshake may still be going on when a deadline answered the call).
    const int fd = call.sock.get();
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags >= 0) ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    [[maybe_unused]] int rc = ::connect(fd, call.target.addr(), call.target.len);
    if (flags >= 0) ::fcntl(fd, F_SETFL, flags);
    call.settle = false;
  }
  if (err == 0 && call.op == CallOp::FastOpen) {
    sendFastOpenData(call);
    return;
  }
  if (err != 0 && err != EINPROGRESS && call.remembered) reaper_.reportClosed(table_.remove(call.cookie));
  // The duplicate goes before the answer: while the call waits, the application's descriptor
  // holds the socket, so this close is only a reference dropped. After the answer it could be the
  // last reference (the application closes at once), and this thread would run the socket's
  // close (TCP's FIN and its processing) before it receives the next call.
  call.sock.reset();
  const bool delivered = loop_.respond(call.id, err, false);
  if (!delivered && (err == 0 || err == EINPROGRESS) && call.op == CallOp::Connect) {
    rememberUndelivered(call.cookie);
  }
}

void Performer::sendFastOpenData(Call& call) {
  const int flags = ::fcntl(call.sock.get(), F_GETFL);
  const bool appBlocking = flags >= 0 && (flags & O_NONBLOCK) == 0;
  int64_t n = sendDatagram(call.sock.get(), call.data, nullptr, 0, call.flags, appBlocking);
  if (n < 0 && call.remembered && n != -EAGAIN) reaper_.reportClosed(table_.remove(call.cookie));
  if (n < 0) {
    loop_.respond(call.id, static_cast<int>(-n), false);
  } else {
    loop_.respondValue(call.id, n);
  }
}

void Performer::waitForConnect(Call& call) {
  // `call` lives in the shared_ptr owned by done(); keep its state alive until the handshake
  // ends by moving it into a new holder the waiter owns.
  auto held = std::make_shared<Call>(call.performer, std::move(static_cast<CallFacts&>(call)));
  held->claimed.store(true);
  held->classifyReturned.store(true);
  int fd = held->sock.get();
  bool ok = waiter_.watch(fd, [held](int err) { held->performer->finishPerformed(*held, err); });
  if (!ok) finishPerformed(*held, ECONNABORTED);
}

bool Performer::connectedTo(int fd, const Endpoint& remote, int domain) {
  sockaddr_storage want;
  socklen_t wantLen;
  if (!net::sockaddrFor(remote, domain, want, wantLen)) return false;
  sockaddr_storage got{};
  socklen_t gotLen = sizeof got;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&got), &gotLen) != 0) return false;
  auto a = net::endpointFromSockaddr(want, wantLen);
  auto b = net::endpointFromSockaddr(got, gotLen);
  return a && b && net::sameEndpoint(*a, *b);
}

void Performer::rememberUndelivered(uint64_t cookie) {
  std::lock_guard lock(undeliveredMu_);
  if (undelivered_.size() >= kMaxUndelivered) undelivered_.clear();
  undelivered_[cookie] = true;
}

bool Performer::takeUndelivered(uint64_t cookie) {
  std::lock_guard lock(undeliveredMu_);
  return undelivered_.erase(cookie) != 0;
}

}  // namespace openwfp::linux_backend

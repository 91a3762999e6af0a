// linux/performer.cpp - performing and answering a classified call (see performer.h).
#include "linux/performer.h"

#include <fcntl.h>
#include <poll.h>

#include <cerrno>

namespace openwfp::linux_backend {

Call::~Call() {
  if (!claimed.exchange(true) && performer) {
    performer->failUnanswered(*this);  // the classifier dropped done() without calling it
  }
}

void Performer::failUnanswered(const Call& call) {
  counters_.blocked.fetch_add(1, std::memory_order_relaxed);
  loop_.respond(call.id,
                call.kind == net::CallKind::Connect ? options_.blockErrno : options_.bindBlockErrno,
                false);
}

void Performer::finish(Call& call, const StackVerdict& verdict) {
  if (call.kind == net::CallKind::Bind) {
    finishBind(call, verdict);
  } else {
    finishConnect(call, verdict);
  }
}

void Performer::countPended(const Call& call) {
  if (call.classifyReturned.load(std::memory_order_acquire)) {
    counters_.pended.fetch_add(1, std::memory_order_relaxed);
  }
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
    loop_.respondContinue(call.id);
    return;
  }
  sockaddr_storage sa;
  socklen_t len;
  if (!net::sockaddrFor(v.finalLocal, call.domain, sa, len)) {
    loop_.respond(call.id, EAFNOSUPPORT, false);
    return;
  }
  counters_.redirected.fetch_add(1, std::memory_order_relaxed);
  int rc = ::bind(call.sock.get(), reinterpret_cast<sockaddr*>(&sa), len);
  loop_.respond(call.id, rc == 0 ? 0 : errno, false);
}

void Performer::finishConnect(Call& call, const ConnectVerdict& v) {
  if (!call.claim()) return;
  countPended(call);
  if (v.action == Action::Block) {
    counters_.blocked.fetch_add(1, std::memory_order_relaxed);
    loop_.respond(call.id, v.timedOut ? ETIMEDOUT : options_.blockErrno, false);
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
  if (net::sameEndpoint(v.finalRemote, call.requested)) {
    // Fast path: the kernel runs the call as asked; its tuple is learnt from sock_diag.
    info.local.version = info.remote.version;
    reaper_.reportClosed(table_.add(info));
    loop_.respondContinue(call.id);
    return;
  }
  if (call.fastOpen) {
    // A TCP Fast Open send cannot be redirected from here (the data would have to be sent by
    // the supervisor): fail it rather than let it reach the original destination.
    counters_.failed.fetch_add(1, std::memory_order_relaxed);
    reaper_.reportClosed(table_.remove(call.cookie));
    loop_.respond(call.id, EOPNOTSUPP, false);
    return;
  }
  counters_.redirected.fetch_add(1, std::memory_order_relaxed);
  sockaddr_storage sa;
  socklen_t len;
  if (!net::sockaddrFor(v.finalRemote, call.domain, sa, len)) {
    reaper_.reportClosed(v.history);
    loop_.respond(call.id, EAFNOSUPPORT, false);
    return;
  }
  // Remembered before the connect: the peer may look the connection up as soon as the
  // handshake is done, before connect() returns here (a lookup then resolves it by sock_diag).
  info.local.version = v.finalRemote.version;
  reaper_.reportClosed(table_.add(info));
  const int flags = ::fcntl(call.sock.get(), F_GETFL);
  const bool appNonBlocking = flags >= 0 && (flags & O_NONBLOCK) != 0;
  // Never block a thread for a handshake: a blocking socket is non-blocking for this call only.
  if (!appNonBlocking && flags >= 0) ::fcntl(call.sock.get(), F_SETFL, flags | O_NONBLOCK);
  int rc = ::connect(call.sock.get(), reinterpret_cast<sockaddr*>(&sa), len);
  int err = rc == 0 ? 0 : errno;
  if (!appNonBlocking && flags >= 0) ::fcntl(call.sock.get(), F_SETFL, flags);

  if (err == EISCONN && connectedTo(call.sock.get(), v.finalRemote, call.domain)) {
    err = 0;  // the call was restarted after we already connected it
  }
  if (err == 0 || err == EINPROGRESS || err == EALREADY) {
    sockaddr_storage ss{};
    socklen_t ssLen = sizeof ss;
    if (::getsockname(call.sock.get(), reinterpret_cast<sockaddr*>(&ss), &ssLen) == 0) {
      if (auto local = net::endpointFromSockaddr(ss, ssLen)) {
        table_.resolve(call.cookie, *local, v.finalRemote);
      }
    }
  }
  if ((err == EINPROGRESS || err == EALREADY) && !appNonBlocking) {
    // On loopback the handshake is usually over already: a peer address means connected.
    sockaddr_storage peer{};
    socklen_t peerLen = sizeof peer;
    if (::getpeername(call.sock.get(), reinterpret_cast<sockaddr*>(&peer), &peerLen) == 0) {
      finishPerformed(call, 0);
      return;
    }
    pollfd p{call.sock.get(), POLLOUT, 0};
    if (::poll(&p, 1, 0) == 1) {
      int soError = 0;
      socklen_t soLen = sizeof soError;
      ::getsockopt(call.sock.get(), SOL_SOCKET, SO_ERROR, &soError, &soLen);
      finishPerformed(call, soError);
      return;
    }
    waitForConnect(call);  // without holding this thread
    return;
  }
  finishPerformed(call, err);
}

void Performer::finishPerformed(Call& call, int err) {
  if (err != 0 && err != EINPROGRESS) reaper_.reportClosed(table_.remove(call.cookie));
  loop_.respond(call.id, err, false);
}

void Performer::waitForConnect(Call& call) {
  // `call` lives in the shared_ptr owned by done(); keep it alive until the handshake ends by
  // moving its state into a new holder the waiter owns.
  CallFacts facts;
  facts.id = call.id;
  facts.kind = call.kind;
  facts.sock = std::move(call.sock);
  facts.domain = call.domain;
  facts.protocol = call.protocol;
  facts.requested = call.requested;
  facts.cookie = call.cookie;
  facts.pid = call.pid;
  auto held = std::make_shared<Call>(call.performer, std::move(facts));
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

}  // namespace openwfp::linux_backend

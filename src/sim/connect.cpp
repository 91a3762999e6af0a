// sim/connect.cpp - connect (TCP and UDP), the classify completion, UDP flows of sendTo.
#include "sim/stack_state.h"

namespace openwfp::sim::detail {
namespace {

// The final destination of a verdict; a fake classifier that leaves finalRemote empty on a
// plain permit means "unchanged".
Endpoint finalRemoteOf(const ConnectVerdict& verdict, const Endpoint& requested) {
  if (!verdict.redirected && verdict.finalRemote == Endpoint{}) return requested;
  return verdict.finalRemote;
}

}  // namespace

PendingConnect StackState::connectAsync(Process& p, int fd, const Endpoint& remote) {
  auto cs = std::make_shared<ConnectState>();
  auto failNow = [&](int err) {
    cs->result.error = err;
    cs->done = true;  // nobody else sees cs yet
    return PendingConnect(cs);
  };
  ConnectRequest request;
  {
    std::lock_guard lock(mu);
    Socket* s = findLocked(p, fd);
    if (s == nullptr) return failNow(EBADF);
    if (s->state == SockState::Connecting) return failNow(EALREADY);
    if (s->state != SockState::Unconnected) return failNow(EISCONN);
    if (remote.version != s->version) return failNow(EAFNOSUPPORT);
    if (int err = implicitBindLocked(*s, &remote); err != 0) return failNow(err);
    s->state = SockState::Connecting;
    request.process = p.info_;
    request.protocol = s->protocol;
    request.local = s->local;
    request.remote = remote;
    request.socketId = static_cast<uint64_t>(fd);
    request.proxiedRecords = s->proxiedRecords;
  }
  if (p.host_ != 0) {  // a remote host: nothing of this machine classifies it
    ConnectVerdict verdict;
    verdict.finalRemote = remote;
    completeConnect(fd, request, verdict, cs);
  } else {
    classifier->classify(
        StackHook::Connect, request,
        [self = shared_from_this(), fd, request, cs](const ConnectVerdict& verdict) {
          self->completeConnect(fd, request, verdict, cs);
        });
  }
  return PendingConnect(cs);
}

void StackState::completeConnect(int fd, const ConnectRequest& request,
                                 const ConnectVerdict& verdict,
                                 const std::shared_ptr<ConnectState>& cs) {
  ConnectResult r;
  {
    std::lock_guard lock(mu);
    if (cs->completed) return;  // done() called twice: the first one counts
    cs->completed = true;
    const Endpoint final = finalRemoteOf(verdict, request.remote);
    r.local = request.local;
    r.remote = final;
    r.redirected = verdict.redirected;
    r.reason = verdict.reason;
    auto it = sockets.find(fd);
    Socket* s = it != sockets.end() && it->second.state == SockState::Connecting ? &it->second
                                                                                 : nullptr;
    auto fail = [&](int err) {
      r.error = err;
      // No connection came of it: the flow ends when the socket is closed. Not reported from
      // here: done() runs inside the driver's FwpsCompleteClassify0, before it releases its
      // classify handle.
      endedLocked(s, verdict.history);
    };
    if (s == nullptr) {
      fail(EBADF);  // closed while the classify was pending
    } else if (verdict.timedOut) {
      fail(ETIMEDOUT);
    } else if (verdict.action == Action::Block) {
      fail(verdict.blockErrno != 0 ? verdict.blockErrno : options.blockErrno);
    } else if (final.version != s->version) {
      fail(EAFNOSUPPORT);
    } else if (s->protocol == Protocol::Tcp) {
      const int host = routeLocked(s->owner->host_, final);
      Socket* listener = host < 0 ? nullptr : findListenerLocked(host, final);
      if (listener == nullptr ||
          listener->acceptQueue.size() >= static_cast<size_t>(listener->backlog)) {
        fail(ECONNREFUSED);
      } else {
        auto conn = makeConnection(verdict);
        conn->refs = 2;
        Socket accepted;
        accepted.fd = allocateFd();
        accepted.owner = listener->owner;
        accepted.version = s->version;
        accepted.protocol = Protocol::Tcp;
        accepted.state = SockState::Connected;
        accepted.local = final;
        accepted.remote = s->local;
        accepted.peerFd = fd;
        accepted.conn = conn;
        s->state = SockState::Connected;
        s->remote = final;
        s->peerFd = accepted.fd;
        s->conn = std::move(conn);
        listener->acceptQueue.push_back(accepted.fd);
        sockets.emplace(accepted.fd, std::move(accepted));
      }
    } else {  // UDP: the flow is fixed; datagrams go to final
      auto conn = makeConnection(verdict);
      conn->refs = 1;
      s->state = SockState::Connected;
      s->remote = final;
      const std::pair<Endpoint, Endpoint> key{s->local, final};
      udpFlows[key] = conn;
      s->flowKeys.push_back(key);
      s->conn = std::move(conn);
      adoptInboundFlowLocked(*s);
    }
    if (s != nullptr && r.error != 0) s->state = SockState::Unconnected;
    changed.notify_all();
  }
  {
    std::lock_guard lock(cs->mu);
    cs->result = std::move(r);
    cs->done = true;
  }
  cs->cv.notify_all();
}

void StackState::adoptInboundFlowLocked(Socket& s) {
  auto it = udpFlows.find({s.remote, s.local});
  if (it == udpFlows.end()) return;
  std::shared_ptr<Connection> flow = it->second.lock();
  if (!flow || !flow->history || flow == s.conn) return;
  ++flow->refs;
  s.inbound = std::move(flow);
}

Socket* StackState::findListenerLocked(int host, const Endpoint& destination) {
  Socket* wildcard = nullptr;
  for (auto& [fd, s] : sockets) {
    if (s.state != SockState::Listening || s.owner->host_ != host) continue;
    if (s.version != destination.version || s.local.port != destination.port) continue;
    if (sameAddress(s.local, destination)) return &s;
    if (s.local.isUnspecified() && wildcard == nullptr) wildcard = &s;
  }
  return wildcard;
}

Socket* StackState::findDatagramReceiverLocked(int host, const Endpoint& from,
                                               const Endpoint& to) {
  Socket* exact = nullptr;
  Socket* wildcard = nullptr;
  for (auto& [fd, s] : sockets) {
    if (s.protocol != Protocol::Udp || !s.holdsPort || s.owner->host_ != host) continue;
    if (s.version != to.version || s.local.port != to.port) continue;
    const bool addressMatches = sameAddress(s.local, to);
    if (!addressMatches && !s.local.isUnspecified()) continue;
    if (s.state == SockState::Connected) {
      if (s.remote == from) return &s;  // a connected socket only hears its peer
      continue;
    }
    if (addressMatches && exact == nullptr) exact = &s;
    if (!addressMatches && wildcard == nullptr) wildcard = &s;
  }
  return exact != nullptr ? exact : wildcard;
}

void StackState::deliverDatagramLocked(int fromHost, const Endpoint& from, const Endpoint& to,
                                       std::span<const uint8_t> data) {
  const int host = routeLocked(fromHost, to);
  if (host < 0) return;  // outside the simulation: dropped
  Socket* receiver = findDatagramReceiverLocked(host, from, to);
  if (receiver == nullptr) return;  // nobody bound there: dropped, as UDP does
  receiver->datagrams.push_back(Datagram{from, std::vector<uint8_t>(data.begin(), data.end())});
  changed.notify_all();
}

IoResult StackState::sendTo(Process& p, int fd, const Endpoint& to, std::span<const uint8_t> data) {
  IoResult r;
  ConnectRequest request;
  Endpoint source;
  {
    std::lock_guard lock(mu);
    Socket* s = findLocked(p, fd);
    if (s == nullptr) return IoResult{EBADF, 0, {}};
    if (s->protocol != Protocol::Udp) return IoResult{EOPNOTSUPP, 0, {}};
    if (s->state == SockState::Connected) return IoResult{EISCONN, 0, {}};
    if (to.version != s->version) return IoResult{EAFNOSUPPORT, 0, {}};
    if (int err = implicitBindLocked(*s, nullptr); err != 0) return IoResult{err, 0, {}};
    source = s->local;
    if (source.isUnspecified()) {
      Endpoint address;
      if (!sourceAddressLocked(p.host_, to, address)) return IoResult{ENETUNREACH, 0, {}};
      source = withPort(address, s->local.port);
    }
    auto flow = s->sendToFlows.find(to);
    if (flow != s->sendToFlows.end()) {
      deliverDatagramLocked(p.host_, source, flow->second.first, data);
      return IoResult{0, data.size(), {}};
    }
    if (p.host_ != 0) {
      deliverDatagramLocked(p.host_, source, to, data);
      return IoResult{0, data.size(), {}};
    }
    request.process = p.info_;
    request.protocol = Protocol::Udp;
    request.local = source;
    request.remote = to;
    request.socketId = static_cast<uint64_t>(fd);
    request.proxiedRecords = s->proxiedRecords;
  }
  // The first datagram of a flow is classified like a connect (S9.5).
  const ConnectVerdict verdict = classifyBlocking(StackHook::Connect, request);
  {
    std::lock_guard lock(mu);
    const Endpoint final = finalRemoteOf(verdict, to);
    Socket* s = findLocked(p, fd);
    if (s == nullptr) {
      r.error = EBADF;
    } else if (verdict.timedOut) {
      r.error = ETIMEDOUT;
    } else if (verdict.action == Action::Block) {
      r.error = verdict.blockErrno != 0 ? verdict.blockErrno : options.blockErrno;
    } else if (final.version != s->version) {
      r.error = EAFNOSUPPORT;
    }
    if (r.error != 0) {
      endedLocked(s, verdict.history);
    } else {
      auto [it, inserted] = s->sendToFlows.try_emplace(to);
      if (inserted) {
        auto conn = makeConnection(verdict);
        conn->refs = 1;
        it->second = {final, conn};
        const std::pair<Endpoint, Endpoint> key{source, final};
        udpFlows[key] = conn;
        s->flowKeys.push_back(key);
      } else {  // another thread classified the same flow first
        endedLocked(s, verdict.history);
      }
      deliverDatagramLocked(p.host_, source, it->second.first, data);
      r.bytes = data.size();
    }
  }
  return r;
}

}  // namespace openwfp::sim::detail

namespace openwfp::sim {

// ---- PendingConnect ------------------------------------------------------------------------

bool PendingConnect::ready() const {
  std::lock_guard lock(state_->mu);
  return state_->done;
}

std::optional<ConnectResult> PendingConnect::poll() const {
  std::lock_guard lock(state_->mu);
  if (!state_->done) return std::nullopt;
  return state_->result;
}

ConnectResult PendingConnect::wait() const {
  std::unique_lock lock(state_->mu);
  state_->cv.wait(lock, [&] { return state_->done; });
  return state_->result;
}

std::optional<ConnectResult> PendingConnect::waitFor(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(state_->mu);
  if (!state_->cv.wait_for(lock, timeout, [&] { return state_->done; })) return std::nullopt;
  return state_->result;
}

}  // namespace openwfp::sim

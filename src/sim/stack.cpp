// sim/stack.cpp - openwfp::sim::Stack: setup, processes, addresses, bind, listen, close.
#include <algorithm>
#include <atomic>
#include <stdexcept>

#include "openwfp/openwfp.h"
#include "sim/stack_state.h"

namespace openwfp::sim {
namespace detail {
namespace {

// Forwards to Runtime::current().classifier() at each call.
class RuntimeClassifier final : public Classifier {
 public:
  void classify(StackHook hook, const StackRequest& request, StackDone done) override {
    Runtime::current().classifier().classify(hook, request, std::move(done));
  }
  void connectionClosed(const std::shared_ptr<redirect::History>& history) override {
    Runtime::current().classifier().connectionClosed(history);
  }
};

// Blocking wait for one classify's done().
struct VerdictWaiter {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  StackVerdict verdict;
  void set(const StackVerdict& v) {
    {
      std::lock_guard lock(mu);
      if (done) return;
      verdict = v;
      done = true;
    }
    cv.notify_all();
  }
  StackVerdict wait() {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return done; });
    return verdict;
  }
};

}  // namespace

int allocateFd() {
  // Unique in the process across all Stacks: the winsock registry routes controls by fd.
  static std::atomic<int> next{kFirstFd};
  return next.fetch_add(1, std::memory_order_relaxed);
}

StackState::StackState(Classifier* c, Options opts) : classifier(c), options(std::move(opts)) {
  if (classifier == nullptr) {
    runtimeAdapter = std::make_unique<RuntimeClassifier>();
    classifier = runtimeAdapter.get();
  }
  Host self;
  for (const std::string& text : options.ownAddresses) {
    auto prefix = parsePrefix(text);
    if (!prefix) throw std::invalid_argument("openwfp::sim: bad own address: " + text);
    self.own.push_back(*prefix);
  }
  hosts.push_back(std::move(self));
}

std::shared_ptr<Connection> StackState::makeConnection(const ConnectVerdict& verdict) const {
  auto conn = std::make_shared<Connection>();
  conn->history = verdict.history;
  conn->redirectTargetPid = verdict.redirectTargetPid;
  conn->redirected = verdict.redirected;
  return conn;
}

StackVerdict StackState::classifyBlocking(StackHook hook, const StackRequest& request) {
  auto waiter = std::make_shared<VerdictWaiter>();
  classifier->classify(hook, request, [waiter](const StackVerdict& v) { waiter->set(v); });
  return waiter->wait();
}

Socket* StackState::findLocked(const Process& p, int fd) {
  auto it = sockets.find(fd);
  if (it == sockets.end() || it->second.owner != &p) return nullptr;
  return &it->second;
}

const Socket* StackState::findLocked(const Process& p, int fd) const {
  auto it = sockets.find(fd);
  if (it == sockets.end() || it->second.owner != &p) return nullptr;
  return &it->second;
}

bool StackState::ownsAddressLocked(int host, const Endpoint& address) const {
  const auto& own = hosts[static_cast<size_t>(host)].own;
  return std::any_of(own.begin(), own.end(), [&](const Prefix& p) { return p.contains(address); });
}

int StackState::routeLocked(int fromHost, const Endpoint& address) const {
  if (address.isLoopback()) return ownsAddressLocked(fromHost, address) ? fromHost : -1;
  for (size_t h = 0; h < hosts.size(); ++h) {
    if (ownsAddressLocked(static_cast<int>(h), address)) return static_cast<int>(h);
  }
  return -1;
}

bool StackState::sourceAddressLocked(int fromHost, const Endpoint& to, Endpoint& out) const {
  if (ownsAddressLocked(fromHost, to)) {
    // Own address (loopback included): the connection stays inside the host.
    out = to.isLoopback() ? loopback(to.version) : withPort(to, 0);
    return true;
  }
  for (const Prefix& p : hosts[static_cast<size_t>(fromHost)].own) {
    if (p.address.version == to.version && !p.address.isLoopback()) {
      out = withPort(p.address, 0);
      return true;
    }
  }
  return false;
}

bool StackState::portInUseLocked(int host, Protocol protocol, const Endpoint& local,
                                 int exceptFd) const {
  for (const auto& [fd, s] : sockets) {
    if (fd == exceptFd || !s.holdsPort || s.protocol != protocol || s.owner->host_ != host) continue;
    if (s.local.version != local.version || s.local.port != local.port) continue;
    if (sameAddress(s.local, local) || s.local.isUnspecified() || local.isUnspecified()) return true;
  }
  return false;
}

uint16_t StackState::ephemeralPortLocked(int host, Protocol protocol, const Endpoint& local) {
  const uint16_t first = options.firstEphemeralPort == 0 ? 49152 : options.firstEphemeralPort;
  uint16_t& next = nextEphemeral.try_emplace({host, protocol}, first).first->second;
  const unsigned range = 65536u - first;
  for (unsigned i = 0; i < range; ++i) {
    const uint16_t port = next;
    next = next == 65535 ? first : static_cast<uint16_t>(next + 1);
    if (!portInUseLocked(host, protocol, withPort(local, port), -1)) return port;
  }
  return 0;
}

int StackState::implicitBindLocked(Socket& s, const Endpoint* to) {
  const int host = s.owner->host_;
  Endpoint source = unspecified(s.version);
  if (to != nullptr && (!s.holdsPort || s.local.isUnspecified())) {
    if (!sourceAddressLocked(host, *to, source)) return ENETUNREACH;
  }
  if (s.holdsPort) {
    if (s.local.isUnspecified() && to != nullptr) s.local = withPort(source, s.local.port);
    return 0;
  }
  const uint16_t port = ephemeralPortLocked(host, s.protocol, source);
  if (port == 0) return EADDRNOTAVAIL;
  s.local = withPort(source, port);
  s.holdsPort = true;
  return 0;
}

int StackState::newSocket(Process& p, IpVersion version, Protocol protocol) {
  const int fd = allocateFd();
  std::lock_guard lock(mu);
  Socket s;
  s.fd = fd;
  s.owner = &p;
  s.version = version;
  s.protocol = protocol;
  s.local = unspecified(version);
  s.remote = unspecified(version);
  sockets.emplace(fd, std::move(s));
  return fd;
}

int StackState::bind(Process& p, int fd, const Endpoint& requested) {
  BindRequest request;
  {
    std::lock_guard lock(mu);
    Socket* s = findLocked(p, fd);
    if (s == nullptr) return EBADF;
    if (s->holdsPort || s->state != SockState::Unconnected) return EINVAL;
    if (requested.version != s->version) return EAFNOSUPPORT;
    if (!requested.isUnspecified() && !ownsAddressLocked(p.host_, requested)) return EADDRNOTAVAIL;
    request.process = p.info_;
    request.protocol = s->protocol;
    request.local = requested;
    request.socketId = static_cast<uint64_t>(fd);
  }
  Endpoint final = requested;
  if (p.host_ == 0) {  // remote hosts are not classified
    const BindVerdict verdict = classifyBlocking(StackHook::Bind, request);
    if (verdict.timedOut) return ETIMEDOUT;
    if (verdict.action == Action::Block) return EACCES;
    final = verdict.finalLocal;
    if (!verdict.redirected && final == Endpoint{}) final = requested;  // lenient for fakes
  }
  std::lock_guard lock(mu);
  Socket* s = findLocked(p, fd);
  if (s == nullptr) return EBADF;
  if (s->holdsPort || s->state != SockState::Unconnected) return EINVAL;
  if (final.version != s->version) return EAFNOSUPPORT;
  if (!final.isUnspecified() && !ownsAddressLocked(p.host_, final)) return EADDRNOTAVAIL;
  if (final.port == 0) {
    final.port = ephemeralPortLocked(p.host_, s->protocol, final);
    if (final.port == 0) return EADDRINUSE;
  } else if (portInUseLocked(p.host_, s->protocol, final, fd)) {
    return EADDRINUSE;
  }
  s->local = final;
  s->holdsPort = true;
  return 0;
}

int StackState::listen(Process& p, int fd, int backlog) {
  std::lock_guard lock(mu);
  Socket* s = findLocked(p, fd);
  if (s == nullptr) return EBADF;
  if (s->protocol != Protocol::Tcp) return EOPNOTSUPP;
  if (s->state == SockState::Listening) {
    s->backlog = std::max(backlog, 1);
    return 0;
  }
  if (s->state != SockState::Unconnected) return EINVAL;
  if (int err = implicitBindLocked(*s, nullptr); err != 0) return err;
  s->state = SockState::Listening;
  s->backlog = std::max(backlog, 1);
  changed.notify_all();
  return 0;
}

void StackState::releaseLocked(std::shared_ptr<Connection>& conn,
                               std::vector<std::shared_ptr<redirect::History>>& closed) {
  if (!conn) return;
  if (--conn->refs == 0 && conn->history) closed.push_back(conn->history);
  conn.reset();
}

void StackState::endedLocked(Socket* s, const std::shared_ptr<redirect::History>& history) {
  if (!history) return;
  (s != nullptr ? s->endedHistories : orphanHistories).push_back(history);
}

void StackState::closeLocked(int fd, std::vector<std::shared_ptr<redirect::History>>& closed) {
  auto it = sockets.find(fd);
  if (it == sockets.end()) return;
  Socket s = std::move(it->second);
  sockets.erase(it);
  closed.insert(closed.end(), s.endedHistories.begin(), s.endedHistories.end());
  if (s.state == SockState::Listening) {
    for (int queued : s.acceptQueue) closeLocked(queued, closed);
  }
  if (s.peerFd >= 0) {
    auto peer = sockets.find(s.peerFd);
    if (peer != sockets.end()) peer->second.peerClosed = true;
  }
  for (auto& [requested, flow] : s.sendToFlows) releaseLocked(flow.second, closed);
  for (const auto& key : s.flowKeys) udpFlows.erase(key);
  releaseLocked(s.conn, closed);
  releaseLocked(s.inbound, closed);
  changed.notify_all();
}

void StackState::reportClosed(const std::vector<std::shared_ptr<redirect::History>>& closedList) {
  for (const auto& h : closedList) classifier->connectionClosed(h);
}

int StackState::close(Process& p, int fd) {
  std::vector<std::shared_ptr<redirect::History>> closedList;
  {
    std::lock_guard lock(mu);
    if (findLocked(p, fd) == nullptr) return EBADF;
    closeLocked(fd, closedList);
    closedList.insert(closedList.end(), orphanHistories.begin(), orphanHistories.end());
    orphanHistories.clear();
  }
  reportClosed(closedList);
  return 0;
}

int StackState::sockname(const Process& p, int fd, Endpoint& out, bool peer) const {
  std::lock_guard lock(mu);
  const Socket* s = findLocked(p, fd);
  if (s == nullptr) return EBADF;
  if (peer) {
    if (s->state != SockState::Connected) return ENOTCONN;
    out = s->remote;
  } else {
    out = s->local;
  }
  return 0;
}

std::optional<ConnectionInfo> StackState::connection(const Process& p, int fd) const {
  std::lock_guard lock(mu);
  const Socket* s = findLocked(p, fd);
  if (s == nullptr || s->state != SockState::Connected) return std::nullopt;
  ConnectionInfo info;
  const Connection* c = s->inbound ? s->inbound.get() : s->conn.get();
  if (c != nullptr) {
    info.history = c->history;
    info.redirectTargetPid = c->redirectTargetPid;
    info.redirected = c->redirected;
  }
  info.local = s->local;
  info.remote = s->remote;
  return info;
}

void StackState::shutdown() {
  registration.reset();  // no control call reaches the stack from now on
  std::vector<std::shared_ptr<redirect::History>> closedList;
  {
    std::lock_guard lock(mu);
    closed = true;
    std::vector<int> fds;
    fds.reserve(sockets.size());
    for (const auto& [fd, s] : sockets) fds.push_back(fd);
    std::sort(fds.begin(), fds.end());
    for (int fd : fds) closeLocked(fd, closedList);
    closedList.insert(closedList.end(), orphanHistories.begin(), orphanHistories.end());
    orphanHistories.clear();
  }
  reportClosed(closedList);
}

}  // namespace detail

// ---- Stack ----------------------------------------------------------------------------------

Stack::Stack() : Stack(Options{}) {}

Stack::Stack(Options options)
    : state_(std::make_shared<detail::StackState>(nullptr, std::move(options))) {
  detail::registerBackend(state_);
}

Stack::Stack(Classifier& classifier, Options options)
    : state_(std::make_shared<detail::StackState>(&classifier, std::move(options))) {
  detail::registerBackend(state_);
}

Stack::~Stack() { state_->shutdown(); }

Process& Stack::process(uint64_t pid, std::string imagePath, uint32_t uid) {
  std::lock_guard lock(state_->mu);
  auto& slot = state_->processes[pid];
  if (!slot) {
    ProcessInfo info;
    info.pid = pid;
    info.uid = uid;
    info.imagePath = std::move(imagePath);
    slot.reset(new Process(state_.get(), std::move(info), 0));
  }
  return *slot;
}

Process& Stack::remoteHost(std::string_view address) {
  auto parsed = detail::parseAddress(address);
  if (!parsed || parsed->isUnspecified() || parsed->isLoopback()) {
    throw std::invalid_argument("openwfp::sim: bad remote host address: " + std::string(address));
  }
  std::lock_guard lock(state_->mu);
  for (size_t h = 1; h < state_->hosts.size(); ++h) {
    if (detail::sameAddress(state_->hosts[h].own[0].address, *parsed)) {
      return *state_->hosts[h].remoteProcess;
    }
  }
  if (state_->ownsAddressLocked(0, *parsed)) {
    throw std::invalid_argument("openwfp::sim: the simulated host owns " + std::string(address));
  }
  detail::Host host;
  host.own.push_back(detail::Prefix{*parsed, parsed->version == IpVersion::V4 ? 32u : 128u});
  ProcessInfo info;
  info.imagePath = "remote:" + std::string(address);
  const int id = static_cast<int>(state_->hosts.size());
  host.remoteProcess.reset(new Process(state_.get(), std::move(info), id));
  state_->hosts.push_back(std::move(host));
  return *state_->hosts.back().remoteProcess;
}

const Options& Stack::options() const { return state_->options; }

size_t Stack::openSockets() const {
  std::lock_guard lock(state_->mu);
  return state_->sockets.size();
}

}  // namespace openwfp::sim

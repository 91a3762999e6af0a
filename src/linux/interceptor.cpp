// linux/interceptor.cpp - serves a seccomp listener: one notified connect()/bind() at a time per
// worker, answered inline or later from the thread that completes a pended classify (S6).
//
// Per notification (see linux_backend.h for the answers):
//   sockaddr (process_vm_readv) -> family -> process facts (TaskCache) -> the process's socket
//   (pidfd_getfd) -> domain/type/protocol/local address/cookie -> notification still valid? ->
//   Classifier -> answer.
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <shared_mutex>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

#include "linux/connect_waiter.h"
#include "linux/connection_table.h"
#include "linux/seccomp_program.h"
#include "linux/inet_sockets.h"
#include "net/sockaddr_codec.h"
#include "linux/syscalls.h"
#include "linux/task_cache.h"
#include "net/unique_fd.h"
#include "openwfp/linux_backend.h"

#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif

namespace openwfp::linux_backend {
namespace {

void noopSignalHandler(int) {}

int resolveWakeSignal(int configured) { return configured != 0 ? configured : SIGRTMAX - 3; }

void installWakeHandler(int sig) {
  static std::mutex mu;
  static std::vector<int> installed;
  std::lock_guard lock(mu);
  if (std::find(installed.begin(), installed.end(), sig) != installed.end()) return;
  struct sigaction sa {};
  sa.sa_handler = noopSignalHandler;  // no SA_RESTART: the receive ioctl returns EINTR
  sigemptyset(&sa.sa_mask);
  ::sigaction(sig, &sa, nullptr);
  installed.push_back(sig);
}

template <class T>
bool getIntOpt(int fd, int level, int name, T& out) {
  socklen_t len = sizeof out;
  return ::getsockopt(fd, level, name, &out, &len) == 0;
}

}  // namespace

// One notified call from receipt to answer. Answered exactly once: by the classifier's done(),
// or, if every copy of done() is destroyed unanswered, by the destructor (fail closed).
struct Call {
  std::shared_ptr<Interceptor::Impl> owner;
  uint64_t id = 0;
  net::CallKind kind = net::CallKind::Connect;
  net::UniqueFd sock;  // the process's socket (a pidfd_getfd duplicate)
  int domain = AF_INET;
  Protocol protocol = Protocol::Tcp;
  Endpoint requested;
  uint64_t cookie = 0;
  uint64_t pid = 0;
  bool fastOpen = false;
  std::atomic<bool> claimed{false};
  std::atomic<bool> classifyReturned{false};

  bool claim() { return !claimed.exchange(true); }
  ~Call();
};

struct Interceptor::Impl : std::enable_shared_from_this<Interceptor::Impl> {
  Impl(Classifier& c, int fd, InterceptorOptions o)
      : classifier(&c), listener(fd), options(o), wakeSignal(resolveWakeSignal(o.wakeSignal)) {}

  // --- configuration, immutable after start ---
  std::shared_mutex classifierMu;  // guards `classifier` (cleared when the Interceptor goes)
  Classifier* classifier;
  std::shared_mutex listenerMu;  // guards closing `listener` against answers in flight
  net::UniqueFd listener;
  InterceptorOptions options;
  int wakeSignal;
  size_t notifSize = sizeof(seccomp_notif);
  bool syncWakeUp = false;

  // --- state ---
  TaskCache tasks;            // thread-safe
  ConnectionTable table;      // thread-safe
  ConnectWaiter waiter;       // thread-safe
  std::atomic<bool> stopping{false};
  // Workers (see workerLoop). poolMu guards receivers, handling, monitorTaken, lastReceive.
  std::mutex poolMu;
  std::condition_variable poolCv;
  int receivers = 0;           // workers in, or about to enter, the receive ioctl
  int handling = 0;            // workers handling a notification they received
  bool monitorTaken = false;   // a follower is waiting with a timeout (watching for stuck handlers)
  std::chrono::steady_clock::time_point lastReceive{};
  static constexpr auto kStuckAfter = std::chrono::milliseconds(2);
  static constexpr auto kMonitorMaxWait = std::chrono::milliseconds(64);
  std::mutex threadsMu;       // guards workers, reaper, started
  std::vector<std::thread> workers;
  std::vector<std::unique_ptr<std::atomic<bool>>> workerDone;
  std::thread reaper;
  bool started = false;
  std::mutex reapMu;          // guards lastLookupScan; with reapCv wakes the reaper
  std::condition_variable reapCv;
  std::chrono::steady_clock::time_point lastLookupScan{};

  struct Counters {
    std::atomic<uint64_t> notifications{0}, continued{0}, redirected{0}, blocked{0}, failed{0},
        stale{0}, pended{0}, connectionsClosed{0};
  } counters;

  // ---- answering ----
  // error: 0 or a positive errno; cont: let the kernel run the call.
  void respond(uint64_t id, int error, bool cont) {
    seccomp_notif_resp resp{};
    resp.id = id;
    resp.error = cont ? 0 : -error;
    resp.val = 0;
    resp.flags = cont ? SECCOMP_USER_NOTIF_FLAG_CONTINUE : 0;
    int rc;
    {
      std::shared_lock lock(listenerMu);
      rc = listener ? ::ioctl(listener.get(), SECCOMP_IOCTL_NOTIF_SEND, &resp) : -1;
    }
    if (rc != 0) {
      counters.stale.fetch_add(1, std::memory_order_relaxed);  // the caller went away (ENOENT)
      return;
    }
    if (cont) counters.continued.fetch_add(1, std::memory_order_relaxed);
  }
  void respondContinue(uint64_t id) { respond(id, 0, true); }
  void failClosed(uint64_t id, int error, const char* what, pid_t tid, int cause) {
    counters.failed.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn("openwfp: cannot inspect a call of task {} ({}: {}): failing it with {}", tid,
                 what, std::strerror(cause), std::strerror(error));
    respond(id, error, false);
  }

  void reportClosed(const std::vector<std::shared_ptr<redirect::History>>& histories) {
    if (histories.empty()) return;
    std::shared_lock lock(classifierMu);
    for (const auto& h : histories) {
      if (!h) continue;
      counters.connectionsClosed.fetch_add(1, std::memory_order_relaxed);
      if (classifier != nullptr) classifier->connectionClosed(h);
    }
  }
  void reportClosed(std::shared_ptr<redirect::History> h) {
    if (h) reportClosed(std::vector<std::shared_ptr<redirect::History>>{std::move(h)});
  }

  // ---- workers ----
  // One receiver at a time. The kernel wakes every thread waiting in the receive ioctl for each
  // notification (with SYNC_WAKE_UP, all on the notifying task's CPU), so only one waits there.
  // The receiver handles what it received itself and then receives again: no hand-off, no extra
  // wake-up on the common path. The others are followers. One of them, the monitor, wakes now
  // and then (every kStuckAfter while calls arrive, backing off to kMonitorMaxWait when idle); if
  // nobody is receiving because a handler has been busy for kStuckAfter (a slow classify), it
  // becomes a receiver too. A handler that finds another receiver becomes a follower.
  void workerLoop(std::atomic<bool>* done) {
    std::vector<uint64_t> storage((notifSize + sizeof(uint64_t) - 1) / sizeof(uint64_t) + 1);
    auto* notif = reinterpret_cast<seccomp_notif*>(storage.data());
    for (;;) {
      {
        std::unique_lock lock(poolMu);
        auto wait = std::chrono::duration_cast<std::chrono::steady_clock::duration>(kStuckAfter);
        bool wasMonitor = false;
        while (!stopping.load(std::memory_order_acquire)) {
          if (receivers == 0 &&
              (handling == 0 || std::chrono::steady_clock::now() - lastReceive >= kStuckAfter)) {
            // Nobody receives (the handlers are stuck, or there are none): receive. A monitor
            // that leaves hands its role to another follower.
            if (wasMonitor) poolCv.notify_one();
            break;
          }
          if (monitorTaken) {
            poolCv.wait(lock);
            continue;
          }
          monitorTaken = wasMonitor = true;
          auto before = lastReceive;
          poolCv.wait_for(lock, wait);
          monitorTaken = false;
          wait = lastReceive == before
                     ? std::min<std::chrono::steady_clock::duration>(2 * wait, kMonitorMaxWait)
                     : std::chrono::steady_clock::duration(kStuckAfter);
        }
        if (stopping.load(std::memory_order_acquire)) break;
        ++receivers;
      }
      std::memset(storage.data(), 0, storage.size() * sizeof(uint64_t));
      int rc = ::ioctl(listener.get(), SECCOMP_IOCTL_NOTIF_RECV, notif);
      int err = rc == 0 ? 0 : errno;
      {
        std::lock_guard lock(poolMu);
        --receivers;
        if (rc == 0) {
          ++handling;
          lastReceive = std::chrono::steady_clock::now();
        }
      }
      if (rc != 0) {
        if (err == EINTR) continue;
        if (err == ENOENT) {  // the call went away, or no task uses the filter any more
          pollfd p{listener.get(), POLLIN, 0};
          if (::poll(&p, 1, 0) == 1 && (p.revents & POLLHUP) != 0) break;
          continue;
        }
        if (!stopping.load()) spdlog::error("openwfp: seccomp receive failed: {}", std::strerror(err));
        break;
      }
      counters.notifications.fetch_add(1, std::memory_order_relaxed);
      if (options.passThrough) {
        respondContinue(notif->id);
      } else {
        handle(*notif);
      }
      std::lock_guard lock(poolMu);
      --handling;
    }
    {
      std::lock_guard lock(poolMu);
      poolCv.notify_all();  // the filter is orphaned or we stop: let the followers see it
    }
    done->store(true, std::memory_order_release);
  }

  // The destination of a TCP Fast Open send: (sockaddr pointer, length), or nullopt when the
  // notification is not one (the seccomp program hands over only sends with MSG_FASTOPEN).
  static std::optional<std::pair<uint64_t, uint32_t>> fastOpenAddress(const seccomp_notif& n,
                                                                      pid_t tid) {
    const int nr = n.data.nr;
    if (nr == sendtoSyscallNr()) {
      return std::make_pair(n.data.args[4], static_cast<uint32_t>(n.data.args[5]));
    }
    if (nr == sendmsgSyscallNr() || nr == sendmmsgSyscallNr()) {
      // msghdr (the first mmsghdr starts with one): msg_name, then msg_namelen.
      struct {
        uint64_t name;
        uint32_t nameLen;
      } head{};
      static_assert(offsetof(msghdr, msg_name) == 0 && offsetof(msghdr, msg_namelen) == 8);
      if (sys::readTaskMemory(tid, n.data.args[1], &head, 12) != 0) return std::make_pair(0ul, 0u);
      // Unlike connect()/sendto(), sendmsg() does not fail a msg_namelen beyond
      // sizeof(sockaddr_storage): __copy_msghdr() clamps it and the call connects (only a
      // negative one, as an int, fails). Classify what the kernel will use.
      if (head.nameLen > sizeof(sockaddr_storage) && head.nameLen <= static_cast<uint32_t>(INT32_MAX)) {
        head.nameLen = sizeof(sockaddr_storage);
      }
      return std::make_pair(head.name, head.nameLen);
    }
    return std::nullopt;
  }

  void handle(const seccomp_notif& n) {
    const int nr = n.data.nr;
    const pid_t tid = static_cast<pid_t>(n.pid);
    if (isInvalidatingSyscall(nr)) {
      if (isExecSyscall(nr)) {
        tasks.processExecs(tid);
      } else {
        tasks.forgetTask(tid);
      }
      respondContinue(n.id);
      return;
    }
    net::CallKind kind = net::CallKind::Connect;
    bool fastOpen = false;  // sendto/sendmsg/sendmmsg with MSG_FASTOPEN: a connect with data
    const int fd = static_cast<int>(n.data.args[0]);
    uint64_t addrPtr = 0;
    uint32_t addrLen = 0;  // socklen_t: the low 32 bits of the argument
    if (nr == connectSyscallNr() || nr == bindSyscallNr()) {
      kind = nr == bindSyscallNr() ? net::CallKind::Bind : net::CallKind::Connect;
      addrPtr = n.data.args[1];
      addrLen = static_cast<uint32_t>(n.data.args[2]);
    } else if (auto fo = fastOpenAddress(n, tid)) {
      fastOpen = true;
      addrPtr = fo->first;
      addrLen = fo->second;
    } else {
      respondContinue(n.id);
      return;
    }
    if (addrPtr == 0 || addrLen < 2 || addrLen > sizeof(sockaddr_storage)) {
      respondContinue(n.id);  // the kernel fails it (EINVAL/EFAULT) or it cannot be IP
      return;
    }
    uint8_t bytes[net::kMaxSockaddrRead];
    const size_t readLen = std::min<size_t>(addrLen, sizeof bytes);
    int err = sys::readTaskMemory(tid, addrPtr, bytes, readLen);
    if (err == EFAULT) {
      respond(n.id, EFAULT, false);  // what the kernel says for an unreadable sockaddr
      return;
    }
    if (err == ESRCH) {
      counters.stale.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    if (err != 0) {
      failClosed(n.id, EACCES, "reading the sockaddr", tid, err);
      return;
    }
    sa_family_t family;
    std::memcpy(&family, bytes, sizeof family);
    const bool ipFamily = family == AF_INET || family == AF_INET6;
    if (!ipFamily && !(kind == net::CallKind::Bind && family == AF_UNSPEC)) {
      respondContinue(n.id);  // AF_UNIX, AF_NETLINK, ... and AF_UNSPEC disconnects (S13.4)
      return;
    }

    // The process's socket, through its (cached) pidfd.
    std::shared_ptr<const TaskEntry> task;
    net::UniqueFd sock;
    bool freshTask = false;
    for (int attempt = 0; attempt < 2 && !sock; ++attempt) {
      task = tasks.get(tid, err, freshTask);
      if (!task) break;
      sock.reset(sys::pidfdGetfd(task->pidfd.get(), fd, 0));
      if (!sock) {
        err = errno;
        if (err != ESRCH) break;
        tasks.forgetTask(tid);  // the cached task is gone: the thread id was reused
      }
    }
    if (!sock) {
      if (err == ESRCH) {
        counters.stale.fetch_add(1, std::memory_order_relaxed);
      } else if (err == EBADF) {
        respondContinue(n.id);  // not an open fd: the kernel fails it with EBADF
      } else {
        failClosed(n.id, EACCES, task ? "pidfd_getfd" : "reading /proc", tid, err);
      }
      return;
    }

    // The socket's family comes with its local address (getsockname), saving an SO_DOMAIN call.
    sockaddr_storage ss{};
    socklen_t ssLen = sizeof ss;
    if (::getsockname(sock.get(), reinterpret_cast<sockaddr*>(&ss), &ssLen) != 0 ||
        (ss.ss_family != AF_INET && ss.ss_family != AF_INET6)) {
      respondContinue(n.id);  // e.g. an AF_UNIX socket given a 16-byte address: kernel fails it
      return;
    }
    const int domain = ss.ss_family;
    int type = 0, proto = 0;
    getIntOpt(sock.get(), SOL_SOCKET, SO_TYPE, type);
    getIntOpt(sock.get(), SOL_SOCKET, SO_PROTOCOL, proto);
    Protocol protocol;
    if (type == SOCK_STREAM && (proto == IPPROTO_TCP || proto == IPPROTO_MPTCP)) {
      protocol = Protocol::Tcp;
    } else if (type == SOCK_DGRAM && proto == IPPROTO_UDP) {
      protocol = Protocol::Udp;
    } else {
      respondContinue(n.id);  // raw, ICMP, SCTP, ...: not TCP/UDP (S13.1)
      return;
    }
    if (fastOpen && protocol != Protocol::Tcp) {
      respondContinue(n.id);  // MSG_FASTOPEN means nothing to UDP: an ordinary datagram send
      return;
    }
    std::optional<Endpoint> requested = net::decodeCallAddress(
        std::span<const uint8_t>(bytes, readLen), addrLen, domain, kind, protocol == Protocol::Udp);
    if (!requested) {
      respondContinue(n.id);
      return;
    }
    Endpoint local;
    local.version = domain == AF_INET6 ? IpVersion::V6 : IpVersion::V4;
    if (auto ep = net::endpointFromSockaddr(ss, ssLen)) local = *ep;
    uint64_t cookie = 0;
    getIntOpt(sock.get(), SOL_SOCKET, SO_COOKIE, cookie);
    // The sockaddr and the socket really are the waiting call's: its task did not die and have
    // its id reused while we looked. With a cached entry this is already proven: pidfd_getfd
    // succeeded on the pidfd of the task that had this thread id when it was cached, so that
    // task was alive after the sockaddr was read, and a live task keeps its id (see
    // task_cache.h). Facts just read from /proc under the id need the kernel's word.
    uint64_t id = n.id;
    if (freshTask && ::ioctl(listener.get(), SECCOMP_IOCTL_NOTIF_ID_VALID, &id) != 0) {
      counters.stale.fetch_add(1, std::memory_order_relaxed);
      return;
    }

    auto call = std::make_shared<Call>();
    call->owner = shared_from_this();
    call->id = n.id;
    call->kind = kind;
    call->sock = std::move(sock);
    call->domain = domain;
    call->protocol = protocol;
    call->requested = *requested;
    call->cookie = cookie;
    call->pid = task->process.pid;
    call->fastOpen = fastOpen;

    // Workers are joined before `classifier` is cleared: no lock needed here (and done() may
    // run inline and take classifierMu itself).
    if (classifier == nullptr) return;  // ~Call fails it closed
    if (kind == net::CallKind::Connect) {
      ConnectRequest req;
      req.process = task->process;
      req.protocol = protocol;
      req.local = local;
      req.remote = *requested;
      req.socketId = cookie;
      req.proxiedRecords = table.attachedRecords(cookie);
      classifier->classifyConnect(req, [call](const ConnectVerdict& v) {
        call->owner->finishConnect(*call, v);
      });
    } else {
      BindRequest req;
      req.process = task->process;
      req.protocol = protocol;
      req.local = *requested;
      req.socketId = cookie;
      classifier->classifyBind(req, [call](const BindVerdict& v) {
        call->owner->finishBind(*call, v);
      });
    }
    call->classifyReturned.store(true, std::memory_order_release);
  }

  void countPended(const Call& call) {
    if (call.classifyReturned.load(std::memory_order_acquire)) {
      counters.pended.fetch_add(1, std::memory_order_relaxed);
    }
  }

  // ---- verdicts ----
  void finishBind(Call& call, const BindVerdict& v) {
    if (!call.claim()) return;
    countPended(call);
    if (v.action == Action::Block) {
      counters.blocked.fetch_add(1, std::memory_order_relaxed);
      respond(call.id, v.timedOut ? ETIMEDOUT : options.bindBlockErrno, false);
      return;
    }
    if (net::sameEndpoint(v.finalLocal, call.requested)) {
      respondContinue(call.id);
      return;
    }
    sockaddr_storage sa;
    socklen_t len;
    if (!net::sockaddrFor(v.finalLocal, call.domain, sa, len)) {
      respond(call.id, EAFNOSUPPORT, false);
      return;
    }
    counters.redirected.fetch_add(1, std::memory_order_relaxed);
    int rc = ::bind(call.sock.get(), reinterpret_cast<sockaddr*>(&sa), len);
    respond(call.id, rc == 0 ? 0 : errno, false);
  }

  void finishConnect(Call& call, const ConnectVerdict& v) {
    if (!call.claim()) return;
    countPended(call);
    if (v.action == Action::Block) {
      counters.blocked.fetch_add(1, std::memory_order_relaxed);
      respond(call.id, v.timedOut ? ETIMEDOUT : options.blockErrno, false);
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
      reportClosed(table.add(info));
      respondContinue(call.id);
      return;
    }
    if (call.fastOpen) {
      // A TCP Fast Open send cannot be redirected from here (the data would have to be sent by
      // the supervisor): fail it rather than let it reach the original destination.
      counters.failed.fetch_add(1, std::memory_order_relaxed);
      reportClosed(table.remove(call.cookie));
      respond(call.id, EOPNOTSUPP, false);
      return;
    }
    counters.redirected.fetch_add(1, std::memory_order_relaxed);
    sockaddr_storage sa;
    socklen_t len;
    if (!net::sockaddrFor(v.finalRemote, call.domain, sa, len)) {
      reportClosed(v.history);
      respond(call.id, EAFNOSUPPORT, false);
      return;
    }
    // Remembered before the connect: the peer may look the connection up as soon as the
    // handshake is done, before connect() returns here (a lookup then resolves it by sock_diag).
    info.local.version = v.finalRemote.version;
    reportClosed(table.add(info));
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
          table.resolve(call.cookie, *local, v.finalRemote);
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
        getIntOpt(call.sock.get(), SOL_SOCKET, SO_ERROR, soError);
        finishPerformed(call, soError);
        return;
      }
      waitForConnect(call);  // without holding this thread
      return;
    }
    finishPerformed(call, err);
  }

  // The answer to a connect the supervisor performed; a failed connection is reported closed.
  void finishPerformed(Call& call, int err) {
    if (err != 0 && err != EINPROGRESS) reportClosed(table.remove(call.cookie));
    respond(call.id, err, false);
  }

  void waitForConnect(Call& call);

  static bool connectedTo(int fd, const Endpoint& remote, int domain) {
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

  // ---- closed connections ----
  void scan() {
    unsigned mask = table.scanMask();
    if (mask == 0) {
      if (!table.empty()) reportClosed(table.applyScan({}, 0));  // ages attachments out
      return;
    }
    std::vector<DiagSocket> all;
    unsigned scanned = 0;
    const int families[2] = {AF_INET, AF_INET6};
    const int protos[2] = {IPPROTO_TCP, IPPROTO_UDP};
    for (unsigned bit = 0; bit < 4; ++bit) {
      if ((mask & (1u << bit)) == 0) continue;
      auto sockets = dumpSockets(families[bit & 1], protos[bit >> 1]);
      if (!sockets) continue;
      scanned |= 1u << bit;
      all.insert(all.end(), sockets->begin(), sockets->end());
    }
    reportClosed(table.applyScan(all, scanned));
  }

  void reaperLoop() {
    std::unique_lock lock(reapMu);
    while (!stopping.load()) {
      reapCv.wait_for(lock, std::chrono::milliseconds(std::max(10u, options.reapIntervalMs)));
      if (stopping.load()) break;
      lock.unlock();
      scan();
      lock.lock();
    }
  }

  std::optional<ConnectionInfo> find(const Endpoint& local, const Endpoint& remote) {
    if (auto hit = table.find(local, remote)) return hit;
    if (table.hasUnresolved()) {  // a continued connect's tuple is known after a sock_diag scan
      bool scanNow;
      {
        std::lock_guard lock(reapMu);
        auto now = std::chrono::steady_clock::now();
        scanNow = now - lastLookupScan >= std::chrono::milliseconds(2);
        if (scanNow) lastLookupScan = now;
      }
      if (scanNow) scan();
    }
    // Again also without a scan: the entry may have been resolved since the first look.
    return table.find(local, remote);
  }

  // ---- lifecycle ----
  void start() {
    std::lock_guard lock(threadsMu);
    if (started) return;
    started = true;
    seccomp_notif_sizes sizes{};
    if (sys::seccomp(SECCOMP_GET_NOTIF_SIZES, 0, &sizes) == 0) {
      notifSize = std::max<size_t>(sizes.seccomp_notif, sizeof(seccomp_notif));
    }
    syncWakeUp = ::ioctl(listener.get(), SECCOMP_IOCTL_NOTIF_SET_FLAGS,
                         SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP) == 0;  // EINVAL/ENOTTY: old kernel
    installWakeHandler(wakeSignal);
    unsigned n = std::max(1u, options.workerThreads);
    for (unsigned i = 0; i < n; ++i) {
      workerDone.push_back(std::make_unique<std::atomic<bool>>(false));
      std::atomic<bool>* done = workerDone.back().get();
      workers.emplace_back([this, done] {
        ::pthread_setname_np(::pthread_self(), "owfp-notify");
        workerLoop(done);
      });
    }
    reaper = std::thread([this] {
      ::pthread_setname_np(::pthread_self(), "owfp-reaper");
      reaperLoop();
    });
  }

  void stop() {
    std::lock_guard lock(threadsMu);
    if (stopping.exchange(true)) return;
    {
      std::lock_guard pl(poolMu);
      poolCv.notify_all();
    }
    for (size_t i = 0; i < workers.size(); ++i) {
      // A worker may be between its stop check and the blocking ioctl: signal until it leaves.
      while (!workerDone[i]->load(std::memory_order_acquire)) {
        ::pthread_kill(workers[i].native_handle(), wakeSignal);
        for (int k = 0; k < 20 && !workerDone[i]->load(std::memory_order_acquire); ++k) {
          std::this_thread::sleep_for(std::chrono::microseconds(500));
        }
      }
      workers[i].join();
    }
    workers.clear();
    {
      std::lock_guard rl(reapMu);
      reapCv.notify_all();
    }
    if (reaper.joinable()) reaper.join();
    waiter.stop();
    {  // From now on the kernel fails notified calls with ENOSYS (fail closed, S13.5).
      std::unique_lock ll(listenerMu);
      listener.reset();
    }
    reportClosed(table.takeAll());
  }
};

Call::~Call() {
  if (!claimed.exchange(true)) {
    // The classifier dropped done() without calling it: fail closed.
    owner->counters.blocked.fetch_add(1, std::memory_order_relaxed);
    owner->respond(id, kind == net::CallKind::Connect ? owner->options.blockErrno
                                                 : owner->options.bindBlockErrno,
                   false);
  }
}

void Interceptor::Impl::waitForConnect(Call& call) {
  // `call` lives in the shared_ptr owned by done(); keep it alive until the handshake ends by
  // moving its state into a new holder the waiter owns.
  auto held = std::make_shared<Call>();
  held->owner = call.owner;
  held->id = call.id;
  held->kind = call.kind;
  held->sock = std::move(call.sock);
  held->domain = call.domain;
  held->protocol = call.protocol;
  held->requested = call.requested;
  held->cookie = call.cookie;
  held->pid = call.pid;
  held->claimed.store(true);
  held->classifyReturned.store(true);
  int fd = held->sock.get();
  bool ok = waiter.watch(fd, [held](int err) { held->owner->finishPerformed(*held, err); });
  if (!ok) finishPerformed(*held, ECONNABORTED);
}

Interceptor::Interceptor(Classifier& classifier, int listenerFd, InterceptorOptions options)
    : impl_(std::make_shared<Impl>(classifier, listenerFd, options)) {}

Interceptor::~Interceptor() {
  stop();
  std::unique_lock lock(impl_->classifierMu);
  impl_->classifier = nullptr;
}

void Interceptor::start() { impl_->start(); }
void Interceptor::stop() { impl_->stop(); }

std::optional<ConnectionInfo> Interceptor::findConnection(const Endpoint& local,
                                                          const Endpoint& remote) {
  return impl_->find(local, remote);
}

std::optional<ConnectionInfo> Interceptor::findBySocketCookie(uint64_t cookie) {
  return impl_->table.findByCookie(cookie);
}

void Interceptor::attachRecords(uint64_t socketCookie, std::shared_ptr<redirect::History> records) {
  impl_->table.attachRecords(socketCookie, std::move(records));
}

void Interceptor::reapNow() { impl_->scan(); }

InterceptorStats Interceptor::stats() const {
  const auto& c = impl_->counters;
  InterceptorStats s;
  s.notifications = c.notifications.load();
  s.continued = c.continued.load();
  s.redirected = c.redirected.load();
  s.blocked = c.blocked.load();
  s.failed = c.failed.load();
  s.stale = c.stale.load();
  s.pended = c.pended.load();
  s.connectionsClosed = c.connectionsClosed.load();
  s.syncWakeUp = impl_->syncWakeUp;
  return s;
}

}  // namespace openwfp::linux_backend

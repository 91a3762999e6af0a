// linux/call_decoder.cpp - from a notified call to its classify request (see call_decoder.h).
//
// Per notification:
//   sockaddr (process_vm_readv) -> family -> process facts (TaskCache) -> the process's socket
//   (pidfd_getfd) -> domain/type/protocol/local address/cookie -> notification still valid?
#include "linux/call_decoder.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <utility>

#include "linux/call_deadlines.h"
#include "linux/seccomp_program.h"
#include "net/sockaddr_codec.h"
#include "net/unique_fd.h"

#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif

namespace openwfp::linux_backend {
namespace {

template <class T>
bool getIntOpt(int fd, int level, int name, T& out) {
  socklen_t len = sizeof out;
  return ::getsockopt(fd, level, name, &out, &len) == 0;
}

// The destination of a TCP Fast Open send: (sockaddr pointer, length), or nullopt when the
// notification is not one (the seccomp program hands over only sends with MSG_FASTOPEN).
std::optional<std::pair<uint64_t, uint32_t>> fastOpenAddress(const seccomp_notif& n, pid_t tid) {
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

}  // namespace

std::optional<DecodedCall> CallDecoder::decode(const seccomp_notif& n) {
  const int nr = n.data.nr;
  const pid_t tid = static_cast<pid_t>(n.pid);
  if (guard_ != nullptr && guard_->handle(n)) return std::nullopt;  // S13.8 (tree_guard.h)
  if (isInvalidatingSyscall(nr)) {
    if (isExecSyscall(nr)) {
      tasks_.processExecs(tid);
    } else {
      tasks_.forgetTask(tid);
    }
    loop_.respondContinue(n.id);
    return std::nullopt;
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
    loop_.respondContinue(n.id);
    return std::nullopt;
  }
  if (addrPtr == 0 || addrLen < 2 || addrLen > sizeof(sockaddr_storage)) {
    loop_.respondContinue(n.id);  // the kernel fails it (EINVAL/EFAULT) or it cannot be IP
    return std::nullopt;
  }
  uint8_t bytes[net::kMaxSockaddrRead];
  const size_t readLen = std::min<size_t>(addrLen, sizeof bytes);
  int err = sys::readTaskMemory(tid, addrPtr, bytes, readLen);
  if (err == EFAULT) {
    loop_.respond(n.id, EFAULT, false);  // what the kernel says for an unreadable sockaddr
    return std::nullopt;
  }
  if (err == ESRCH) {
    counters_.stale.fetch_add(1, std::memory_order_relaxed);
    return std::nullopt;
  }
  if (err != 0) {
    loop_.failClosed(n.id, EACCES, "reading the sockaddr", tid, err);
    return std::nullopt;
  }
  sa_family_t family;
  std::memcpy(&family, bytes, sizeof family);
  const bool ipFamily = family == AF_INET || family == AF_INET6;
  if (!ipFamily && !(kind == net::CallKind::Bind && family == AF_UNSPEC)) {
    loop_.respondContinue(n.id);  // AF_UNIX, AF_NETLINK, ... and AF_UNSPEC disconnects (S13.4)
    return std::nullopt;
  }

  // The process's socket, through its (cached) pidfd.
  std::shared_ptr<const TaskEntry> task;
  net::UniqueFd sock;
  bool freshTask = false;
  for (int attempt = 0; attempt < 2 && !sock; ++attempt) {
    task = tasks_.get(tid, err, freshTask);
    if (!task) break;
    sock.reset(sys::pidfdGetfd(task->pidfd.get(), fd, 0));
    if (!sock) {
      err = errno;
      if (err != ESRCH) break;
      tasks_.forgetTask(tid);  // the cached task is gone: the thread id was reused
    }
  }
  if (!sock) {
    if (err == ESRCH) {
      counters_.stale.fetch_add(1, std::memory_order_relaxed);
    } else if (err == EBADF) {
      loop_.respondContinue(n.id);  // not an open fd: the kernel fails it with EBADF
    } else {
      loop_.failClosed(n.id, EACCES, task ? "pidfd_getfd" : "reading /proc", tid, err);
    }
    return std::nullopt;
  }

  // The socket's family comes with its local address (getsockname), saving an SO_DOMAIN call.
  sockaddr_storage ss{};
  socklen_t ssLen = sizeof ss;
  if (::getsockname(sock.get(), reinterpret_cast<sockaddr*>(&ss), &ssLen) != 0 ||
      (ss.ss_family != AF_INET && ss.ss_family != AF_INET6)) {
    loop_.respondContinue(n.id);  // e.g. an AF_UNIX socket given a 16-byte address: kernel fails it
    return std::nullopt;
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
    loop_.respondContinue(n.id);  // raw, ICMP, SCTP, ...: not TCP/UDP (S13.1)
    return std::nullopt;
  }
  if (fastOpen && protocol != Protocol::Tcp) {
    loop_.respondContinue(n.id);  // MSG_FASTOPEN means nothing to UDP: an ordinary datagram send
    return std::nullopt;
  }
  std::optional<Endpoint> requested = net::decodeCallAddress(
      std::span<const uint8_t>(bytes, readLen), addrLen, domain, kind, protocol == Protocol::Udp);
  if (!requested) {
    loop_.respondContinue(n.id);
    return std::nullopt;
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
  if (freshTask && !loop_.stillValid(n.id)) {
    counters_.stale.fetch_add(1, std::memory_order_relaxed);
    return std::nullopt;
  }

  DecodedCall d;
  d.facts.id = n.id;
  d.facts.kind = kind;
  d.facts.sock = std::move(sock);
  d.facts.domain = domain;
  d.facts.protocol = protocol;
  d.facts.requested = *requested;
  d.facts.cookie = cookie;
  d.facts.pid = task->process.pid;
  d.facts.fastOpen = fastOpen;
  if (kind == net::CallKind::Connect && !fastOpen) {
    d.sendTimeout = sendTimeoutOf(d.facts.sock.get());  // S13.10 (call_deadlines.h)
  }
  d.request.process = task->process;
  d.request.protocol = protocol;
  d.request.socketId = cookie;
  if (kind == net::CallKind::Connect) {
    d.hook = StackHook::Connect;
    d.request.local = local;
    d.request.remote = *requested;
    d.request.proxiedRecords = table_.attachedRecords(cookie);
  } else {
    d.hook = StackHook::Bind;
    d.request.local = *requested;
  }
  return d;
}

}  // namespace openwfp::linux_backend

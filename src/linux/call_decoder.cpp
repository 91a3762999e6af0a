// linux/call_decoder.cpp - from a notified call to its classify request (see call_decoder.h).
//
// Per notification:
//   a connect's or bind's sockaddr (process_vm_readv) -> process facts (TaskCache) -> the
//   process's socket (pidfd_getfd) -> what it is -> a send's message heads (process_vm_readv)
//   -> the task was alive throughout?
#include "linux/call_decoder.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <span>
#include <utility>

#include "linux/datagram.h"
#include "linux/seccomp_program.h"
#include "net/sockaddr_codec.h"
#include "net/uring_calls.h"
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

bool pidfdAlive(int pidfd) {
  pollfd p{pidfd, POLLIN, 0};
  return ::poll(&p, 1, 0) == 0;  // readable = the task exited
}

bool ipFamily(const RawSockaddr& a) {
  if (a.len < 2) return false;
  sa_family_t family;
  std::memcpy(&family, a.bytes.data(), sizeof family);
  return family == AF_INET || family == AF_INET6;
}

}  // namespace

void CallDecoder::answerReadFailure(const seccomp_notif& n, int err, const char* what) {
  const pid_t tid = static_cast<pid_t>(n.pid);
  if (err == EFAULT || err == EINVAL || err == EMSGSIZE || err == ENOBUFS || err == EPERM) {
    loop_.respond(n.id, err, false);  // what the kernel says (EPERM: a control message refused)
  } else if (err == ESRCH) {
    loop_.failOrDrop(n.id, what, tid, err);
  } else {
    loop_.failClosed(n.id, EACCES, what, tid, err);
  }
}

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
  const bool addressCall = nr == connectSyscallNr() || nr == bindSyscallNr();
  if (addressCall) {
    // move_addr_to_kernel() fails these lengths with EINVAL, and a length below 2 cannot hold a
    // family: every IP protocol fails it (EINVAL). Register values: the answer cannot race.
    const auto len = static_cast<int32_t>(n.data.args[2]);
    if (len < 2 || len > static_cast<int32_t>(sizeof(sockaddr_storage))) {
      loop_.respondContinue(n.id);
      return std::nullopt;
    }
  } else if (nr == sendmmsgSyscallNr() && static_cast<uint32_t>(n.data.args[2]) == 0) {
    loop_.respondContinue(n.id);  // no message: nothing is sent
    return std::nullopt;
  } else if (nr != sendtoSyscallNr() && nr != sendmsgSyscallNr() && nr != sendmmsgSyscallNr()) {
    loop_.respondContinue(n.id);  // not handed over by the program
    return std::nullopt;
  }

  // A connect's or bind's sockaddr is read first, before the socket is taken: a later successful
  // pidfd_getfd on a cached pidfd then proves that its task, the one that holds this thread id
  // while it lives, was alive after the read (see the end). Its failure is answered only once the
  // fd is known to be open: the kernel checks the fd first (EBADF before EFAULT).
  DecodedCall d;
  CallFacts& f = d.facts;
  int readErr = 0;
  if (addressCall) readErr = readName(tid, n.data.args[1], static_cast<uint32_t>(n.data.args[2]), f.raw);

  // The process's socket, through its (cached) pidfd.
  const int fd = static_cast<int>(n.data.args[0]);
  std::shared_ptr<const TaskEntry> task;
  net::UniqueFd sock;
  bool freshTask = false;
  int err = 0;
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
    if (err == EBADF) {
      // Not an open fd now. Answered here, not continued: the fd could be opened meanwhile.
      loop_.respond(n.id, EBADF, false);
    } else if (err == ESRCH) {
      loop_.failOrDrop(n.id, task ? "pidfd_getfd" : "reading /proc", tid, err);
    } else {
      // EMFILE/ENFILE (the supervisor's fds), EACCES/EPERM (not inspectable): fail closed.
      loop_.failClosed(n.id, EACCES, task ? "pidfd_getfd" : "reading /proc", tid, err);
    }
    return std::nullopt;
  }

  f.id = n.id;
  f.tid = tid;
  f.nr = nr;
  f.pid = task->process.pid;
  // What the socket is: its family comes with its local address (getsockname). A descriptor
  // that is not a socket (ENOTSOCK) or not an IP one has domain 0.
  sockaddr_storage ss{};
  socklen_t ssLen = sizeof ss;
  Endpoint local;
  const int nameRc = ::getsockname(sock.get(), reinterpret_cast<sockaddr*>(&ss), &ssLen);
  const int nameErr = nameRc == 0 ? 0 : errno;
  if (nameRc == 0 && (ss.ss_family == AF_INET || ss.ss_family == AF_INET6)) {
    f.domain = ss.ss_family;
    local.version = f.domain == AF_INET6 ? IpVersion::V6 : IpVersion::V4;
    if (auto ep = net::endpointFromSockaddr(ss, ssLen)) local = *ep;
  } else {
    f.domain = 0;
  }
  if (addressCall && readErr != 0) {
    // bind() looks the socket up before it copies the address, connect() after (both after
    // the fd itself).
    if (nr == bindSyscallNr() && nameErr == ENOTSOCK) {
      loop_.respond(n.id, ENOTSOCK, false);
    } else {
      answerReadFailure(n, readErr, "reading the sockaddr");
    }
    return std::nullopt;
  }
  int proto = 0;
  bool tcpOrUdp = false;
  if (f.domain != 0) {
    // Three options, in one system call where the ring can (net/uring_calls.h).
    net::SocketOption options[] = {{SO_TYPE, &f.type, sizeof f.type},
                                   {SO_PROTOCOL, &proto, sizeof proto},
                                   {SO_COOKIE, &f.cookie, sizeof f.cookie}};
    if (!net::UringSocketOptions::get(sock.get(), options)) {
      getIntOpt(sock.get(), SOL_SOCKET, SO_TYPE, f.type);
      getIntOpt(sock.get(), SOL_SOCKET, SO_PROTOCOL, proto);
      getIntOpt(sock.get(), SOL_SOCKET, SO_COOKIE, f.cookie);
    }
    if (f.type == SOCK_STREAM && (proto == IPPROTO_TCP || proto == IPPROTO_MPTCP)) {
      f.protocol = Protocol::Tcp;
      tcpOrUdp = true;
    } else if (f.type == SOCK_DGRAM && proto == IPPROTO_UDP) {
      f.protocol = Protocol::Udp;
      tcpOrUdp = true;
    }
  }
  f.sock = std::move(sock);
  f.fdNumber = fd;
  d.request.process = task->process;
  d.request.protocol = f.protocol;
  d.request.socketId = f.cookie;
  d.request.local = local;

  bool go = addressCall ? decodeAddressCall(n, d)
                        : (f.domain == 0 || !tcpOrUdp) ? (loop_.respondContinue(n.id), false)
                        : f.protocol == Protocol::Tcp  ? decodeFastOpen(n, d)
                                                       : decodeSend(n, d);
  if (!go) return std::nullopt;
  if (addressCall && !tcpOrUdp && (f.op == CallOp::Connect || f.op == CallOp::Bind)) {
    f.op = f.op == CallOp::Connect ? CallOp::RawConnect : CallOp::RawBind;  // S13.1: TCP/UDP only
    d.ask = false;
  }
  // What was read really is the waiting call's: its task lived throughout. A live pidfd proves
  // it for a cached entry (a live task keeps its id, see task_cache.h): for a connect or bind,
  // pidfd_getfd succeeded on it after the sockaddr was read; a send's message heads are read
  // after it, so its pidfd is polled now. Facts just read from /proc under the id need the
  // kernel's word.
  if (freshTask ? !loop_.stillValid(n.id) : !addressCall && !pidfdAlive(task->pidfd.get())) {
    loop_.failOrDrop(n.id, "the task changed while its call was read", tid, ESRCH);
    return std::nullopt;
  }
  return d;
}

bool CallDecoder::decodeAddressCall(const seccomp_notif& n, DecodedCall& d) {
  CallFacts& f = d.facts;
  const bool bind = n.data.nr == bindSyscallNr();
  f.op = bind ? CallOp::Bind : CallOp::Connect;
  const auto len = static_cast<uint32_t>(n.data.args[2]);  // f.raw: read by decode()
  const bool ipAddress = ipFamily(f.raw);
  if (f.domain == 0) {
    if (!ipAddress) {
      // A non-IP address on a non-IP socket (AF_UNIX, netlink...): the kernel runs it in the
      // application's context. Residual: the fd and the family both swapped in between.
      loop_.respondContinue(n.id);
      return false;
    }
    // An IP address on what is not an IP socket now: performed on the duplicate, the kernel says
    // what it is (EINVAL for AF_UNIX, ENOTSOCK for a file...).
    f.op = bind ? CallOp::RawBind : CallOp::RawConnect;
    d.ask = false;
    return true;
  }
  const size_t readLen = std::min<size_t>(len, net::kMaxSockaddrRead);
  std::optional<Endpoint> requested = net::decodeCallAddress(
      std::span<const uint8_t>(f.raw.bytes.data(), readLen), len, f.domain,
      bind ? net::CallKind::Bind : net::CallKind::Connect, f.protocol == Protocol::Udp);
  if (!requested) {
    // The kernel makes no IP connection/binding of it (AF_UNSPEC disconnect, a bogus family, a
    // short length): performed on the duplicate with these bytes, for the kernel's answer.
    f.op = bind ? CallOp::RawBind : CallOp::RawConnect;
    d.ask = false;
    return true;
  }
  f.requested = *requested;
  if (bind) {
    d.hook = StackHook::Bind;
    d.request.local = *requested;
  } else {
    d.hook = StackHook::Connect;
    d.request.remote = *requested;
    d.request.proxiedRecords = table_.attachedRecords(f.cookie);
  }
  return true;
}

bool CallDecoder::decodeFastOpen(const seccomp_notif& n, DecodedCall& d) {
  CallFacts& f = d.facts;
  const int nr = n.data.nr;
  f.flags = static_cast<int>(n.data.args[nr == sendmsgSyscallNr() ? 2 : 3]);
  if ((f.flags & MSG_FASTOPEN) == 0) {
    // tcp_sendmsg ignores the name of a send without MSG_FASTOPEN. Residual: the fd swapped
    // for an unconnected UDP socket and msg_name rewritten in between.
    loop_.respondContinue(n.id);
    return false;
  }
  if (nr == sendmmsgSyscallNr()) {
    loop_.respond(n.id, EOPNOTSUPP, false);  // a Fast Open sendmmsg is not performed (documented)
    return false;
  }
  MessageHead h;
  int err = 0;
  if (nr == sendtoSyscallNr()) {
    h.direct = true;
    h.iov = n.data.args[1];
    h.iovLen = n.data.args[2];
    h.name = n.data.args[4];
    h.nameLen = static_cast<uint32_t>(n.data.args[5]);
    if (h.name != 0 && static_cast<int32_t>(h.nameLen) < 0) err = EINVAL;
  } else {
    err = readMessageHead(f.tid, n.data.args[1], h);
  }
  if (err == 0) err = readName(f.tid, h.name, h.nameLen, f.raw);
  if (err == 0) err = readDatagram(f.tid, h, f.data);
  if (err != 0) {
    answerReadFailure(n, err, "reading the fast-open send");
    return false;
  }
  std::optional<Endpoint> requested;
  if (f.raw.len != 0) {
    requested = net::decodeCallAddress(
        std::span<const uint8_t>(f.raw.bytes.data(), std::min<size_t>(f.raw.len, net::kMaxSockaddrRead)),
        f.raw.len, f.domain, net::CallKind::Connect, false);
  }
  if (!requested) {
    // No address it could connect to (a connected socket, a deferred connect made earlier and
    // classified then, AF_UNSPEC, a short name): performed as asked, without waiting.
    iovec iov{f.data.payload.data(), f.data.payload.size()};
    msghdr m{};
    m.msg_name = f.raw.len != 0 ? f.raw.bytes.data() : nullptr;
    m.msg_namelen = f.raw.len;
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = f.data.control.empty() ? nullptr : f.data.control.data();
    m.msg_controllen = f.data.control.size();
    ssize_t sent = ::sendmsg(f.sock.get(), &m, (f.flags & ~MSG_ZEROCOPY) | MSG_DONTWAIT | MSG_NOSIGNAL);
    if (sent < 0) {
      loop_.respond(n.id, errno, false);
    } else {
      loop_.respondValue(n.id, sent);
    }
    return false;
  }
  f.op = CallOp::FastOpen;
  f.requested = *requested;
  d.hook = StackHook::Connect;
  d.request.remote = *requested;
  d.request.proxiedRecords = table_.attachedRecords(f.cookie);
  return true;
}

bool CallDecoder::decodeSend(const seccomp_notif& n, DecodedCall& d) {
  CallFacts& f = d.facts;
  const int nr = n.data.nr;
  f.op = CallOp::Send;
  int err = 0;
  if (nr == sendtoSyscallNr()) {
    f.flags = static_cast<int>(n.data.args[3]);
    MessageHead h;
    h.direct = true;
    h.iov = n.data.args[1];
    h.iovLen = n.data.args[2];
    h.name = n.data.args[4];
    h.nameLen = static_cast<uint32_t>(n.data.args[5]);
    // sendto() passes a name of any length to udp_sendmsg (negative or beyond sockaddr_storage:
    // EINVAL), and a zero-length one fails there with EINVAL too.
    if (h.name != 0 && (static_cast<int32_t>(h.nameLen) <= 0 || h.nameLen > sizeof(sockaddr_storage))) {
      err = EINVAL;
    }
    f.heads.push_back(h);
  } else if (nr == sendmsgSyscallNr()) {
    f.flags = static_cast<int>(n.data.args[2]);
    f.heads.resize(1);
    err = readMessageHead(f.tid, n.data.args[1], f.heads[0]);
  } else {
    f.flags = static_cast<int>(n.data.args[3]);
    f.mmsg = n.data.args[1];
    const unsigned vlen = std::min<unsigned>(static_cast<uint32_t>(n.data.args[2]), kMaxMessages);
    err = readMessageHeads(f.tid, f.mmsg, vlen, f.heads);
  }
  if (err == 0) err = readName(f.tid, f.heads[0].name, f.heads[0].nameLen, f.raw);
  if (err != 0) {
    answerReadFailure(n, err, "reading the send");
    return false;
  }
  std::optional<Endpoint> dest = udpSendDestination(f.raw, f.domain, err);
  if (err != 0) {
    loop_.respond(n.id, err, false);  // as udp_sendmsg fails it
    return false;
  }
  if (!dest) {
    d.ask = false;  // to the connected peer (classified at connect), or EDESTADDRREQ
    return true;
  }
  f.requested = *dest;
  if (auto flow = flows_.find(f.cookie, *dest)) {
    f.firstFlow = std::move(flow);
    d.ask = false;  // a known flow: its verdict stands (ALE)
    return true;
  }
  d.hook = StackHook::Connect;
  d.request.remote = *dest;
  return true;
}

}  // namespace openwfp::linux_backend

// linux/datagram.cpp - see datagram.h.
#include "linux/datagram.h"

#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <sys/uio.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstddef>
#include <cstring>

#include "linux/syscalls.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

namespace openwfp::linux_backend {
namespace {

static_assert(sizeof(msghdr) == 56 && sizeof(iovec) == 16 && sizeof(mmsghdr) == 64,
              "the x86-64 layouts of msghdr, iovec and mmsghdr");

std::atomic<TaskMemoryReader> gReader{&sys::readTaskMemory};

// EPERM from reading the task's memory (not inspectable) is told apart from a refused control
// message (EPERM to the application): it becomes EACCES, which the decoder fails closed.
int readMem(pid_t tid, uint64_t addr, void* out, size_t len) {
  int err = gReader.load(std::memory_order_relaxed)(tid, addr, out, len);
  return err == EPERM ? EACCES : err;
}

int headFrom(const msghdr& m, MessageHead& out) {
  out.name = reinterpret_cast<uintptr_t>(m.msg_name);
  // Like __copy_msghdr(): a negative length fails, one beyond sockaddr_storage is clamped.
  if (static_cast<int>(m.msg_namelen) < 0) return EINVAL;
  out.nameLen = std::min<uint32_t>(m.msg_namelen, sizeof(sockaddr_storage));
  if (out.name == 0) out.nameLen = 0;
  out.iov = reinterpret_cast<uintptr_t>(m.msg_iov);
  out.iovLen = m.msg_iovlen;
  out.control = reinterpret_cast<uintptr_t>(m.msg_control);
  out.controlLen = m.msg_controllen;
  return 0;
}

bool allowed(int level, int type) {
  switch (level) {
    case SOL_IP:
      return type == IP_PKTINFO || type == IP_TOS || type == IP_TTL;
    case SOL_IPV6:
      return type == IPV6_PKTINFO || type == IPV6_TCLASS || type == IPV6_HOPLIMIT ||
             type == IPV6_DONTFRAG;
    case SOL_UDP:
      return type == UDP_SEGMENT;
    default:
      return false;  // SO_MARK, SO_PRIORITY, SCM_TXTIME, IP_RETOPTS, ...
  }
}

}  // namespace

TaskMemoryReader setTaskMemoryReader(TaskMemoryReader reader) { return gReader.exchange(reader); }

int readMessageHead(pid_t tid, uint64_t addr, MessageHead& out) {
  msghdr m{};
  if (int err = readMem(tid, addr, &m, sizeof m); err != 0) return err;
  return headFrom(m, out);
}

int readMessageHeads(pid_t tid, uint64_t addr, unsigned count, std::vector<MessageHead>& out) {
  std::vector<mmsghdr> raw(count);
  if (int err = readMem(tid, addr, raw.data(), raw.size() * sizeof(mmsghdr)); err != 0) {
    return err;
  }
  out.resize(count);
  for (unsigned i = 0; i < count; ++i) {
    if (int err = headFrom(raw[i].msg_hdr, out[i]); err != 0) return err;
  }
  return 0;
}

int readName(pid_t tid, uint64_t addr, uint32_t len, RawSockaddr& out) {
  out.len = 0;
  if (addr == 0 || len == 0) return 0;
  if (len > sizeof(sockaddr_storage)) return EINVAL;
  if (int err = readMem(tid, addr, out.bytes.data(), len); err != 0) return err;
  out.len = len;
  return 0;
}

int checkControl(std::span<const uint8_t> control) {
  size_t off = 0;
  while (off + sizeof(cmsghdr) <= control.size()) {
    cmsghdr c;
    std::memcpy(&c, control.data() + off, sizeof c);
    if (c.cmsg_len < sizeof(cmsghdr) || c.cmsg_len > control.size() - off) return EINVAL;
    if (!allowed(c.cmsg_level, c.cmsg_type)) return EPERM;
    off += CMSG_ALIGN(c.cmsg_len);
  }
  return 0;
}

int readDatagram(pid_t tid, const MessageHead& h, Datagram& out) {
  if (!h.direct && h.iovLen > 1024) return EMSGSIZE;  // UIO_MAXIOV
  std::vector<iovec> iov(h.direct ? 1 : h.iovLen);
  if (h.direct) {
    iov[0].iov_base = reinterpret_cast<void*>(static_cast<uintptr_t>(h.iov));
    iov[0].iov_len = h.iovLen;
  } else if (h.iovLen != 0) {
    if (int err = readMem(tid, h.iov, iov.data(), iov.size() * sizeof(iovec)); err != 0) {
      return err;
    }
  }
  size_t total = 0;
  for (const iovec& v : iov) {
    if (static_cast<ssize_t>(v.iov_len) < 0) return EINVAL;
    if (v.iov_len > kMaxDatagram || (total += v.iov_len) > kMaxDatagram) return EMSGSIZE;
  }
  out.payload.resize(total);
  size_t at = 0;
  for (const iovec& v : iov) {
    if (v.iov_len == 0) continue;
    int err = readMem(tid, reinterpret_cast<uintptr_t>(v.iov_base),
                                  out.payload.data() + at, v.iov_len);
    if (err != 0) return err;
    at += v.iov_len;
  }
  out.control.clear();
  if (h.controlLen != 0) {
    if (h.controlLen > INT_MAX) return EINVAL;
    if (h.controlLen > kMaxControl) return ENOBUFS;
    out.control.resize(h.controlLen);
    if (int err = readMem(tid, h.control, out.control.data(), out.control.size()); err != 0) {
      return err;
    }
    if (int err = checkControl(out.control); err != 0) return err;
  }
  return 0;
}

std::optional<Endpoint> udpSendDestination(const RawSockaddr& name, int domain, int& err) {
  err = 0;
  if (name.len == 0) return std::nullopt;
  const uint8_t* b = name.bytes.data();
  sa_family_t family;
  std::memcpy(&family, b, sizeof family);
  auto port = static_cast<uint16_t>((b[2] << 8) | b[3]);
  Endpoint ep;
  ep.port = port;
  auto v4 = [&](bool mapped) -> std::optional<Endpoint> {
    if (name.len < sizeof(sockaddr_in)) {
      err = EINVAL;
      return std::nullopt;
    }
    if (mapped) {
      ep.version = IpVersion::V6;
      ep.addr[10] = ep.addr[11] = 0xff;
      std::memcpy(ep.addr.data() + 12, b + 4, 4);
    } else {
      ep.version = IpVersion::V4;
      std::memcpy(ep.addr.data(), b + 4, 4);
    }
    return ep;
  };
  if (domain == AF_INET) {
    if (name.len < sizeof(sockaddr_in)) {
      err = EINVAL;
      return std::nullopt;
    }
    if (family != AF_INET && family != AF_UNSPEC) {
      err = EAFNOSUPPORT;
      return std::nullopt;
    }
    return v4(false);
  }
  // AF_INET6 (udpv6_sendmsg)
  if (name.len < offsetof(sockaddr, sa_data)) {
    err = EINVAL;
    return std::nullopt;
  }
  switch (family) {
    case AF_INET6:
      if (name.len < 24) {  // SIN6_LEN_RFC2133
        err = EINVAL;
        return std::nullopt;
      }
      ep.version = IpVersion::V6;
      std::memcpy(ep.addr.data(), b + 8, 16);
      return ep;
    case AF_INET:
      return v4(true);
    case AF_UNSPEC:
      return std::nullopt;  // no name
    default:
      err = EINVAL;
      return std::nullopt;
  }
}

int64_t sendDatagram(int fd, const Datagram& d, const sockaddr* to, socklen_t toLen, int flags,
                     bool appBlocking) {
  iovec iov{const_cast<uint8_t*>(d.payload.data()), d.payload.size()};
  msghdr m{};
  m.msg_name = const_cast<sockaddr*>(to);
  m.msg_namelen = to != nullptr ? toLen : 0;
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = d.control.empty() ? nullptr : const_cast<uint8_t*>(d.control.data());
  m.msg_controllen = d.control.size();
  // Never block this thread, never raise SIGPIPE in the supervisor; MSG_ZEROCOPY would keep
  // referring to this buffer after it is freed, and MSG_FASTOPEN means nothing here.
  const int sendFlags = (flags & ~(MSG_ZEROCOPY | MSG_FASTOPEN)) | MSG_DONTWAIT | MSG_NOSIGNAL;
  const bool wait = appBlocking && (flags & MSG_DONTWAIT) == 0;
  int waitMs = kMaxSendWaitMs;
  if (wait) {
    timeval tv{};
    socklen_t len = sizeof tv;
    if (::getsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, &len) == 0 && (tv.tv_sec != 0 || tv.tv_usec != 0)) {
      waitMs = static_cast<int>(std::min<int64_t>(waitMs, tv.tv_sec * 1000 + tv.tv_usec / 1000));
    }
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(waitMs);
  for (;;) {
    ssize_t n = ::sendmsg(fd, &m, sendFlags);
    if (n >= 0) return n;
    const int err = errno;
    if (err == EINTR) continue;
    if (err != EAGAIN || !wait) return -err;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) return -EAGAIN;
    pollfd p{fd, POLLOUT, 0};
    ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left, 50)));
  }
}

}  // namespace openwfp::linux_backend

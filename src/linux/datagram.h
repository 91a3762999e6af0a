// linux/datagram.h - the pieces of a notified sendto()/sendmsg()/sendmmsg() the supervisor needs
// to classify and perform it (S13.7): the message headers, names, payloads and control messages
// read from the task's memory, the destination the kernel would use for a UDP send, the control
// messages that may be passed on, and the send itself on the supervisor's duplicate.
//
// Control messages passed on (the rest fail the call with EPERM, because the supervisor would
// send them with its own privileges, e.g. SO_MARK needs CAP_NET_ADMIN): IP_PKTINFO, IP_TOS,
// IP_TTL, IPV6_PKTINFO, IPV6_TCLASS, IPV6_HOPLIMIT, IPV6_DONTFRAG, UDP_SEGMENT.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "openwfp/stack.h"

namespace openwfp::linux_backend {

// A sockaddr as the task passed it: the bytes the kernel reads (at most sockaddr_storage).
struct RawSockaddr {
  std::array<uint8_t, sizeof(sockaddr_storage)> bytes{};
  uint32_t len = 0;  // 0: no address
  const sockaddr* addr() const { return len == 0 ? nullptr : reinterpret_cast<const sockaddr*>(bytes.data()); }
};

// Largest UDP payload (udp_sendmsg fails a longer one with EMSGSIZE) and control buffer read.
inline constexpr size_t kMaxDatagram = 0xFFFF;
inline constexpr size_t kMaxControl = 4096;
inline constexpr unsigned kMaxMessages = 1024;  // UIO_MAXIOV: sendmmsg's vlen limit

// How the functions below read the task's memory: sys::readTaskMemory's contract (0 or an errno,
// EFAULT for a range that is not readable). The supervisor never changes it; a test or fuzz
// target may read a memory image instead (tests/support/call_decode_properties.h). Returns the
// reader that was in place.
using TaskMemoryReader = int (*)(pid_t tid, uint64_t remoteAddr, void* out, size_t len);
TaskMemoryReader setTaskMemoryReader(TaskMemoryReader reader);

// msghdr fields as the task wrote them (x86-64 layout: 32-bit calls are refused by the filter).
struct MessageHead {
  uint64_t name = 0;
  uint32_t nameLen = 0;  // as the kernel will use it (clamped to sizeof(sockaddr_storage))
  uint64_t iov = 0;
  uint64_t iovLen = 0;
  uint64_t control = 0;
  uint64_t controlLen = 0;
  bool direct = false;  // sendto(): iov/iovLen are the buffer and its length, not an iovec array
};

// Reads the msghdr at addr. 0 or an errno as the kernel would fail the call (EFAULT, EINVAL for
// a negative msg_namelen).
int readMessageHead(pid_t tid, uint64_t addr, MessageHead& out);
// Reads `count` heads of an mmsghdr array (sizeof(mmsghdr) apart).
int readMessageHeads(pid_t tid, uint64_t addr, unsigned count, std::vector<MessageHead>& out);
// Reads the name of a message, or of sendto()'s (addr, len). 0 or EFAULT/EINVAL.
int readName(pid_t tid, uint64_t addr, uint32_t len, RawSockaddr& out);

// Payload and control messages of one message.
struct Datagram {
  std::vector<uint8_t> payload;
  std::vector<uint8_t> control;
};
// Reads the iovecs, their data and the control buffer of h. 0 or errno: EFAULT, EMSGSIZE (more
// than kMaxDatagram bytes or UIO_MAXIOV iovecs), ENOBUFS (control over kMaxControl), EINVAL
// (malformed control), EPERM (a control message not on the list above).
int readDatagram(pid_t tid, const MessageHead& h, Datagram& out);
// The control-message check of readDatagram (0, EINVAL or EPERM).
int checkControl(std::span<const uint8_t> control);

// Where a UDP send with this name goes on a socket of `domain`, as udp_sendmsg/udpv6_sendmsg
// read it: an endpoint; std::nullopt with err 0 = no name (the connected peer, or
// EDESTADDRREQ); err != 0 = the kernel fails the send with it. AF_UNSPEC on an AF_INET socket is
// read as AF_INET (as the kernel does), on an AF_INET6 socket as no name; an AF_INET name on an
// AF_INET6 socket is its v4-mapped address (as for connect, S13.2).
std::optional<Endpoint> udpSendDestination(const RawSockaddr& name, int domain, int& err);

// Sends d on fd (to `to`, or the connected peer when null) with the application's flags, never
// blocking this thread for long: a send that would block on a blocking socket waits for room up
// to the socket's SO_SNDTIMEO, at most kMaxSendWaitMs, and then fails with EAGAIN. Returns the
// byte count or -errno.
inline constexpr int kMaxSendWaitMs = 2000;
int64_t sendDatagram(int fd, const Datagram& d, const sockaddr* to, socklen_t toLen, int flags,
                     bool appBlocking);

}  // namespace openwfp::linux_backend

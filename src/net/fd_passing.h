// net/fd_passing.h - sending and receiving file descriptors (SCM_RIGHTS) and the sender's
// credentials (SCM_CREDENTIALS) on a Unix socket: one sendmsg / recvmsg each, EINTR retried.
// Used by the control channel's frame reader and writer and by the supervisor's listener
// hand-over; the only place in openwfp that builds ancillary data.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "net/unique_fd.h"

namespace openwfp::net {

// One sendmsg(MSG_NOSIGNAL) of bytes, with fd attached when fd >= 0. Returns what sendmsg
// returned (bytes sent, or -1 with errno).
ssize_t sendWithFd(int sock, std::span<const uint8_t> bytes, int fd);

struct Ancillary {
  std::vector<UniqueFd> fds;          // every fd received (MSG_CMSG_CLOEXEC), appended
  std::optional<ucred> credentials;   // SCM_CREDENTIALS of this read, when the socket passes them
  bool truncated = false;             // MSG_CTRUNC: fds beyond the room for maxFds were lost
};

inline constexpr size_t kMaxFdsPerReceive = 8;

// One recvmsg(MSG_CMSG_CLOEXEC) into buf with room for maxFds (at most kMaxFdsPerReceive)
// descriptors and one ucred.
// Returns what recvmsg returned; received fds are appended to anc.fds (and so closed with it),
// anc.credentials is set when this read carried them, anc.truncated on MSG_CTRUNC.
ssize_t receiveWithFds(int sock, std::span<uint8_t> buf, size_t maxFds, Ancillary& anc, int flags = 0);

}  // namespace openwfp::net

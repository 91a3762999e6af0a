// net/uring_calls.h - system calls batched through a per-thread io_uring ring, where one call
// replaces several on the path of every intercepted connect.
//
// Several SOL_SOCKET getsockopt in one call (UringSocketOptions): the supervisor's decoder
// (linux/call_decoder.cpp) reads SO_TYPE, SO_PROTOCOL and SO_COOKIE of every intercepted socket,
// three system calls of about 1 us each on a VM. IORING_OP_URING_CMD with
// SOCKET_URING_OP_GETSOCKOPT (Linux 6.7) does them in one io_uring_enter. The first use in a
// process checks the ring's answers against getsockopt's on a socket of its own; a kernel without
// the command, or any difference, turns it off for the process. Any error on a socket (an LSM
// that checks io_uring commands apart from getsockopt) makes the caller use getsockopt for that
// call, and a refusal (EACCES, EPERM) turns the ring off for the process.
//
// One ring per thread (thread_local, four entries, made on first use). Where io_uring cannot be
// had (a kernel without it, kernel.io_uring_disabled, a container's seccomp policy) or
// OPENWFP_IO_URING=0 is set, nothing is attempted for the whole process and the caller makes
// the calls itself.
//
// Tried and left out: a blocking socket's connect() as one IORING_OP_CONNECT (the kernel
// connects again when the socket is writable, in place of the performer's F_SETFL O_NONBLOCK
// and second connect). The state it leaves the socket in differs between kernels (not marked
// connected after a success before 6.7; left connecting after a refusal since 6.14, so that a
// later connect() says ECONNABORTED; an interrupted io-wq retry completes with EINTR), where a
// blocking connect() leaves one state on every kernel (docs/performance.md).
#pragma once

#include <sys/socket.h>

#include <span>

namespace openwfp::net {

// One SOL_SOCKET option to read: `value` has room for `len` bytes; after a successful get(),
// `len` is the length the kernel wrote.
struct SocketOption {
  int name = 0;
  void* value = nullptr;
  socklen_t len = 0;
};

class UringSocketOptions {
 public:
  // Reads each option (at most four) in one system call. False: not done (no ring, the kernel
  // has no socket commands, or an option failed); read them with getsockopt.
  static bool get(int fd, std::span<SocketOption> options);
};

}  // namespace openwfp::net

// net/uring_calls.h - system calls batched through a per-thread io_uring ring, where one call
// replaces several on the path of every intercepted connect.
//
// A blocking socket's connect() in one call, without making the socket non-blocking
// (UringConnect). The supervisor's performer (linux/performer.cpp) and the verify proxy in place
// (proxy/verify_proxy.cpp) connect the application's own socket (a duplicate of it) on a thread
// that must never wait for a handshake. Without help that is five calls: F_GETFL, F_SETFL
// O_NONBLOCK, connect (EINPROGRESS), connect again (on loopback the handshake is over by then:
// 0), F_SETFL back; and meanwhile the application's other threads could see its socket
// non-blocking (an fcntl one of them makes then can be lost). io_uring's IORING_OP_CONNECT tries
// the connect without blocking whatever the file's flags, and when it says EINPROGRESS, waits
// for the socket to be writable and connects again, in the kernel. On loopback that retry runs
// as task work before io_uring_enter returns to this thread, so the completion is already in the
// ring: one system call (F_GETFL, to know that the application blocks, stays: it is not read
// from anywhere cheaper). When the completion is not there (a handshake still going on: a remote
// peer, a listener whose queue is full), the request is cancelled, which leaves the socket
// connecting as a non-blocking connect would have, and the caller goes on as after EINPROGRESS
// (its waiter).
//
// Several SOL_SOCKET getsockopt in one call (UringSocketOptions): the decoder reads SO_TYPE,
// SO_PROTOCOL and SO_COOKIE of every intercepted socket (IORING_OP_URING_CMD with
// SOCKET_URING_OP_GETSOCKOPT, Linux 6.7). The first use in a process checks the ring's answers
// against getsockopt's on a socket of its own; a kernel without the command, or any difference,
// turns it off for the process.
//
// One ring per thread (thread_local, four entries, made on first use). Where io_uring cannot be
// had (a kernel without it, kernel.io_uring_disabled, a container's seccomp policy) or
// OPENWFP_IO_URING=0 is set, nothing is attempted for the whole process and the callers make
// the calls themselves.
#pragma once

#include <sys/socket.h>

#include <span>

namespace openwfp::net {

struct UringConnectResult {
  bool used = false;       // false: not attempted (no ring); connect yourself
  bool completed = false;  // the connect is over: `error` is its result (0: connected)
  int error = 0;           // errno of the finished connect (completed), else 0
};

// One SOL_SOCKET option to read: `value` has room for `len` bytes; on return `len` is the
// length the kernel wrote and `error` 0 or the errno getsockopt would have set.
struct SocketOption {
  int name = 0;
  void* value = nullptr;
  socklen_t len = 0;
  int error = 0;
};

class UringSocketOptions {
 public:
  // Reads each option (at most four) in one system call. False: not attempted (no ring, or the
  // kernel has no socket commands); read them with getsockopt.
  static bool get(int fd, std::span<SocketOption> options);
};

class UringConnect {
 public:
  // Whether this process performs connects with io_uring (decided once).
  static bool available();
  // Connects `fd` (a socket the application set blocking) to sa. completed == false with
  // used == true: the handshake goes on, as after a non-blocking connect's EINPROGRESS.
  static UringConnectResult connect(int fd, const sockaddr* sa, socklen_t len);
};

}  // namespace openwfp::net

// control/client_connection.h - the client side of the control channel (openwfp/control.h): the
// process's connection to the engine named by $OPENWFP_SOCKET.
//
// One connection per process, made on first use and made again after fork() (a child never
// shares its parent's connection, so the engine sees each process's own credentials). Requests
// from any thread are written under a mutex; a reader thread hands each reply to the thread
// waiting for its request id, so a pended device IOCTL of one thread does not hold up the
// others. When the connection breaks, waiting and later calls fail with EIO (one log line), and
// the next call connects again.
//
// What uses it:
//   * a SocketBackend registered at library load that owns every fd below sim::kFirstFd while
//     OPENWFP_SOCKET is set, and forwards control() (openwfp_ioctl / WSAIoctl) with the fd;
//     without OPENWFP_SOCKET it owns nothing and the OS-socket fallback answers as before;
//   * the device API of openwfp/device.h (remote handles).
#pragma once

#include <cerrno>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "control/protocol.h"

namespace openwfp::control {

// $OPENWFP_SOCKET, or "" when unset or empty.
std::string controlSocketPath();

class ControlClient {
 public:
  // This process's connection (connecting now if needed). nullptr with err set (ENOENT when
  // OPENWFP_SOCKET is unset; EIO when the socket cannot be reached) otherwise.
  static std::shared_ptr<ControlClient> forProcess(int& err);

  virtual ~ControlClient() = default;
  // Sends request (with fd >= 0 passed by SCM_RIGHTS) and waits for its reply. Returns 0;
  // ECONNRESET when the request could not be sent (the connection is broken; nothing reached
  // the engine, so sending it on a new connection is safe); EBADF when fd could not be passed
  // (closed meanwhile; nothing was sent); EIO when the connection broke while waiting.
  virtual int call(const Message& request, int fd, Message& reply) = 0;
  // Pipelining (a thread's own connection only): post() sends request and returns at once with
  // its id in *id; its reply is kept when a later call() reads it, and collect(id) returns it
  // (reading until it arrives). EOPNOTSUPP on the process connection (send with call() then).
  virtual int post(const Message& request, int fd, uint64_t* id) {
    (void)request;
    (void)fd;
    (void)id;
    return EOPNOTSUPP;
  }
  virtual int collect(uint64_t id, Message& reply) {
    (void)id;
    (void)reply;
    return EOPNOTSUPP;
  }
  // The process that made the connection (a forked child must not use it).
  virtual int ownerPid() const = 0;
};

struct ThreadChannel;

// The calling thread's own connection (openwfp choice, for a proxy's workers). While the object
// lives, the socket controls of this thread and the device handles it opens use a connection
// that only this thread writes and reads: a reply, a completed pended IOCTL included, reaches the
// waiting thread directly instead of through the process connection's reader thread. Handles
// opened meanwhile live on that connection: use and close them on this thread only. shutdown()
// (from any thread) breaks the connection: a call waiting on it fails with EIO, later ones too,
// and the engine closes the handles opened on it (IRP_MJ_CLEANUP, IRP_MJ_CLOSE). Create and
// destroy it on the same thread; the destructor shuts the connection down.
class ThreadConnection {
 public:
  ThreadConnection();
  ~ThreadConnection();
  ThreadConnection(const ThreadConnection&) = delete;
  ThreadConnection& operator=(const ThreadConnection&) = delete;
  void shutdown();

 private:
  std::shared_ptr<ThreadChannel> channel_;
  ThreadChannel* previous_ = nullptr;
};

// Sends request on this process's connection, and once more on a new connection when it could
// not be sent. 0 (*used = the connection that answered, when given), EBADF (fd could not be
// passed), or EIO (the channel is unusable; logged once).
int callFresh(const Message& request, int fd, Message& reply,
              std::shared_ptr<ControlClient>* used = nullptr);

// A socket control sent without waiting for its reply (the thread's own connection), so that
// the next request can follow it at once; collectSocketControl gives its result. postSocketControl
// returns 0, or EOPNOTSUPP when the calling thread has no connection of its own (use
// openwfp_ioctl), or the error that kept it from being sent.
struct PostedControl {
  std::shared_ptr<ControlClient> client;
  uint64_t id = 0;
};
int postSocketControl(int fd, uint32_t code, const void* in, size_t inLen, PostedControl& posted);
int collectSocketControl(PostedControl& posted);  // the control's result: 0 or an errno
// openwfp_device_ioctl on a remote handle of the same connection as `first`, written right
// behind it: then first's result is collected and given to firstDone (before this IOCTL's
// reply, which may wait long: an IOCTL the driver pends), then this IOCTL's reply is waited for.
// Returns as openwfp_device_ioctl; EOPNOTSUPP (nothing sent) when the handle is not remote on
// that connection, and then first is still to be collected.
int deviceIoctlAfter(PostedControl& first, const std::function<void(int)>& firstDone, int handle, uint32_t code,
                     const void* in, size_t inLen, void* out, size_t outLen, size_t* returned);
// openwfp_device_ioctl on a remote handle of the calling thread's own connection, with
// meanwhile() run once the request is written (before its reply, which may wait long); sameAs:
// the handle must live on that connection. Returns as openwfp_device_ioctl; EOPNOTSUPP (nothing
// sent, meanwhile not run) for a local handle or one on the process connection.
int deviceIoctlWhile(int handle, uint32_t code, const void* in, size_t inLen, void* out, size_t outLen,
                     size_t* returned, const std::function<void()>& meanwhile, const ControlClient* sameAs = nullptr);

}  // namespace openwfp::control

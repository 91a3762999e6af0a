// winsock/control_client.cpp - the process's control channel connection, the SocketBackend that
// forwards socket controls over it, and the device API of openwfp/device.h (remote handles over
// the channel, local handles straight into src/kapi/device_io).
//
// Locking: gMu guards gConnection (taken around fork by pthread_atfork handlers);
// Connection::writeMu guards writes on its socket; Connection::mu guards its pending replies and
// `broken`; gHandlesMu guards the device handle table.
#include "winsock/control_client.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include <spdlog/spdlog.h>

#include "kapi/device_io.h"
#include "linux/control_io.h"
#include "openwfp/control.h"
#include "openwfp/device.h"
#include "openwfp/sim.h"
#include "winsock/socket_registry.h"

namespace openwfp::winsock {
namespace {

using control::Message;

void logUnusable(const std::string& path, const std::string& what) {
  static std::mutex mu;
  static std::set<std::string> logged;
  std::lock_guard lock(mu);
  if (logged.insert(path).second) {
    spdlog::error("openwfp: control socket unusable: {} {}", what, path);
  }
}

class Connection final : public ControlClient, public std::enable_shared_from_this<Connection> {
 public:
  Connection(int fd, int owner, std::string path) : fd_(fd), owner_(owner), path_(std::move(path)) {}
  ~Connection() override {
    if (fd_ >= 0) ::close(fd_);
  }

  void startReader() {
    std::thread([self = shared_from_this()] { self->readLoop(); }).detach();
  }

  int call(const Message& request, int fd, Message& reply) override {
    const uint64_t id = nextRequest_.fetch_add(1);
    std::vector<uint8_t> frame;
    try {
      frame = control::encode(id, request);
    } catch (...) {
      return EINVAL;
    }
    Waiter waiter;
    {
      std::lock_guard lock(mu_);
      if (broken_) return EIO;
      pending_.emplace(id, &waiter);
    }
    bool written;
    int writeErr = 0;
    {
      std::lock_guard lock(writeMu_);
      written = control::writeFrame(fd_, frame, fd);
      if (!written) writeErr = errno;
    }
    std::unique_lock lock(mu_);
    if (!written) {
      pending_.erase(id);
      // The descriptor to pass was closed meanwhile: nothing was sent, the connection is fine.
      if (fd >= 0 && writeErr == EBADF) return EBADF;
      breakLocked("write failed");
      return ECONNRESET;  // not sent: safe to send again on a new connection
    }
    waiter.cv.wait(lock, [&] { return broken_ || waiter.reply.has_value(); });
    pending_.erase(id);
    if (!waiter.reply) return EIO;
    reply = std::move(*waiter.reply);
    return 0;
  }

  int ownerPid() const override { return owner_; }
  const std::string& path() const { return path_; }
  bool broken() const {
    std::lock_guard lock(mu_);
    return broken_;
  }
  // In a forked child: the parent's connection must not be used; close our copy of the socket.
  void abandonInChild() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  void readLoop() {
    control::ReceivedFrame frame;
    for (;;) {
      control::ReadStatus st = control::readFrame(fd_, frame);
      if (st != control::ReadStatus::Ok) {
        std::lock_guard lock(mu_);
        breakLocked(st == control::ReadStatus::Eof ? "closed by the engine" : "bad reply from the engine");
        return;
      }
      std::lock_guard lock(mu_);
      auto it = pending_.find(frame.header.request);
      if (it != pending_.end()) {
        it->second->reply = std::move(frame.message);
        it->second->cv.notify_one();  // only the caller waiting for this reply
      }
    }
  }

  void breakLocked(const char* why) {
    if (!broken_) {
      broken_ = true;
      spdlog::warn("openwfp: control channel connection lost ({})", why);
      ::shutdown(fd_, SHUT_RDWR);
    }
    for (auto& [id, waiter] : pending_) waiter->cv.notify_one();
  }

  int fd_;
  int owner_;
  std::string path_;
  std::atomic<uint64_t> nextRequest_{1};
  std::mutex writeMu_;
  mutable std::mutex mu_;  // guards pending_ and broken_
  // A call waiting for its reply: each has its own condition variable, so that a reply wakes
  // only its caller (a proxy keeps several requests outstanding on one connection).
  struct Waiter {
    std::condition_variable cv;
    std::optional<Message> reply;
  };
  std::map<uint64_t, Waiter*> pending_;  // the Waiter lives on its caller's stack
  bool broken_ = false;
};

// A connection only one thread uses (ThreadConnection): call() writes the request and reads
// the reply itself, no reader thread in between. shutdown() may come from any thread.
class DirectConnection final : public ControlClient {
 public:
  explicit DirectConnection(int fd) : fd_(fd), owner_(static_cast<int>(::getpid())) {}
  ~DirectConnection() override { ::close(fd_); }

  int call(const Message& request, int fd, Message& reply) override {
    if (broken_) return EIO;
    const uint64_t id = nextRequest_++;
    std::vector<uint8_t> frame;
    try {
      frame = control::encode(id, request);
    } catch (...) {
      return EINVAL;
    }
    if (!control::writeFrame(fd_, frame, fd)) {
      if (fd >= 0 && errno == EBADF) return EBADF;
      broken_ = true;
      return ECONNRESET;
    }
    control::ReceivedFrame got;
    for (;;) {
      if (control::readFrame(fd_, got) != control::ReadStatus::Ok) {
        broken_ = true;
        return EIO;
      }
      if (got.header.request == id) break;  // anything else is a reply to nothing of ours
    }
    reply = std::move(got.message);
    return 0;
  }
  int ownerPid() const override { return owner_; }
  bool broken() const { return broken_; }
  void shutdown() { ::shutdown(fd_, SHUT_RDWR); }

 private:
  int fd_;
  int owner_;
  uint64_t nextRequest_ = 1;
  bool broken_ = false;  // only the owning thread reads and writes it
};

}  // namespace

// The state of a ThreadConnection, shared with the thread's thread_local pointer.
struct ThreadChannel {
  std::mutex mu;  // guards conn and shut (shutdown() comes from other threads)
  std::shared_ptr<DirectConnection> conn;
  bool shut = false;
};

namespace {

thread_local ThreadChannel* tlsChannel = nullptr;

int connectSocket(const std::string& path);

std::mutex gMu;                                    // guards gConnection
std::shared_ptr<Connection>* gConnection = nullptr;  // never freed: usable at exit

void atforkPrepare() { gMu.lock(); }
void atforkParent() { gMu.unlock(); }
void atforkChild() {
  if (gConnection != nullptr && *gConnection) {
    (*gConnection)->abandonInChild();
    // Its mutexes may have been held by threads that do not exist here: leak it.
    new std::shared_ptr<Connection>(std::move(*gConnection));
    gConnection->reset();
  }
  gMu.unlock();
}

// A connected Unix stream socket to the engine, or -1 (logged once per path).
int connectSocket(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    logUnusable(path, "path too long:");
    return -1;
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int rc;
  do {
    rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    logUnusable(path, std::string("cannot connect (") + std::strerror(errno) + "):");
    ::close(fd);
    return -1;
  }
  return fd;
}

std::shared_ptr<Connection> connectTo(const std::string& path, int& err) {
  int fd = connectSocket(path);
  if (fd < 0) {
    err = EIO;
    return nullptr;
  }
  auto conn = std::make_shared<Connection>(fd, static_cast<int>(::getpid()), path);
  conn->startReader();
  return conn;
}

// The calling thread's own connection, when it has a ThreadConnection.
std::shared_ptr<ControlClient> threadConnection(const std::string& path, int& err) {
  std::lock_guard lock(tlsChannel->mu);
  if (tlsChannel->shut) {
    err = EIO;
    return nullptr;
  }
  auto& conn = tlsChannel->conn;
  if (!conn || conn->broken() || conn->ownerPid() != ::getpid()) {
    int fd = connectSocket(path);
    if (fd < 0) {
      err = EIO;
      return nullptr;
    }
    conn = std::make_shared<DirectConnection>(fd);
  }
  return conn;
}

}  // namespace

// Sends request on this process's connection; when it could not be sent (the connection had
// broken without our noticing yet), once more on a new connection. 0 or EIO.
int callFresh(const control::Message& request, int fd, control::Message& reply,
              std::shared_ptr<ControlClient>* used) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    int err = 0;
    auto client = ControlClient::forProcess(err);
    if (!client) return EIO;
    const int rc = client->call(request, fd, reply);
    if (rc == ECONNRESET) continue;
    if (rc == EBADF) return EBADF;
    if (rc != 0) return EIO;
    if (used != nullptr) *used = std::move(client);
    return 0;
  }
  return EIO;
}

namespace {

// ---- socket controls over the channel -------------------------------------------------------

class ChannelSocketBackend final : public SocketBackend {
 public:
  bool owns(int fd) const override { return fd >= 0 && fd < sim::kFirstFd && !controlSocketPath().empty(); }
  int describe(int fd, SocketFacts& facts) const override { return osSocketBackend()->describe(fd, facts); }
  int attachRecords(int, std::shared_ptr<redirect::History>) override { return EOPNOTSUPP; }

  int control(int fd, const ControlCall& call) override {
    if (call.in == nullptr && call.inLen != 0) return EFAULT;
    if (call.inLen > control::kMaxBuffer) return EINVAL;  // no records blob is that long
    if (::fcntl(fd, F_GETFD) < 0) return ENOTSOCK;
    control::SocketControlRequest req;
    req.code = call.code;
    req.outLen = static_cast<uint32_t>(std::min(call.outLen, control::kMaxBuffer));
    if (call.inLen > 0) req.in.assign(static_cast<const uint8_t*>(call.in), static_cast<const uint8_t*>(call.in) + call.inLen);
    Message reply;
    if (int rc = callFresh(req, fd, reply); rc != 0) return rc == EBADF ? ENOTSOCK : rc;
    auto* r = std::get_if<control::SocketControlReply>(&reply);
    if (r == nullptr) {
      if (auto* e = std::get_if<control::ErrorReply>(&reply)) return e->err != 0 ? e->err : EIO;
      return EIO;
    }
    if (r->err == 0) {
      if (r->out.size() > call.outLen || r->out.size() != r->returned) return EIO;
      if (!r->out.empty()) std::memcpy(call.out, r->out.data(), r->out.size());
    }
    if (call.returned != nullptr && (r->err == 0 || r->err == ENOBUFS)) {
      *call.returned = static_cast<size_t>(r->returned);
    }
    return r->err;
  }
};

// Registered at load: owns fds only while OPENWFP_SOCKET is set (checked per call).
struct ChannelRegistration {
  ChannelRegistration() {
    pthread_atfork(atforkPrepare, atforkParent, atforkChild);
    registration = SocketRegistry::instance().add(std::make_shared<ChannelSocketBackend>());
  }
  SocketRegistry::Registration registration;
};
ChannelRegistration gChannelRegistration;

}  // namespace

std::string controlSocketPath() {
  const char* p = std::getenv(control::kSocketEnv);
  return p == nullptr ? std::string() : std::string(p);
}

std::shared_ptr<ControlClient> ControlClient::forProcess(int& err) {
  const std::string path = controlSocketPath();
  if (path.empty()) {
    err = ENOENT;
    return nullptr;
  }
  if (tlsChannel != nullptr) return threadConnection(path, err);
  std::lock_guard lock(gMu);
  if (gConnection == nullptr) gConnection = new std::shared_ptr<Connection>();
  if (*gConnection && !(*gConnection)->broken() && (*gConnection)->ownerPid() == ::getpid() &&
      (*gConnection)->path() == path) {
    return *gConnection;
  }
  *gConnection = connectTo(path, err);
  return *gConnection;
}

ThreadConnection::ThreadConnection() : channel_(std::make_shared<ThreadChannel>()) {
  previous_ = tlsChannel;
  tlsChannel = channel_.get();
}

ThreadConnection::~ThreadConnection() {
  tlsChannel = previous_;
  shutdown();
}

void ThreadConnection::shutdown() {
  std::lock_guard lock(channel_->mu);
  channel_->shut = true;
  if (channel_->conn) channel_->conn->shutdown();
}

}  // namespace openwfp::winsock

// ---- device API (openwfp/device.h) ----------------------------------------------------------

namespace {

using openwfp::kapi::device::IoResult;
namespace kdev = openwfp::kapi::device;
namespace ctl = openwfp::control;

thread_local int32_t tlsLastStatus = 0;

struct DeviceHandle {
  // Local: the file object in this process.
  std::shared_ptr<kdev::File> local;
  uint64_t localPid = 0;
  // Remote: the engine's handle on this process's connection.
  std::shared_ptr<openwfp::winsock::ControlClient> remote;
  uint32_t remoteHandle = 0;
};

std::mutex gHandlesMu;  // guards gHandles and gNextHandle
std::map<int, std::shared_ptr<DeviceHandle>> gHandles;
int gNextHandle = 1;

int failWith(int32_t status, int err) {
  tlsLastStatus = status;
  errno = err;
  return -1;
}

int addHandle(std::shared_ptr<DeviceHandle> h) {
  std::lock_guard lock(gHandlesMu);
  int id = gNextHandle;
  while (gHandles.count(id) != 0 || id <= 0) id = id <= 0 ? 1 : id + 1;
  gNextHandle = id + 1;
  gHandles.emplace(id, std::move(h));
  return id;
}

std::shared_ptr<DeviceHandle> findHandle(int handle) {
  std::lock_guard lock(gHandlesMu);
  auto it = gHandles.find(handle);
  return it == gHandles.end() ? nullptr : it->second;
}

int openLocal(const char* path, uint64_t pid) {
  int32_t status = 0;
  auto file = kdev::open(path, pid, status);
  if (!file) return failWith(status, kdev::errnoFromStatus(status));
  auto h = std::make_shared<DeviceHandle>();
  h->local = std::move(file);
  h->localPid = pid;
  tlsLastStatus = status;
  return addHandle(std::move(h));
}

int openRemote(const char* path) {
  if (std::strlen(path) > ctl::kMaxPath || path[0] == '\0') {
    return failWith(kdev::kStatusObjectNameInvalid, EINVAL);
  }
  ctl::Message reply;
  std::shared_ptr<openwfp::winsock::ControlClient> client;  // the connection the handle lives on
  if (openwfp::winsock::callFresh(ctl::DeviceOpenRequest{path}, -1, reply, &client) != 0) {
    return failWith(kdev::kStatusUnsuccessful, EIO);
  }
  auto* r = std::get_if<ctl::DeviceOpenReply>(&reply);
  if (r == nullptr) return failWith(kdev::kStatusUnsuccessful, EIO);
  if (r->status < 0) return failWith(r->status, kdev::errnoFromStatus(r->status));
  auto h = std::make_shared<DeviceHandle>();
  h->remote = std::move(client);
  h->remoteHandle = r->handle;
  tlsLastStatus = r->status;
  return addHandle(std::move(h));
}

// Copies a completed request's output and sets errno / the last status.
int deliver(int32_t status, const std::vector<uint8_t>& output, void* out, size_t outLen, size_t* returned) {
  tlsLastStatus = status;
  if (output.size() > outLen) return failWith(kdev::kStatusUnsuccessful, EIO);
  if ((static_cast<uint32_t>(status) >> 30) != 3) {  // not NT_ERROR: output is delivered
    if (!output.empty()) std::memcpy(out, output.data(), output.size());
    if (returned != nullptr) *returned = output.size();
  }
  const int err = kdev::errnoFromStatus(status);
  if (err != 0) {
    errno = err;
    return -1;
  }
  return 0;
}

int ioctlImpl(int handle, uint32_t code, const void* in, size_t inLen, void* out, size_t outLen, size_t* returned,
              std::optional<uint64_t> pid) {
  if (returned != nullptr) *returned = 0;
  auto h = findHandle(handle);
  if (!h) return failWith(kdev::kStatusInvalidHandle, EBADF);
  if ((in == nullptr && inLen != 0) || (out == nullptr && outLen != 0)) {
    return failWith(kdev::kStatusInvalidUserBuffer, EFAULT);
  }
  if (inLen > kdev::kMaxBuffer || outLen > kdev::kMaxBuffer) return failWith(kdev::kStatusInvalidParameter, EINVAL);
  std::span<const uint8_t> input(static_cast<const uint8_t*>(in), inLen);
  if (h->local) {
    IoResult r = kdev::ioctlSync(h->local, code, input, outLen, pid.value_or(static_cast<uint64_t>(::getpid())));
    return deliver(r.status, r.output, out, outLen, returned);
  }
  if (h->remote->ownerPid() != ::getpid()) return failWith(kdev::kStatusInvalidHandle, EBADF);
  ctl::DeviceIoctlRequest req;
  req.handle = h->remoteHandle;
  req.code = code;
  req.outLen = static_cast<uint32_t>(outLen);
  req.in.assign(input.begin(), input.end());
  ctl::Message reply;
  if (h->remote->call(req, -1, reply) != 0) return failWith(kdev::kStatusUnsuccessful, EIO);
  auto* r = std::get_if<ctl::DeviceIoctlReply>(&reply);
  if (r == nullptr) return failWith(kdev::kStatusUnsuccessful, EIO);
  return deliver(r->status, r->out, out, outLen, returned);
}

int closeImpl(int handle, std::optional<uint64_t> pid) {
  std::shared_ptr<DeviceHandle> h;
  {
    std::lock_guard lock(gHandlesMu);
    auto it = gHandles.find(handle);
    if (it != gHandles.end()) {
      h = std::move(it->second);
      gHandles.erase(it);
    }
  }
  if (!h) return failWith(kdev::kStatusInvalidHandle, EBADF);
  int32_t status;
  if (h->local) {
    status = kdev::close(h->local, pid.value_or(h->localPid));
  } else {
    if (h->remote->ownerPid() != ::getpid()) return failWith(kdev::kStatusInvalidHandle, EBADF);
    ctl::Message reply;
    if (h->remote->call(ctl::DeviceCloseRequest{h->remoteHandle}, -1, reply) != 0) {
      return failWith(kdev::kStatusUnsuccessful, EIO);
    }
    auto* r = std::get_if<ctl::DeviceCloseReply>(&reply);
    if (r == nullptr) return failWith(kdev::kStatusUnsuccessful, EIO);
    status = r->status;
  }
  // As CloseHandle: the handle is closed whatever the driver's CLEANUP returned.
  tlsLastStatus = status;
  return 0;
}

}  // namespace

extern "C" int openwfp_device_open(const char* path) {
  try {
    if (path == nullptr) return failWith(kdev::kStatusInvalidParameter, EFAULT);
    if (!openwfp::winsock::controlSocketPath().empty()) return openRemote(path);
    return openLocal(path, static_cast<uint64_t>(::getpid()));
  } catch (...) {
    return failWith(kdev::kStatusInsufficientResources, ENOMEM);
  }
}

extern "C" int openwfp_device_ioctl(int handle, uint32_t code, const void* in, size_t in_len, void* out,
                                    size_t out_len, size_t* returned) {
  try {
    return ioctlImpl(handle, code, in, in_len, out, out_len, returned, std::nullopt);
  } catch (...) {
    return failWith(kdev::kStatusInsufficientResources, ENOMEM);
  }
}

extern "C" int openwfp_device_close(int handle) {
  try {
    return closeImpl(handle, std::nullopt);
  } catch (...) {
    return failWith(kdev::kStatusInsufficientResources, ENOMEM);
  }
}

extern "C" int32_t openwfp_device_last_status(void) { return tlsLastStatus; }

namespace openwfp::device {

int open(const char* path, uint64_t requestorPid) {
  try {
    if (path == nullptr) return failWith(kdev::kStatusInvalidParameter, EFAULT);
    return openLocal(path, requestorPid);
  } catch (...) {
    return failWith(kdev::kStatusInsufficientResources, ENOMEM);
  }
}

int ioctl(int handle, uint32_t code, const void* in, size_t inLen, void* out, size_t outLen, size_t* returned,
          uint64_t requestorPid) {
  try {
    return ioctlImpl(handle, code, in, inLen, out, outLen, returned, requestorPid);
  } catch (...) {
    return failWith(kdev::kStatusInsufficientResources, ENOMEM);
  }
}

int close(int handle, uint64_t requestorPid) {
  try {
    return closeImpl(handle, requestorPid);
  } catch (...) {
    return failWith(kdev::kStatusInsufficientResources, ENOMEM);
  }
}

}  // namespace openwfp::device

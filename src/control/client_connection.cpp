// control/client_connection.cpp - the process's control channel connection (and a thread's own,
// ThreadConnection): connect, write requests, the reader thread that hands each reply to its
// waiting thread, abandonment in a forked child.
//
// Locking: gMu guards gConnection (taken around fork by pthread_atfork handlers);
// Connection::writeMu guards writes on its socket; Connection::mu guards its pending replies and
// `broken`; ThreadChannel::mu guards a thread connection's conn and shut.
#include "control/client_connection.h"

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
#include <optional>
#include <mutex>
#include <set>
#include <thread>
#include <spdlog/spdlog.h>
#include "control/frame_io.h"
#include "km/device_io.h"
#include "openwfp/control.h"

namespace openwfp::control {
namespace {

// A device IOCTL reply's descriptor (the only reply that may carry one) joins its message; any
// other descriptor that came with a reply is closed.
Message takeMessage(ReceivedFrame& f) {
  if (!f.fds.empty()) {
    if (auto* r = std::get_if<DeviceIoctlReply>(&f.message)) {
      r->descriptor = km::device::adoptDescriptor(f.fds[0].release());
    }
    f.fds.clear();
  }
  return std::move(f.message);
}

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
  // log_ keeps the logger of the time of connecting alive: the process connection is never
  // freed and its detached reader may report a broken connection while the process exits, after
  // spdlog's registry (and with it the default logger) has been destroyed.
  Connection(int fd, int owner, std::string path)
      : fd_(fd), owner_(owner), path_(std::move(path)), log_(spdlog::default_logger()) {}
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
      frame = encode(id, request);
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
      written = writeFrame(fd_, frame, fd);
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
    ReceivedFrame frame;
    for (;;) {
      ReadStatus st = readFrame(fd_, frame);
      if (st != ReadStatus::Ok) {
        std::lock_guard lock(mu_);
        breakLocked(st == ReadStatus::Eof ? "closed by the engine" : "bad reply from the engine");
        return;
      }
      std::lock_guard lock(mu_);
      auto it = pending_.find(frame.header.request);
      if (it != pending_.end()) {
        it->second->reply = takeMessage(frame);
        it->second->cv.notify_one();  // only the caller waiting for this reply
      }
    }
  }

  void breakLocked(const char* why) {
    if (!broken_) {
      broken_ = true;
      log_->warn("openwfp: control channel connection lost ({})", why);
      ::shutdown(fd_, SHUT_RDWR);
    }
    for (auto& [id, waiter] : pending_) waiter->cv.notify_one();
  }

  int fd_;
  int owner_;
  std::string path_;
  std::shared_ptr<spdlog::logger> log_;
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
      frame = encode(id, request);
    } catch (...) {
      return EINVAL;
    }
    if (!writeFrame(fd_, frame, fd)) {
      if (fd >= 0 && errno == EBADF) return EBADF;
      broken_ = true;
      return ECONNRESET;
    }
    return collect(id, reply);
  }
  int post(const Message& request, int fd, uint64_t* id) override {
    if (broken_) return EIO;
    *id = nextRequest_++;
    std::vector<uint8_t> frame;
    try {
      frame = encode(*id, request);
    } catch (...) {
      return EINVAL;
    }
    if (!writeFrame(fd_, frame, fd)) {
      if (fd >= 0 && errno == EBADF) return EBADF;
      broken_ = true;
      return ECONNRESET;
    }
    posted_[*id];  // its reply is kept when it comes during another call
    return 0;
  }
  int collect(uint64_t id, Message& reply) override {
    if (auto it = posted_.find(id); it != posted_.end() && it->second) {
      reply = std::move(*it->second);
      posted_.erase(it);
      return 0;
    }
    if (broken_) return EIO;
    ReceivedFrame got;
    for (;;) {
      if (readFrame(fd_, got) != ReadStatus::Ok) {
        broken_ = true;
        posted_.clear();
        return EIO;
      }
      if (got.header.request == id) break;
      // A posted request's reply is kept; anything else is a reply to nothing of ours.
      if (auto it = posted_.find(got.header.request); it != posted_.end()) it->second = takeMessage(got);
    }
    posted_.erase(id);
    reply = takeMessage(got);
    return 0;
  }
  int ownerPid() const override { return owner_; }
  bool broken() const { return broken_; }
  void shutdown() { ::shutdown(fd_, SHUT_RDWR); }

 private:
  int fd_;
  int owner_;
  uint64_t nextRequest_ = 1;
  bool broken_ = false;  // only the owning thread reads and writes it (so is posted_)
  std::map<uint64_t, std::optional<Message>> posted_;  // posted requests -> their reply once read
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

// The process connection is abandoned in a forked child (pthread_atfork, registered at load).
struct AtforkRegistration {
  AtforkRegistration() { pthread_atfork(atforkPrepare, atforkParent, atforkChild); }
};
AtforkRegistration gAtforkRegistration;

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
int callFresh(const Message& request, int fd, Message& reply,
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

// OPENWFP_SOCKET (set in the processes a session starts), else OPENWFP_ENGINE (the engine
// service's socket: a proxy outside any session reaches the engine there).
std::string controlSocketPath() {
  if (const char* p = std::getenv(kSocketEnv); p != nullptr && p[0] != '\0') return p;
  if (const char* e = std::getenv(kEngineEnv); e != nullptr && e[0] != '\0') return e;
  return std::string();
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

}  // namespace openwfp::control

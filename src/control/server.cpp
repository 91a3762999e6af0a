// control/server.cpp - the engine side of the control channel (openwfp/control.h,
// docs/control-channel.md).
//
// Threads: acceptLoop (poll on the listener and a wake pipe) and one clientLoop per connection.
// Limits (S14.9): admit() decides on a new connection (maxClients, maxClientsPerUid,
// alwaysServe); clientLoop reads with the frame deadline; acceptLoop backs off while accept4
// fails for want of descriptors or memory.
// Locking: Impl::mu guards clients, perUid, threads and the lookup; Client::writeMu guards writes to the
// client's socket and `closed`; Client::handlesMu guards its device handles. A completion
// callback of a pended IOCTL takes only its Client's writeMu.
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <system_error>
#include <thread>

#include <spdlog/spdlog.h>

#include "km/device_io.h"
#include "control/frame_io.h"
#include "control/received_socket.h"
#include "net/unique_fd.h"
#include "openwfp/control.h"
#include "openwfp/openwfp.h"
#include "winsock/control_rules.h"

namespace openwfp::control {

using net::UniqueFd;

namespace {

std::string errorLine(const std::string& step, const std::string& path, int err) {
  return "openwfp: control socket unusable: " + step + " " + path + ": " + std::strerror(err);
}

std::string defaultParent() {
  if (const char* xdg = std::getenv("XDG_RUNTIME_DIR"); xdg != nullptr && xdg[0] == '/') {
    struct stat st {};
    if (::stat(xdg, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & S_IXOTH) != 0) return xdg;
  }
  if (const char* tmp = std::getenv("TMPDIR"); tmp != nullptr && tmp[0] == '/') return tmp;
  return "/tmp";
}

struct Client {
  uint64_t id = 0;
  net::UniqueFd sock;
  pid_t peerPid = 0;  // SO_PEERCRED at accept
  uid_t peerUid = 0;
  gid_t peerGid = 0;
  std::mutex writeMu;  // guards writes on sock and `closed`
  bool closed = false;
  std::mutex handlesMu;  // guards handles / nextHandle
  struct Handle {
    std::shared_ptr<km::device::File> file;
    uint64_t openerPid = 0;
  };
  std::map<uint32_t, Handle> handles;
  uint32_t nextHandle = 1;

  // Replies the connection's reader thread writes while the client's next request is already
  // waiting are held back and written together when the reader would wait (flushHeld): a
  // client that sends requests back to back (a proxy's hand-off offer and its outcome) is woken
  // once, after the last one took effect, not in between while the work it asked for is still
  // being done. Replies from other threads (a driver completing an IRP) are written at once.
  std::thread::id reader;     // guarded by writeMu; set by clientLoop before it reads
  std::vector<uint8_t> held;  // guarded by writeMu

  // Writes a reply unless the connection is closed. Never throws.
  // fdToPass >= 0 goes with the frame (SCM_RIGHTS): the replies held before it are written
  // first, and it is never held (a held frame is written without descriptors).
  void send(uint64_t request, const Message& m, int fdToPass = -1) {
    std::vector<uint8_t> frame;
    try {
      frame = encode(request, m);
    } catch (...) {
      return;
    }
    std::lock_guard lock(writeMu);
    if (closed) return;
    if (fdToPass >= 0) {
      if (!held.empty() && !writeFrame(sock.get(), held)) ::shutdown(sock.get(), SHUT_RDWR);
      held.clear();
      if (!writeFrame(sock.get(), frame, fdToPass)) ::shutdown(sock.get(), SHUT_RDWR);
      return;
    }
    if (std::this_thread::get_id() == reader) {
      held.insert(held.end(), frame.begin(), frame.end());
      return;
    }
    if (!writeFrame(sock.get(), frame)) ::shutdown(sock.get(), SHUT_RDWR);  // the reader sees EOF
  }

  bool holding() {  // only the reader holds replies: for it, true stays true until it flushes
    std::lock_guard lock(writeMu);
    return !held.empty();
  }

  void flushHeld() {
    std::lock_guard lock(writeMu);
    if (held.empty()) return;
    if (!closed && !writeFrame(sock.get(), held)) ::shutdown(sock.get(), SHUT_RDWR);
    held.clear();
  }
};

}  // namespace

struct ControlServer::Impl : std::enable_shared_from_this<ControlServer::Impl> {
  ControlServerOptions options;
  std::string dir;
  std::string path;
  net::UniqueFd listener;
  net::UniqueFd wakeRead, wakeWrite;
  std::thread acceptThread;
  std::atomic<bool> stopping{false};

  mutable std::mutex mu;  // guards everything below
  std::shared_ptr<ConnectionLookup> lookup;
  std::map<uint64_t, std::shared_ptr<Client>> clients;  // by id
  std::map<uid_t, unsigned> perUid;                     // clients of each uid
  bool refusing = false;                                // logged the current refusal episode
  std::map<uint64_t, std::thread> threads;              // by client id
  std::vector<uint64_t> finished;                       // client threads that ended (to join)
  uint64_t nextClientId = 1;

  struct Counters {
    std::atomic<uint64_t> accepted{0}, refused{0}, refusedPerUid{0}, servedOverLimit{0}, requests{0},
        socketControls{0}, deviceRequests{0}, serviceCalls{0}, malformed{0}, tooManyFds{0}, slowFrames{0}, unknownTypes{0},
        acceptBackoffs{0};
  } counters;

  std::shared_ptr<ConnectionLookup> currentLookup() {
    std::lock_guard lock(mu);
    return lookup;
  }

  // Who opens a device (S14.6): the kernel's credentials of the frame; the device's security
  // descriptor decides (km/sddl.h). SY stands for the engine's uid and options.deviceUids.
  km::security::Opener openerOf(const Client& client, const ReceivedFrame& frame) const {
    km::security::Opener o;
    const bool fromFrame = frame.credentials.present && frame.credentials.pid > 0;
    o.pid = callerOf(client, frame);
    o.uid = fromFrame ? frame.credentials.uid : client.peerUid;
    o.gid = fromFrame ? frame.credentials.gid : client.peerGid;
    o.engineUid = o.uid == ::geteuid() || o.uid == ::getuid() ||
                  std::find(options.deviceUids.begin(), options.deviceUids.end(), o.uid) != options.deviceUids.end();
    o.insideTree = options.insideSupervisedTree && options.insideSupervisedTree(static_cast<pid_t>(o.pid));
    return o;
  }

  void reapFinished() {
    std::vector<std::thread> done;
    {
      std::lock_guard lock(mu);
      for (uint64_t id : finished) {
        auto it = threads.find(id);
        if (it != threads.end()) {
          done.push_back(std::move(it->second));
          threads.erase(it);
        }
      }
      finished.clear();
    }
    for (auto& t : done) t.join();
  }

  static bool quotaApplies(uid_t uid) { return uid != 0 && uid != ::geteuid() && uid != ::getuid(); }

  enum class Admission { Serve, ServeOverLimit, RefuseTotal, RefusePerUid };

  // Only the accept thread adds clients, so a limit found unreached here stays unreached until
  // the client is added; alwaysServe is asked without the lock.
  Admission admit(const Client& client) {
    bool overTotal = false, overUid = false;
    {
      std::lock_guard lock(mu);
      overTotal = clients.size() >= options.maxClients;
      if (quotaApplies(client.peerUid)) {
        auto it = perUid.find(client.peerUid);
        overUid = it != perUid.end() && it->second >= options.maxClientsPerUid;
      }
    }
    if (!overTotal && !overUid) return Admission::Serve;
    if (options.alwaysServe && client.peerPid > 0 && options.alwaysServe(client.peerPid)) {
      return Admission::ServeOverLimit;
    }
    return overTotal ? Admission::RefuseTotal : Admission::RefusePerUid;
  }

  void refuse(const Client& client, Admission why) {
    (why == Admission::RefuseTotal ? counters.refused : counters.refusedPerUid).fetch_add(1);
    std::lock_guard lock(mu);
    if (refusing) return;
    refusing = true;  // one line per episode: until a client is served again
    if (why == Admission::RefuseTotal) {
      spdlog::warn("openwfp: control socket: {} clients connected (maxClients); refusing new clients", clients.size());
    } else {
      spdlog::warn("openwfp: control socket: uid {} has {} connections (maxClientsPerUid); refusing its new ones",
                   client.peerUid, options.maxClientsPerUid);
    }
  }

  // Registers the client and starts its thread (under mu).
  void serveClient(const std::shared_ptr<Client>& client, Admission how) {
    std::lock_guard lock(mu);
    const uint64_t id = nextClientId++;
    client->id = id;
    // Counted before the thread starts: the client may be answered (and look at the stats)
    // before this function returns.
    clients.emplace(id, client);
    ++perUid[client->peerUid];
    if (how == Admission::ServeOverLimit) counters.servedOverLimit.fetch_add(1);
    counters.accepted.fetch_add(1);
    try {
      threads.emplace(id, std::thread([self = shared_from_this(), client, id] {
        ::pthread_setname_np(::pthread_self(), "owfp-client");  // not the accept thread's name
        self->clientLoop(client, id);
      }));
    } catch (const std::system_error& e) {
      clients.erase(id);
      if (--perUid[client->peerUid] == 0) perUid.erase(client->peerUid);
      if (how == Admission::ServeOverLimit) counters.servedOverLimit.fetch_sub(1);
      counters.accepted.fetch_sub(1);
      counters.refused.fetch_add(1);
      spdlog::warn("openwfp: control socket: no thread for a client ({}); refused", e.what());
      return;
    }
    if (how == Admission::Serve) refusing = false;
  }

  // Out of descriptors or memory: accept4 fails while the connection stays queued, so the
  // listener stays readable. Waits (on the wake pipe, so stop() is prompt) 10 ms, doubling to
  // 1 s, until an accept succeeds; one log line per episode.
  static constexpr int kFirstBackoffMs = 10, kMaxBackoffMs = 1000;
  static bool outOfResources(int err) { return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM; }

  void backOff(int& backoffMs, int err) {
    if (backoffMs == 0) {
      counters.acceptBackoffs.fetch_add(1);
      spdlog::warn("openwfp: control socket: accept failed: {}; retrying every {}..{} ms", std::strerror(err),
                   kFirstBackoffMs, kMaxBackoffMs);
      backoffMs = kFirstBackoffMs;
    } else {
      backoffMs = std::min(backoffMs * 2, kMaxBackoffMs);
    }
    pollfd wake{wakeRead.get(), POLLIN, 0};
    ::poll(&wake, 1, backoffMs);
  }

  void acceptLoop() {
    pollfd fds[2] = {{listener.get(), POLLIN, 0}, {wakeRead.get(), POLLIN, 0}};
    int backoffMs = 0;
    while (!stopping.load()) {
      int n = ::poll(fds, 2, -1);
      if (n < 0) {
        if (errno == EINTR) continue;
        spdlog::error("openwfp: control socket poll failed: {}", std::strerror(errno));
        return;
      }
      if (fds[1].revents != 0 || stopping.load()) return;
      if ((fds[0].revents & POLLIN) == 0) continue;
      int fd = ::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        if (outOfResources(errno)) backOff(backoffMs, errno);
        continue;
      }
      if (backoffMs != 0) {
        spdlog::info("openwfp: control socket: accepting again");
        backoffMs = 0;
      }
      reapFinished();
      auto client = std::make_shared<Client>();
      client->sock.reset(fd);
      int on = 1;
      ::setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof on);
      ucred cred{};
      socklen_t len = sizeof cred;
      if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) continue;  // closes fd
      client->peerPid = cred.pid;
      client->peerUid = cred.uid;
      client->peerGid = cred.gid;
      const Admission how = admit(*client);
      if (how == Admission::RefuseTotal || how == Admission::RefusePerUid) {
        refuse(*client, how);
        continue;  // closes fd
      }
      serveClient(client, how);
    }
  }

  // The PID a request comes from: the kernel's credentials of the frame, else the
  // connection's (S12.3).
  static uint64_t callerOf(const Client& client, const ReceivedFrame& frame) {
    if (frame.credentials.present && frame.credentials.pid > 0) return static_cast<uint64_t>(frame.credentials.pid);
    return static_cast<uint64_t>(client.peerPid);
  }

  void clientLoop(const std::shared_ptr<Client>& client, uint64_t id) {
    ReceivedFrame frame;
    {
      std::lock_guard lock(client->writeMu);
      client->reader = std::this_thread::get_id();
    }
    const ReadLimits limits{options.frameDeadline, [&] { client->flushHeld(); }, [&] { return client->holding(); }};
    for (;;) {
      ReadStatus st = readFrame(client->sock.get(), frame, limits);
      if (st == ReadStatus::Eof || st == ReadStatus::IoError) break;
      if (st == ReadStatus::TimedOut) {
        counters.slowFrames.fetch_add(1);
        spdlog::warn("openwfp: control client pid {}: frame not complete within {} ms; connection closed",
                     client->peerPid, options.frameDeadline.count());
        break;
      }
      if (st == ReadStatus::Malformed) {
        counters.malformed.fetch_add(1);
        if (frame.tooManyFds) counters.tooManyFds.fetch_add(1);
        spdlog::warn("openwfp: control client pid {}: {}; connection closed", client->peerPid,
                     frame.tooManyFds ? "more than 4 descriptors in one frame" : toString(frame.error));
        break;
      }
      if (st == ReadStatus::UnknownType) {
        counters.unknownTypes.fetch_add(1);
        client->send(frame.header.request, ErrorReply{EOPNOTSUPP});
        continue;
      }
      // A service call may take long or wait on what the client does with an earlier reply.
      if (std::holds_alternative<ServiceCallRequest>(frame.message)) client->flushHeld();
      if (!serve(client, frame)) {
        counters.malformed.fetch_add(1);
        spdlog::warn("openwfp: control client pid {}: unexpected message; connection closed", client->peerPid);
        break;
      }
      counters.requests.fetch_add(1);
    }
    client->flushHeld();  // answers to what was served before a malformed frame or a timeout
    {
      std::lock_guard lock(client->writeMu);
      client->closed = true;
      ::shutdown(client->sock.get(), SHUT_RDWR);
    }
    closeAllHandles(*client);
    if (options.connectionClosed) options.connectionClosed(id);
    std::lock_guard lock(mu);
    clients.erase(id);
    if (auto it = perUid.find(client->peerUid); it != perUid.end() && --it->second == 0) perUid.erase(it);
    finished.push_back(id);
  }

  void closeAllHandles(Client& client) {
    std::map<uint32_t, Client::Handle> handles;
    {
      std::lock_guard lock(client.handlesMu);
      handles.swap(client.handles);
    }
    // The client is gone: its pended IRPs are cancelled (IoCancelIrp) before CLEANUP, as the I/O
    // manager does for the IRPs of a terminating process.
    for (auto& [h, handle] : handles) km::device::closeAbandoned(handle.file, handle.openerPid);
  }

  // Serves one well-formed frame; false when it is not a request this server takes.
  bool serve(const std::shared_ptr<Client>& client, ReceivedFrame& frame) {
    const uint64_t request = frame.header.request;
    const uint64_t caller = callerOf(*client, frame);
    if (auto* m = std::get_if<SocketControlRequest>(&frame.message)) {
      if (frame.fds.size() != 1) return false;
      counters.socketControls.fetch_add(1);
      client->send(request, applySocketControl(*m, frame.fds[0].get(), caller, currentLookup()));
      return true;
    }
    if (auto* m = std::get_if<ServiceCallRequest>(&frame.message)) {
      counters.serviceCalls.fetch_add(1);
      client->send(request, serviceCall(*client, *m, frame));
      return true;
    }
    if (!frame.fds.empty()) return false;  // only socket controls and service calls carry descriptors
    if (auto* m = std::get_if<DeviceOpenRequest>(&frame.message)) {
      counters.deviceRequests.fetch_add(1);
      DeviceOpenReply reply;
      int32_t status = 0;
      auto file = km::device::open(m->path, openerOf(*client, frame), status);
      reply.status = status;
      if (file) {
        std::lock_guard lock(client->handlesMu);
        reply.handle = client->nextHandle++;
        client->handles.emplace(reply.handle, Client::Handle{file, caller});
      }
      client->send(request, reply);
      return true;
    }
    if (auto* m = std::get_if<DeviceIoctlRequest>(&frame.message)) {
      counters.deviceRequests.fetch_add(1);
      std::shared_ptr<km::device::File> file;
      {
        std::lock_guard lock(client->handlesMu);
        if (auto it = client->handles.find(m->handle); it != client->handles.end()) file = it->second.file;
      }
      if (!file) {
        client->send(request, DeviceIoctlReply{km::device::kStatusInvalidHandle, 0, {}, nullptr});
        return true;
      }
      // The reply is written when the driver completes the IRP, maybe much later and from
      // another thread; this thread goes on reading requests.
      std::weak_ptr<Client> weak = client;
      km::device::ioctl(file, m->code, m->in, m->outLen, caller, [weak, request](km::device::IoResult r) {
        if (auto c = weak.lock()) {
          const int fd = r.descriptor ? *r.descriptor : -1;  // the IoResult keeps it open until sent
          c->send(request, DeviceIoctlReply{r.status, r.information, std::move(r.output), nullptr}, fd);
        }
      });
      return true;
    }
    if (auto* m = std::get_if<DeviceCloseRequest>(&frame.message)) {
      counters.deviceRequests.fetch_add(1);
      std::shared_ptr<km::device::File> file;
      {
        std::lock_guard lock(client->handlesMu);
        if (auto it = client->handles.find(m->handle); it != client->handles.end()) {
          file = std::move(it->second.file);
          client->handles.erase(it);
        }
      }
      DeviceCloseReply reply{km::device::kStatusInvalidHandle};
      if (file) reply.status = km::device::close(file, caller);
      client->send(request, reply);
      return true;
    }
    return false;  // a reply type sent to the server
  }

  Message serviceCall(const Client& client, ServiceCallRequest& m, ReceivedFrame& frame) {
    if (!options.serviceHandler) return ErrorReply{EOPNOTSUPP};
    ServiceRequest req;
    req.connection = client.id;
    const bool fromFrame = frame.credentials.present && frame.credentials.pid > 0;
    req.pid = static_cast<int>(callerOf(client, frame));
    req.uid = fromFrame ? frame.credentials.uid : client.peerUid;
    req.gid = fromFrame ? frame.credentials.gid : client.peerGid;
    req.service = m.service;
    req.op = m.op;
    req.payload = std::move(m.payload);
    for (auto& fd : frame.fds) req.fds.push_back(fd.release());
    frame.fds.clear();
    ServiceResult r;
    try {
      r = options.serviceHandler(req);
    } catch (const std::exception& e) {
      spdlog::error("openwfp: service call {}/{} of pid {} failed: {}", req.service, req.op, req.pid, e.what());
      r = ServiceResult{EIO, {}};
    }
    for (int fd : req.fds) {
      if (fd >= 0) ::close(fd);
    }
    if (r.payload.size() > kMaxBuffer) return ServiceCallReply{E2BIG, {}};
    return ServiceCallReply{r.status, std::move(r.payload)};
  }

  std::optional<std::string> start() {
    if (!options.socketPath.empty()) {
      path = options.socketPath;  // a well-known address: the directory is the caller's
      if (::unlink(path.c_str()) != 0 && errno != ENOENT) return fail("unlink", path, errno);
    } else {
      const std::string parent = options.parentDirectory.empty() ? defaultParent() : options.parentDirectory;
      std::string templ = parent + "/openwfp-XXXXXX";
      std::vector<char> buf(templ.begin(), templ.end());
      buf.push_back('\0');
      if (::mkdtemp(buf.data()) == nullptr) return errorLine("mkdtemp", templ, errno);
      dir = buf.data();
      // Others may traverse (to reach the socket) but not list the directory.
      if (::chmod(dir.c_str(), 0711) != 0) return fail("chmod", dir, errno);
      path = dir + "/control.sock";
    }
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) return fail("bind", path, ENAMETOOLONG);
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    listener.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!listener) return fail("socket", path, errno);
    int on = 1;
    ::setsockopt(listener.get(), SOL_SOCKET, SO_PASSCRED, &on, sizeof on);
    if (::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return fail("bind", path, errno);
    if (::chmod(path.c_str(), static_cast<mode_t>(options.socketMode)) != 0) return fail("chmod", path, errno);
    if (::listen(listener.get(), 128) != 0) return fail("listen", path, errno);
    int pipeFds[2];
    if (::pipe2(pipeFds, O_CLOEXEC) != 0) return fail("pipe for", path, errno);
    wakeRead.reset(pipeFds[0]);
    wakeWrite.reset(pipeFds[1]);
    acceptThread = std::thread([self = shared_from_this()] { self->acceptLoop(); });
    ::pthread_setname_np(acceptThread.native_handle(), "openwfp-accept");  // for ps/top (and tests)
    return std::nullopt;
  }

  std::optional<std::string> fail(const std::string& step, const std::string& what, int err) {
    std::string line = errorLine(step, what, err);
    cleanupFiles();
    return line;
  }

  void cleanupFiles() {
    listener.reset();
    if (!path.empty()) ::unlink(path.c_str());
    if (!dir.empty()) ::rmdir(dir.c_str());
  }

  void stop() {
    if (stopping.exchange(true)) return;
    if (wakeWrite) {
      char b = 1;
      [[maybe_unused]] ssize_t n = ::write(wakeWrite.get(), &b, 1);
    }
    if (acceptThread.joinable()) acceptThread.join();
    {
      std::lock_guard lock(mu);
      for (auto& [id, c] : clients) {
        std::lock_guard wl(c->writeMu);
        ::shutdown(c->sock.get(), SHUT_RDWR);
      }
    }
    std::map<uint64_t, std::thread> all;
    {
      std::lock_guard lock(mu);
      all.swap(threads);
      finished.clear();
    }
    for (auto& [id, t] : all) t.join();
    cleanupFiles();
  }
};

ControlServer::ControlServer(ControlServerOptions options) : impl_(std::make_shared<Impl>()) {
  impl_->options = std::move(options);
}

ControlServer::~ControlServer() { stop(); }

std::optional<std::string> ControlServer::start() {
  if (!impl_->path.empty()) return std::nullopt;
  return impl_->start();
}

void ControlServer::stop() { impl_->stop(); }

const std::string& ControlServer::path() const { return impl_->path; }

std::string ControlServer::envEntry() const { return std::string(kSocketEnv) + "=" + impl_->path; }

void ControlServer::setLookup(std::shared_ptr<ConnectionLookup> lookup) {
  std::lock_guard lock(impl_->mu);
  impl_->lookup = std::move(lookup);
}

ControlServerStats ControlServer::stats() const {
  const auto& c = impl_->counters;
  ControlServerStats s;
  s.clientsAccepted = c.accepted.load();
  s.clientsRefused = c.refused.load();
  s.clientsRefusedPerUid = c.refusedPerUid.load();
  s.clientsServedOverLimit = c.servedOverLimit.load();
  s.requests = c.requests.load();
  s.socketControls = c.socketControls.load();
  s.deviceRequests = c.deviceRequests.load();
  s.serviceCalls = c.serviceCalls.load();
  s.malformed = c.malformed.load();
  s.tooManyFds = c.tooManyFds.load();
  s.slowFrames = c.slowFrames.load();
  s.acceptBackoffs = c.acceptBackoffs.load();
  s.unknownTypes = c.unknownTypes.load();
  std::lock_guard lock(impl_->mu);
  s.clientsNow = static_cast<unsigned>(impl_->clients.size());
  return s;
}

}  // namespace openwfp::control

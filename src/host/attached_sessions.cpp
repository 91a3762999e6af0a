// host/attached_sessions.cpp - sessions attached to the engine service (attached_sessions.h).
#include "host/attached_sessions.h"

#include <unistd.h>

#include <climits>
#include <cstdio>
#include <mutex>

#include <spdlog/spdlog.h>

namespace openwfp::host {

struct AttachedSessions::Session {
  SessionInfo info;
  uint64_t connection = 0;
  std::unique_ptr<linux_backend::Interceptor> interceptor;
};

// Asks every session's interceptor (under the shared lock, so detach() waits for lookups in
// progress before it stops one).
class AttachedSessions::Lookup : public ConnectionLookup {
 public:
  explicit Lookup(AttachedSessions& owner) : owner_(owner) {}
  std::optional<ConnectionInfo> findBySocketCookie(uint64_t cookie) override {
    std::shared_lock lock(owner_.mu_);
    for (auto& s : owner_.sessions_) {
      if (auto c = s->interceptor->findBySocketCookie(cookie)) return c;
    }
    return std::nullopt;
  }
  std::optional<ConnectionInfo> findConnection(const Endpoint& local, const Endpoint& remote) override {
    std::shared_lock lock(owner_.mu_);
    for (auto& s : owner_.sessions_) {
      if (auto c = s->interceptor->findConnection(local, remote)) return c;
    }
    return std::nullopt;
  }
  // The socket may connect under any attached session (a proxy inside one of them): each
  // interceptor keeps the records until the socket is gone.
  void attachRecords(uint64_t socketCookie, std::shared_ptr<redirect::History> records) override {
    std::shared_lock lock(owner_.mu_);
    for (auto& s : owner_.sessions_) s->interceptor->attachRecords(socketCookie, records);
  }
  // One table for the engine process: the connection may be any session's.
  int offerHandOff(std::shared_ptr<redirect::History> records, int fd) override {
    return linux_backend::offerHandOff(std::move(records), fd);
  }

 private:
  AttachedSessions& owner_;
};

namespace {

// The listener must be a seccomp user-notification descriptor, nothing else.
bool isSeccompListener(int fd) {
  char link[64];
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  char target[128] = {};
  ssize_t n = ::readlink(link, target, sizeof target - 1);
  return n > 0 && std::string(target, static_cast<size_t>(n)) == "anon_inode:seccomp notify";
}

}  // namespace

AttachedSessions::AttachedSessions(Classifier& classifier, linux_backend::InterceptorOptions base)
    : classifier_(classifier), base_(std::move(base)), lookup_(std::make_shared<Lookup>(*this)) {}

AttachedSessions::~AttachedSessions() { stopAll(); }

uint64_t AttachedSessions::attach(AttachRequest r, std::string& error) {
  if (r.listenerFd < 0 || !isSeccompListener(r.listenerFd)) {
    if (r.listenerFd >= 0) ::close(r.listenerFd);
    error = "the descriptor sent is not a seccomp listener";
    return 0;
  }
  auto s = std::make_unique<Session>();
  s->connection = r.connection;
  s->info.client = r.client;
  s->info.root = r.root;
  s->info.command = r.command;
  s->info.commandLine = r.commandLine;
  s->info.attached = std::chrono::system_clock::now();
  linux_backend::InterceptorOptions io = base_;
  // The tree may not signal its supervisor, its root, nor the engine (S13.8).
  io.protectedPids = {static_cast<int>(r.client), static_cast<int>(r.root), static_cast<int>(::getpid())};
  io.protectedGroup = static_cast<int>(r.group);
  s->interceptor = std::make_unique<linux_backend::Interceptor>(classifier_, r.listenerFd, io);
  s->interceptor->start();
  std::unique_lock lock(mu_);
  s->info.id = nextId_++;
  const uint64_t id = s->info.id;
  spdlog::info("openwfp engine: session {} attached: pid {} ({})", id, r.command, r.commandLine);
  sessions_.push_back(std::move(s));
  return id;
}

void AttachedSessions::detach(uint64_t connection) {
  std::vector<std::unique_ptr<Session>> gone;
  {
    std::unique_lock lock(mu_);
    for (auto it = sessions_.begin(); it != sessions_.end();) {
      if ((*it)->connection == connection) {
        gone.push_back(std::move(*it));
        it = sessions_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& s : gone) {
    s->interceptor->stop();  // calls still waiting fail closed (ENOSYS)
    spdlog::info("openwfp engine: session {} ended (pid {})", s->info.id, s->info.command);
  }
}

void AttachedSessions::stopAll() {
  std::vector<std::unique_ptr<Session>> gone;
  {
    std::unique_lock lock(mu_);
    gone.swap(sessions_);
  }
  for (auto& s : gone) s->interceptor->stop();
}

std::vector<SessionInfo> AttachedSessions::list() const {
  std::shared_lock lock(mu_);
  std::vector<SessionInfo> out;
  for (const auto& s : sessions_) {
    SessionInfo i = s->info;
    i.stats = s->interceptor->stats();
    out.push_back(std::move(i));
  }
  return out;
}

TreeMembership AttachedSessions::membership(pid_t pid) const {
  std::shared_lock lock(mu_);
  TreeMembership result = TreeMembership::Outside;
  for (const auto& s : sessions_) {
    const TreeMembership m = treeMembership(pid, s->info.command, s->info.client);
    if (m == TreeMembership::Inside) return m;
    if (m == TreeMembership::Unknown) result = m;
  }
  return result;
}

std::shared_ptr<ConnectionLookup> AttachedSessions::lookup() { return lookup_; }

}  // namespace openwfp::host

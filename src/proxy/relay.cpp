#include "proxy/relay.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace openwfp::proxy {

namespace {
constexpr size_t kPipeBytes = 1 << 20;   // requested pipe capacity per direction
constexpr size_t kSpliceChunk = 1 << 20;  // bytes asked for per splice call
constexpr uint64_t kWakeKey = ~uint64_t{0};
// Readable, peer closed; EPOLLOUT is added only while a pipe holds bytes for that socket, so
// that the ACKs of a flowing connection do not wake the loop.
constexpr uint32_t kBaseEvents = EPOLLIN | EPOLLRDHUP | EPOLLET;
constexpr size_t kSparePipes = 64;  // drained pipes kept for the next pairs

void setNonBlocking(int fd) {
  int fl = fcntl(fd, F_GETFL);
  if (fl >= 0) fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}
}  // namespace

struct Relay::Direction {
  int from = -1, to = -1;
  int pipe[2] = {-1, -1};
  size_t inPipe = 0;   // bytes read from `from` not yet written to `to`
  bool eof = false;    // `from` reached end of stream
  bool done = false;   // write half of `to` shut down after the last byte
  uint64_t* counter = nullptr;
};

struct Relay::Pair {
  uint64_t id = 0;
  bool writeInterest[2] = {false, false};  // fd[side] registered with EPOLLOUT (loop thread)
  int fd[2] = {-1, -1};  // 0 = client, 1 = upstream
  Direction dir[2];      // 0 = client -> upstream, 1 = upstream -> client
  RelayStats stats;             // written by the loop thread only
  Finished onFinished;
};

Relay::Relay() {
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  wakefd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (epfd_ < 0 || wakefd_ < 0) throw std::system_error(errno, std::generic_category(), "relay: epoll/eventfd");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kWakeKey;
  epoll_ctl(epfd_, EPOLL_CTL_ADD, wakefd_, &ev);
  thread_ = std::thread([this] { loop(); });
}

Relay::~Relay() {
  stop_ = true;
  uint64_t one = 1;
  (void)!write(wakefd_, &one, sizeof one);
  if (thread_.joinable()) thread_.join();
  std::unordered_map<uint64_t, std::unique_ptr<Pair>> left;
  {
    std::lock_guard lk(mu_);
    left.swap(pairs_);
  }
  for (auto& [id, p] : left) {
    for (auto& d : p->dir) {
      close(d.pipe[0]);
      close(d.pipe[1]);
    }
    close(p->fd[0]);
    close(p->fd[1]);
  }
  for (auto& sp : spare_) {
    close(sp[0]);
    close(sp[1]);
  }
  close(epfd_);
  close(wakefd_);
}

bool Relay::add(int client, int upstream, Finished onFinished) {
  auto p = std::make_unique<Pair>();
  p->fd[0] = client;
  p->fd[1] = upstream;
  p->onFinished = std::move(onFinished);
  for (int i = 0; i < 2; ++i) {
    Direction& d = p->dir[i];
    if (!takePipe(d.pipe)) {
      for (int j = 0; j < i; ++j) {
        close(p->dir[j].pipe[0]);
        close(p->dir[j].pipe[1]);
      }
      close(client);
      close(upstream);
      return false;
    }
    d.from = p->fd[i];
    d.to = p->fd[1 - i];
    d.counter = i == 0 ? &p->stats.clientToUpstream : &p->stats.upstreamToClient;
  }
  setNonBlocking(client);
  setNonBlocking(upstream);
  // Published and registered under mu_: the loop, which looks a pair up under mu_, sees it only
  // with both sides registered (a pair served to its end from side 0's event alone was freed
  // while side 1 was still being added), and no event of it is lost.
  std::lock_guard lk(mu_);
  const uint64_t id = nextId_++;
  Pair* raw = p.get();
  raw->id = id;
  pairs_.emplace(id, std::move(p));
  for (int side = 0; side < 2; ++side) {
    epoll_event ev{};
    ev.events = kBaseEvents;  // EPOLLOUT only while bytes wait for this side (setWriteInterest)
    ev.data.u64 = (id << 1) | static_cast<uint64_t>(side);
    if (epoll_ctl(epfd_, EPOLL_CTL_ADD, raw->fd[side], &ev) != 0) {
      if (side == 1) epoll_ctl(epfd_, EPOLL_CTL_DEL, raw->fd[0], nullptr);
      for (auto& d : raw->dir) {
        close(d.pipe[0]);
        close(d.pipe[1]);
      }
      close(client);
      close(upstream);
      pairs_.erase(id);
      return false;
    }
  }
  return true;
}

bool Relay::takePipe(int (&pipe)[2]) {
  {
    std::lock_guard lk(spareMu_);
    if (!spare_.empty()) {
      pipe[0] = spare_.back()[0];
      pipe[1] = spare_.back()[1];
      spare_.pop_back();
      return true;
    }
  }
  if (pipe2(pipe, O_NONBLOCK | O_CLOEXEC) != 0) return false;
  fcntl(pipe[1], F_SETPIPE_SZ, static_cast<int>(kPipeBytes));  // best effort
  return true;
}

void Relay::givePipe(int (&pipe)[2], bool empty) {
  if (empty) {
    std::lock_guard lk(spareMu_);
    if (spare_.size() < kSparePipes) {
      spare_.push_back({pipe[0], pipe[1]});
      return;
    }
  }
  close(pipe[0]);
  close(pipe[1]);
}

void Relay::setWriteInterest(Pair& p) {
  for (int side = 0; side < 2; ++side) {
    // dir[0] writes to fd[1], dir[1] to fd[0].
    const bool want = p.stats.error == 0 && p.dir[1 - side].inPipe > 0;
    if (want == p.writeInterest[side]) continue;
    epoll_event ev{};
    ev.events = kBaseEvents | (want ? EPOLLOUT : 0u);
    ev.data.u64 = (p.id << 1) | static_cast<uint64_t>(side);
    if (epoll_ctl(epfd_, EPOLL_CTL_MOD, p.fd[side], &ev) == 0) {
      p.writeInterest[side] = want;
    } else {
      p.stats.error = errno;
    }
  }
}

size_t Relay::active() const {
  std::lock_guard lk(mu_);
  return pairs_.size();
}

void Relay::pump(Pair& p, Direction& d) {
  if (p.stats.error != 0) return;
  for (;;) {
    bool progress = false;
    if (!d.eof && d.inPipe < kPipeBytes) {
      ssize_t n = splice(d.from, nullptr, d.pipe[1], nullptr, kSpliceChunk, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n > 0) {
        d.inPipe += static_cast<size_t>(n);
        progress = true;
      } else if (n == 0) {
        d.eof = true;
        progress = true;
      } else if (errno != EAGAIN && errno != EINTR) {
        p.stats.error = errno;
        return;
      }
    }
    if (d.inPipe > 0) {
      ssize_t n = splice(d.pipe[0], nullptr, d.to, nullptr, d.inPipe, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n > 0) {
        d.inPipe -= static_cast<size_t>(n);
        *d.counter += static_cast<uint64_t>(n);
        progress = true;
      } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
        p.stats.error = errno;
        return;
      }
    }
    if (!progress) break;
  }
  if (d.eof && d.inPipe == 0 && !d.done) {
    shutdown(d.to, SHUT_WR);
    d.done = true;
  }
}

void Relay::finish(uint64_t id, int error) {
  std::unique_ptr<Pair> p;
  {
    std::lock_guard lk(mu_);
    auto it = pairs_.find(id);
    if (it == pairs_.end()) return;
    p = std::move(it->second);
    pairs_.erase(it);
  }
  for (int side = 0; side < 2; ++side) epoll_ctl(epfd_, EPOLL_CTL_DEL, p->fd[side], nullptr);
  for (auto& d : p->dir) givePipe(d.pipe, d.inPipe == 0);  // a drained pipe serves the next pair
  close(p->fd[0]);
  close(p->fd[1]);
  if (error != 0 && p->stats.error == 0) p->stats.error = error;
  if (p->onFinished) p->onFinished(p->stats);
}

void Relay::loop() {
  epoll_event events[64];
  while (!stop_) {
    int n = epoll_wait(epfd_, events, 64, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    for (int i = 0; i < n; ++i) {
      uint64_t key = events[i].data.u64;
      if (key == kWakeKey) continue;
      uint64_t id = key >> 1;
      Pair* p;
      {
        std::lock_guard lk(mu_);
        auto it = pairs_.find(id);
        if (it == pairs_.end()) continue;
        p = it->second.get();
      }
      pump(*p, p->dir[0]);
      pump(*p, p->dir[1]);
      if (p->stats.error == 0 && (events[i].events & EPOLLERR)) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(p->fd[key & 1], SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) p->stats.error = err;
      }
      if (p->stats.error == 0 && !(p->dir[0].done && p->dir[1].done)) setWriteInterest(*p);
      if (p->stats.error != 0 || (p->dir[0].done && p->dir[1].done)) finish(id, p->stats.error);
    }
  }
}

}  // namespace openwfp::proxy

// linux/task_cache.cpp - see task_cache.h.
#include "linux/task_cache.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <vector>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "linux/syscalls.h"

namespace openwfp::linux_backend {
namespace {

constexpr size_t kMaxEntries = 8192;
// Entries in all the caches of the process (each holds a pidfd): an engine serving many sessions,
// or a bench running several supervisors, shares one budget instead of one each.
std::atomic<size_t> gCached{0};
constexpr auto kExecNoCache = std::chrono::seconds(2);

bool pidfdAlive(int pidfd) {
  pollfd p{pidfd, POLLIN, 0};
  return ::poll(&p, 1, 0) == 0;  // readable = the task exited
}

// epoll data of a cached pidfd: the thread id and the fd number (to tell a later entry apart).
uint64_t watchKey(pid_t tid, int fd) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(tid)) << 32) | static_cast<uint32_t>(fd);
}

size_t entryBound() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return kMaxEntries;
  return std::clamp<size_t>(static_cast<size_t>(rl.rlim_cur) / 4, 16, kMaxEntries);
}

}  // namespace

TaskCache::TaskCache() : exits_(::epoll_create1(EPOLL_CLOEXEC)), maxEntries_(entryBound()) {}

TaskCache::~TaskCache() {
  std::lock_guard lock(mu_);
  gCached.fetch_sub(byTid_.size(), std::memory_order_relaxed);
}

size_t TaskCache::cachedInProcess() { return gCached.load(std::memory_order_relaxed); }

void TaskCache::insertLocked(pid_t tid, std::shared_ptr<const TaskEntry> entry) {
  auto old = byTid_.find(tid);
  if (old != byTid_.end()) eraseLocked(old);
  if (exits_) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = watchKey(tid, entry->pidfd.get());
    // Without the watch the entry could outlive its task: do not cache it then.
    if (::epoll_ctl(exits_.get(), EPOLL_CTL_ADD, entry->pidfd.get(), &ev) != 0) return;
  }
  byTid_.emplace(tid, std::move(entry));
  gCached.fetch_add(1, std::memory_order_relaxed);
}

std::unordered_map<pid_t, std::shared_ptr<const TaskEntry>>::iterator TaskCache::eraseLocked(
    std::unordered_map<pid_t, std::shared_ptr<const TaskEntry>>::iterator it) {
  if (exits_) ::epoll_ctl(exits_.get(), EPOLL_CTL_DEL, it->second->pidfd.get(), nullptr);
  gCached.fetch_sub(1, std::memory_order_relaxed);
  return byTid_.erase(it);
}

void TaskCache::evictExited() {
  std::vector<std::shared_ptr<const TaskEntry>> dropped;  // closed outside the lock
  std::lock_guard lock(mu_);
  evictExitedLocked(dropped);
}

void TaskCache::evictExitedLocked(std::vector<std::shared_ptr<const TaskEntry>>& dropped) {
  if (!exits_) return;
  epoll_event events[64];
  for (;;) {
    int n = ::epoll_wait(exits_.get(), events, 64, 0);
    if (n <= 0) break;
    for (int i = 0; i < n; ++i) {
      const auto tid = static_cast<pid_t>(events[i].data.u64 >> 32);
      const auto fd = static_cast<int>(events[i].data.u64 & 0xffffffffu);
      auto it = byTid_.find(tid);
      if (it != byTid_.end() && it->second->pidfd.get() == fd) {
        dropped.push_back(it->second);
        eraseLocked(it);
      } else {
        ::epoll_ctl(exits_.get(), EPOLL_CTL_DEL, fd, nullptr);  // not reached: kept in step
      }
    }
    if (n < 64) break;
  }
}

int readTaskStatus(pid_t tid, pid_t& tgid, uint32_t& euid, uint64_t* capEff) {
  char path[48];
  std::snprintf(path, sizeof path, "/proc/%d/status", static_cast<int>(tid));
  net::UniqueFd fd(::open(path, O_RDONLY | O_CLOEXEC));
  if (!fd) return errno == ENOENT ? ESRCH : errno;
  char buf[4096];
  ssize_t n = ::read(fd.get(), buf, sizeof buf - 1);
  if (n < 0) return errno;
  if (n == 0) return ESRCH;  // the task exited between open and read
  buf[n] = '\0';
  bool haveTgid = false, haveUid = false, haveCaps = capEff == nullptr;
  for (char* line = buf; line != nullptr && *line != '\0';) {
    char* next = std::strchr(line, '\n');
    if (next != nullptr) *next++ = '\0';
    if (std::strncmp(line, "Tgid:", 5) == 0) {
      tgid = static_cast<pid_t>(std::strtol(line + 5, nullptr, 10));
      haveTgid = tgid > 0;
    } else if (std::strncmp(line, "Uid:", 4) == 0) {
      char* end = nullptr;
      std::strtoul(line + 4, &end, 10);                                // real
      euid = static_cast<uint32_t>(std::strtoul(end, nullptr, 10));    // effective
      haveUid = true;
    } else if (capEff != nullptr && std::strncmp(line, "CapEff:", 7) == 0) {
      *capEff = std::strtoull(line + 7, nullptr, 16);
      haveCaps = true;
    }
    line = next;
  }
  return haveTgid && haveUid && haveCaps ? 0 : EIO;
}

std::shared_ptr<TaskEntry> TaskCache::load(pid_t tid, int& err, bool& cacheable) {
  auto entry = std::make_shared<TaskEntry>();
  entry->tid = tid;
  bool threadPidfds;
  {
    std::lock_guard lock(mu_);
    threadPidfds = threadPidfds_;
  }
  if (threadPidfds) {
    entry->pidfd.reset(sys::pidfdOpen(tid, sys::kPidfdThread));
    if (!entry->pidfd && errno == EINVAL) {
      std::lock_guard lock(mu_);
      threadPidfds_ = threadPidfds = false;
    } else if (!entry->pidfd) {
      err = errno;
      return nullptr;
    }
  }
  pid_t tgid = 0;
  uint32_t euid = 0;
  if (int e = readTaskStatus(tid, tgid, euid); e != 0) {
    err = e;
    return nullptr;
  }
  cacheable = true;
  if (!threadPidfds) {
    entry->pidfd.reset(sys::pidfdOpen(tgid, 0));
    if (!entry->pidfd) {
      err = errno;
      return nullptr;
    }
    cacheable = tgid == tid;  // a process pidfd proves nothing about a non-leader thread id
  }
  char path[48];
  std::snprintf(path, sizeof path, "/proc/%d/exe", static_cast<int>(tid));
  char exe[4096];
  ssize_t n = ::readlink(path, exe, sizeof exe);
  if (n > 0 && static_cast<size_t>(n) < sizeof exe) entry->process.imagePath.assign(exe, n);
  // The facts belong to the pidfd's task only if it was alive all along.
  if (!pidfdAlive(entry->pidfd.get())) {
    err = ESRCH;
    return nullptr;
  }
  entry->process.pid = static_cast<uint64_t>(tgid);
  entry->process.uid = euid;
  return entry;
}

std::shared_ptr<const TaskEntry> TaskCache::get(pid_t tid, int& err, bool& fresh) {
  {
    std::lock_guard lock(mu_);
    auto it = byTid_.find(tid);
    if (it != byTid_.end()) {
      fresh = false;
      return it->second;
    }
  }
  fresh = true;
  bool cacheable = false;
  std::shared_ptr<TaskEntry> entry = load(tid, err, cacheable);
  if (!entry || !cacheable) return entry;
  std::vector<std::shared_ptr<const TaskEntry>> dropped;  // closed after the lock is released
  std::lock_guard lock(mu_);
  auto nc = tid == static_cast<pid_t>(entry->process.pid) ? noCacheUntil_.find(tid) : noCacheUntil_.end();
  if (nc != noCacheUntil_.end()) {
    if (std::chrono::steady_clock::now() < nc->second) return entry;
    noCacheUntil_.erase(nc);
  }
  // gCached counts this cache's entries too: the one budget bounds them all.
  const auto full = [this] { return gCached.load(std::memory_order_relaxed) >= maxEntries_; };
  if (full()) {
    // Exited tasks first. The exit set names them: one epoll_wait, not a poll per entry (a
    // sweep of the whole cache on every miss made 10,000 new threads cost 67 polls each).
    // Without the set, each entry is polled.
    if (exits_) {
      evictExitedLocked(dropped);
    } else {
      for (auto it = byTid_.begin(); it != byTid_.end();) {
        it = pidfdAlive(it->second->pidfd.get()) ? std::next(it) : eraseLocked(it);
      }
    }
    if (full() && !byTid_.empty()) {  // one of ours makes room
      dropped.push_back(byTid_.begin()->second);
      eraseLocked(byTid_.begin());
    }
    if (full()) return entry;  // the other caches hold the budget: used once, not cached
  }
  insertLocked(tid, entry);
  return entry;
}

void TaskCache::forgetTask(pid_t tid) {
  std::lock_guard lock(mu_);
  auto it = byTid_.find(tid);
  if (it != byTid_.end()) eraseLocked(it);
}

void TaskCache::processExecs(pid_t tid) {
  pid_t tgid = 0;
  {
    std::lock_guard lock(mu_);
    auto it = byTid_.find(tid);
    if (it != byTid_.end()) tgid = static_cast<pid_t>(it->second->process.pid);
  }
  uint32_t euid = 0;
  if (tgid == 0 && readTaskStatus(tid, tgid, euid) != 0) tgid = tid;
  std::lock_guard lock(mu_);
  for (auto it = byTid_.begin(); it != byTid_.end();) {
    it = it->second->process.pid == static_cast<uint64_t>(tgid) || it->first == tid
             ? eraseLocked(it)
             : std::next(it);
  }
  // After the exec the process keeps only the thread id `tgid` (the exec'ing thread takes it
  // over); every other thread dies, and so do their cache entries (their pidfds go stale). If a
  // non-leader execs, the leader may still connect before the exec completes and cache the old
  // image under `tgid`: do not cache `tgid` for a while.
  if (tid != tgid) {
    noCacheUntil_[tgid] = std::chrono::steady_clock::now() + kExecNoCache;
    if (noCacheUntil_.size() > kMaxEntries) noCacheUntil_.clear();
  }
}

size_t TaskCache::size() const {
  std::lock_guard lock(mu_);
  return byTid_.size();
}

}  // namespace openwfp::linux_backend

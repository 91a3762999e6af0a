// linux/task_cache.h - facts about the tasks that make notified calls: a pidfd (to duplicate their
// sockets with pidfd_getfd), the thread group id, uid and image path (S13.2).
//
// Reading /proc costs tens of microseconds, more than a loopback connect, so facts are cached
// per thread id. An entry is trusted only while its pidfd's task is alive (pidfd_getfd fails with
// ESRCH otherwise): a thread id is not reused while its task lives, and a thread pidfd follows
// the id through an exec by another thread (de_thread exchanges the ids, the old leader dies).
// An entry is dropped when the thread calls execve/setuid (the seccomp program hands
// those calls over, see seccomp_program.h). Without PIDFD_THREAD (Linux < 6.9) only thread-group
// leaders are cached.
//
// Exited tasks are evicted at once (S13.9): every cached pidfd is in an epoll set (exitFd()),
// which becomes readable when one of their tasks exits; evictExited() then drops exactly those
// entries (O(1) per exit; the Interceptor's connect-waiter thread watches the set). The cache is
// also bounded (kMaxEntries, and a quarter of the soft fd limit): a miss in a full cache drops the
// exits the set reports, then one live entry of its own, never a poll of every entry.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "net/unique_fd.h"
#include "openwfp/stack.h"

namespace openwfp::linux_backend {

struct TaskEntry {
  pid_t tid = 0;
  net::UniqueFd pidfd;  // the thread (PIDFD_THREAD) or, on old kernels, its thread group
  ProcessInfo process;
};

class TaskCache {
 public:
  // Facts for tid, from the cache or /proc (then fresh = true). nullptr with errno-style code in
  // err when the task is gone (ESRCH) or not accessible (EACCES/EPERM).
  std::shared_ptr<const TaskEntry> get(pid_t tid, int& err, bool& fresh);
  // Forgets tid (its pidfd turned out stale, or it is changing credentials).
  void forgetTask(pid_t tid);
  // The task is exec'ing: forgets every thread of its process. When a non-leader thread execs,
  // the thread group id is not cached for a while (the leader's call racing with the exec would
  // cache the old image under the id the exec'ing thread takes over).
  void processExecs(pid_t tid);
  size_t size() const;

  TaskCache();
  ~TaskCache();
  TaskCache(const TaskCache&) = delete;
  TaskCache& operator=(const TaskCache&) = delete;
  // Entries cached by every TaskCache of this process (one per supervised tree): their pidfds
  // count against one descriptor budget, RLIMIT_NOFILE / 4 (at most 8192) in all.
  static size_t cachedInProcess();
  // An epoll fd readable while a cached task has exited; -1 if epoll is unavailable (then
  // exited tasks are dropped on access and when the cache is full).
  int exitFd() const { return exits_.get(); }
  // Drops the entries of tasks that exited (from the thread watching exitFd()).
  void evictExited();

 private:
  // All with mu_ held: an entry is in the epoll set exactly while it is in byTid_.
  void insertLocked(pid_t tid, std::shared_ptr<const TaskEntry> entry);
  std::unordered_map<pid_t, std::shared_ptr<const TaskEntry>>::iterator eraseLocked(
      std::unordered_map<pid_t, std::shared_ptr<const TaskEntry>>::iterator it);

  // Drops the entries whose exit the epoll set reports; their last references go to dropped.
  void evictExitedLocked(std::vector<std::shared_ptr<const TaskEntry>>& dropped);

  std::shared_ptr<TaskEntry> load(pid_t tid, int& err, bool& cacheable);

  mutable std::mutex mu_;  // guards everything below
  std::unordered_map<pid_t, std::shared_ptr<const TaskEntry>> byTid_;
  std::unordered_map<pid_t, std::chrono::steady_clock::time_point> noCacheUntil_;  // by tgid
  bool threadPidfds_ = true;  // PIDFD_THREAD works (cleared on the first EINVAL)
  net::UniqueFd exits_;       // epoll set over the cached pidfds (data: tid, pidfd)
  size_t maxEntries_;         // immutable after construction: the process-wide budget
};

// Reads "Tgid:", the effective uid and, when capEff is not null, the effective capability set
// ("CapEff:", bit n = capability n) from /proc/TID/status. Returns 0 or the errno of the failure
// (ESRCH when the task is gone: /proc says ENOENT or ESRCH; EMFILE, ENFILE, EACCES... as they are;
// EIO when the file does not have the fields).
int readTaskStatus(pid_t tid, pid_t& tgid, uint32_t& euid, uint64_t* capEff = nullptr);

}  // namespace openwfp::linux_backend

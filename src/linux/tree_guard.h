// linux/tree_guard.h - the supervisor cannot be stopped or signalled from inside the tree, and
// 32-bit/x32 programs are refused with one line (S13.8).
//
// In the seccomp program (addTreeGuardRules): kill, tgkill, rt_sigqueueinfo, rt_tgsigqueueinfo
// and pidfd_open aimed at the supervisor or the tree's root (tree_root.h) fail with EPERM; so do
// kill(-1, sig) and kill(-group, sig) of the supervisor's process group with a signal that
// stops or kills (SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU, SIGKILL), and setpgid() into that group.
// Handed to the supervisor (TreeGuard::handle): tkill (a thread id: which process it belongs
// to is looked up), pidfd_send_signal (the descriptor's process is looked up on a duplicate)
// and kill(0, sig) with such a signal (refused when the caller is in the supervisor's group).
// execve/execveat: the program's ELF header is read; an i386 or x32 program fails with ENOEXEC
// and one line naming it (the filter would kill it with SIGSYS at its first system call).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "linux/notification_loop.h"
#include "linux/task_cache.h"

namespace openwfp::linux_backend {

struct TreeGuardPids {
  pid_t supervisor = 0;
  pid_t holder = 0;           // may be kHolderPidPlaceholder (patched after fork)
  pid_t supervisorGroup = 0;  // 0: no group rules
  std::vector<pid_t> others;  // more protected processes (the engine service in attach mode)
};

// Adds the rules above to a libseccomp context (scmp_filter_ctx). false with a one-line error.
bool addTreeGuardRules(void* ctx, const TreeGuardPids& pids, std::string& error);

// The syscall numbers TreeGuard::handle() answers (besides exec, which it may pass on).
bool isGuardedSignalSyscall(int nr);

class TreeGuard {
 public:
  TreeGuard(NotificationLoop& loop, TaskCache& tasks, std::vector<int> protectedPids,
            int protectedGroup)
      : loop_(loop), tasks_(tasks), pids_(std::move(protectedPids)), group_(protectedGroup) {}

  // true: the notification was answered here. false: not a guarded call, or an exec that may
  // go on (the caller handles it as before).
  bool handle(const seccomp_notif& n);

 private:
  bool isProtected(pid_t pid) const;
  void handleSignal(const seccomp_notif& n);
  bool refuseForeignExec(const seccomp_notif& n);  // true: answered ENOEXEC

  NotificationLoop& loop_;
  TaskCache& tasks_;
  const std::vector<int> pids_;
  const int group_;
};

// The ELF class of an executable: 64 (x86-64), 32 (i386), 0x32 (x32), 0 (not ELF or unknown).
// Reads the first 20 bytes of the file at path.
int elfKind(const std::string& path);

}  // namespace openwfp::linux_backend

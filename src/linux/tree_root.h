// linux/tree_root.h - the supervised tree's root process (S13.1, S13.5, S13.9).
//
// The supervisor forks the root ("holder"), which forks COMMAND:
//
//   supervisor ── holder (subreaper, outside the filter, non-dumpable) ── COMMAND (filtered) ── ...
//
// The holder is PR_SET_CHILD_SUBREAPER: every process of the tree whose parent exits is
// re-parented to it, not to init, so it reaps them and knows when the last one has gone. It
// writes COMMAND's wait status to the status pipe when COMMAND exits, keeps reaping, and exits
// (status 0) when it has no child left: the supervisor serves the listener until then. It has
// PR_SET_PDEATHSIG(SIGKILL) on the supervisor, COMMAND has it on the holder (S13.5: the
// supervisor's death kills COMMAND; other descendants fail closed, the listener being gone).
// Everything here runs after fork in a multi-threaded process: system calls only.
#pragma once

#include <linux/filter.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <cstdint>

namespace openwfp::linux_backend {

enum ChildStage : int { kStageSetup = 1, kStageSeccomp = 2, kStageExec = 3 };
struct ChildError {
  int stage;
  int err;
};

// The value the seccomp program carries in place of the holder's pid (its pid is known only
// after fork; the holder patches it in before COMMAND installs the program).
inline constexpr uint32_t kHolderPidPlaceholder = 0x7eedf00d;

struct TreePlan {
  const char* path;
  char* const* argv;
  char* const* envp;
  int stdinFd, stdoutFd, stderrFd;  // -1: inherited
  sock_filter* insns;               // the holder's (copy-on-write) copy is patched
  unsigned short count;
  int childSock;   // COMMAND sends {its pid, the listener} and waits for one byte back
  int errFd;       // ChildError on failure; closed by a successful exec (CLOEXEC)
  int statusFd;    // the holder writes COMMAND's wait status here
  pid_t supervisor;
  bool setPtracer; // Yama scope 1: COMMAND names the process that serves the listener as its tracer
  rlimit fdLimit;  // COMMAND's RLIMIT_NOFILE (the one the supervisor was started with)
  pid_t ptracer;   // that process: the supervisor, or the engine service it hands the listener to
};

// In the forked child: becomes the holder. Never returns.
[[noreturn]] void runTreeRoot(TreePlan& plan);

// Replaces kHolderPidPlaceholder in the program's constants by pid.
void patchHolderPid(sock_filter* insns, unsigned short count, pid_t pid);

}  // namespace openwfp::linux_backend

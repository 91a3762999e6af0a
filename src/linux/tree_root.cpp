// linux/tree_root.cpp - see tree_root.h.
#include "linux/tree_root.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "linux/seccomp_program.h"

namespace openwfp::linux_backend {
namespace {

[[noreturn]] void childFail(int errFd, int stage, int err) {
  ChildError e{stage, err};
  [[maybe_unused]] ssize_t n = ::write(errFd, &e, sizeof e);
  ::_exit(stage == kStageExec ? (err == ENOENT ? 127 : 126) : 1);
}

// {pid, listener's number} to the supervisor, which takes the listener itself with pidfd_getfd:
// the filter hands sendmsg() over from now on (S13.7), so SCM_RIGHTS would wait for an answer
// nobody gives yet.
bool sendListener(int sock, int listener) {
  const int msg[2] = {static_cast<int>(::getpid()), listener};
  ssize_t n;
  do {
    n = ::write(sock, msg, sizeof msg);
  } while (n < 0 && errno == EINTR);
  return n == static_cast<ssize_t>(sizeof msg);
}

[[noreturn]] void runCommand(TreePlan& p, pid_t holder) {
  const int errFd = p.errFd;
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) childFail(errFd, kStageSetup, errno);
  if (::getppid() != holder) ::_exit(1);  // the holder died before PDEATHSIG was armed
  if (p.stdinFd >= 0 && ::dup2(p.stdinFd, 0) < 0) childFail(errFd, kStageSetup, errno);
  if (p.stdoutFd >= 0 && ::dup2(p.stdoutFd, 1) < 0) childFail(errFd, kStageSetup, errno);
  if (p.stderrFd >= 0 && ::dup2(p.stderrFd, 2) < 0) childFail(errFd, kStageSetup, errno);
  ::close(p.statusFd);
  int listener = installSeccompProgram(p.insns, p.count);
  if (listener < 0) childFail(errFd, kStageSeccomp, -listener);
  if (!sendListener(p.childSock, listener)) childFail(errFd, kStageSetup, errno);
  char go = 0;
  ssize_t n;
  do {
    n = ::read(p.childSock, &go, 1);
  } while (n < 0 && errno == EINTR);
  if (n != 1) ::_exit(1);
  // Open until "go": the supervisor has taken it by then. Only the supervisor may answer (and
  // its death must be felt).
  ::close(listener);
  if (p.setPtracer) ::prctl(PR_SET_PTRACER, p.ptracer, 0, 0, 0);
  ::setrlimit(RLIMIT_NOFILE, &p.fdLimit);  // the application's own soft limit (S13.9)
  ::execve(p.path, p.argv, p.envp);
  childFail(errFd, kStageExec, errno);
}

}  // namespace

void patchHolderPid(sock_filter* insns, unsigned short count, pid_t pid) {
  for (unsigned short i = 0; i < count; ++i) {
    if (BPF_CLASS(insns[i].code) == BPF_JMP && BPF_SRC(insns[i].code) == BPF_K &&
        insns[i].k == kHolderPidPlaceholder) {
      insns[i].k = static_cast<uint32_t>(pid);
    }
  }
}

void runTreeRoot(TreePlan& p) {
  sigset_t all;
  sigemptyset(&all);
  ::sigprocmask(SIG_SETMASK, &all, nullptr);
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) childFail(p.errFd, kStageSetup, errno);
  if (::getppid() != p.supervisor) ::_exit(1);  // the supervisor died before PDEATHSIG was armed
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) childFail(p.errFd, kStageSetup, errno);
  const pid_t holder = ::getpid();
  patchHolderPid(p.insns, p.count, holder);
  const pid_t command = ::fork();
  if (command < 0) childFail(p.errFd, kStageSetup, errno);
  if (command == 0) runCommand(p, holder);
  // The holder: nothing from inside the tree may trace it (it runs unfiltered).
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  // Keep only the status pipe (and stdio): the holder must not keep the supervisor's sockets,
  // pipes and listeners open for the life of the tree.
  if (p.statusFd > 3) ::close_range(3, static_cast<unsigned>(p.statusFd) - 1, 0);
  ::close_range(static_cast<unsigned>(p.statusFd) + 1, ~0u, 0);
  // A terminal's job-control signals reach the whole foreground group: they are COMMAND's and
  // the supervisor's business, not the holder's (whose death would kill COMMAND).
  for (int sig : {SIGINT, SIGQUIT, SIGTSTP, SIGTTIN, SIGTTOU, SIGHUP, SIGPIPE}) ::signal(sig, SIG_IGN);
  for (;;) {
    int status = 0;
    pid_t pid = ::waitpid(-1, &status, __WALL);
    if (pid < 0) {
      if (errno == EINTR) continue;
      ::_exit(0);  // ECHILD: the last process of the tree is gone
    }
    if (pid == command) {
      [[maybe_unused]] ssize_t n = ::write(p.statusFd, &status, sizeof status);
      ::close(p.statusFd);
    }
  }
}

}  // namespace openwfp::linux_backend

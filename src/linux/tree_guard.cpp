// linux/tree_guard.cpp - see tree_guard.h.
#include "linux/tree_guard.h"

#include <fcntl.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <spdlog/spdlog.h>

#include "linux/seccomp_program.h"
#include "linux/syscalls.h"
#include "net/unique_fd.h"

namespace openwfp::linux_backend {
namespace {

constexpr int kStopOrKill[] = {SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU, SIGKILL};

// The low 32 bits of an argument (pid_t and int are 32-bit; the upper register half is not
// defined for them).
scmp_arg_cmp arg32(unsigned arg, int32_t value) {
  return scmp_arg_cmp{arg, SCMP_CMP_MASKED_EQ, 0xffffffffu, static_cast<uint32_t>(value)};
}

bool add(void* ctx, uint32_t action, int nr, std::initializer_list<scmp_arg_cmp> cmps,
         std::string& error) {
  int rc = seccomp_rule_add_array(ctx, action, nr, static_cast<unsigned>(cmps.size()), cmps.begin());
  if (rc != 0) {
    error = std::string("openwfp: libseccomp: cannot add a signal rule: ") + std::strerror(-rc);
    return false;
  }
  return true;
}

// The first number after the command name's ')' in /proc/TID/stat is the state; then ppid,
// pgrp. -1 when unreadable.
pid_t processGroupOf(pid_t tid) {
  char path[48];
  std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(tid));
  net::UniqueFd fd(::open(path, O_RDONLY | O_CLOEXEC));
  if (!fd) return -1;
  char buf[1024];
  ssize_t n = ::read(fd.get(), buf, sizeof buf - 1);
  if (n <= 0) return -1;
  buf[n] = '\0';
  char* close = std::strrchr(buf, ')');
  if (close == nullptr) return -1;
  char state = 0;
  int ppid = 0, pgrp = 0;
  if (std::sscanf(close + 1, " %c %d %d", &state, &ppid, &pgrp) != 3) return -1;
  return pgrp;
}

// The process a pidfd or a /proc/PID directory descriptor refers to; -1 if neither.
pid_t processOfDescriptor(int fd) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
  net::UniqueFd info(::open(path, O_RDONLY | O_CLOEXEC));
  if (info) {
    char buf[1024];
    ssize_t n = ::read(info.get(), buf, sizeof buf - 1);
    if (n > 0) {
      buf[n] = '\0';
      if (const char* pid = std::strstr(buf, "\nPid:")) return static_cast<pid_t>(std::atoi(pid + 5));
    }
  }
  net::UniqueFd stat(::openat(fd, "stat", O_RDONLY | O_CLOEXEC));
  if (!stat) return -1;
  char buf[32] = {};
  if (::read(stat.get(), buf, sizeof buf - 1) <= 0) return -1;
  return static_cast<pid_t>(std::atoi(buf));
}

// A NUL-terminated string of the task's memory (at most 4095 bytes), read page by page.
bool readTaskString(pid_t tid, uint64_t addr, std::string& out) {
  constexpr uint64_t kPage = 4096;
  out.clear();
  while (out.size() < 4095) {
    const size_t chunk = static_cast<size_t>(std::min<uint64_t>(kPage - addr % kPage, 4095 - out.size()));
    char buf[kPage];
    if (sys::readTaskMemory(tid, addr, buf, chunk) != 0) return false;
    const void* nul = std::memchr(buf, '\0', chunk);
    if (nul != nullptr) {
      out.append(buf, static_cast<const char*>(nul) - buf);
      return true;
    }
    out.append(buf, chunk);
    addr += chunk;
  }
  return false;
}

}  // namespace

bool isGuardedSignalSyscall(int nr) {
  return nr == SYS_kill || nr == SYS_tkill || nr == SYS_pidfd_send_signal;
}

bool addTreeGuardRules(void* ctx, const TreeGuardPids& p, std::string& error) {
  const uint32_t eperm = SCMP_ACT_ERRNO(EPERM);
  std::vector<pid_t> pids = {p.supervisor, p.holder};
  pids.insert(pids.end(), p.others.begin(), p.others.end());
  for (pid_t pid : pids) {
    if (pid <= 0) continue;
    for (int nr : {SYS_kill, SYS_tgkill, SYS_rt_sigqueueinfo, SYS_rt_tgsigqueueinfo, SYS_pidfd_open}) {
      if (!add(ctx, eperm, nr, {arg32(0, pid)}, error)) return false;
    }
  }
  for (int sig : kStopOrKill) {
    if (!add(ctx, eperm, SYS_kill, {arg32(0, -1), arg32(1, sig)}, error)) return false;
    if (p.supervisorGroup > 0) {
      if (!add(ctx, eperm, SYS_kill, {arg32(0, -p.supervisorGroup), arg32(1, sig)}, error)) return false;
      if (!add(ctx, SCMP_ACT_NOTIFY, SYS_kill, {arg32(0, 0), arg32(1, sig)}, error)) return false;
    }
  }
  if (p.supervisorGroup > 0 && !add(ctx, eperm, SYS_setpgid, {arg32(1, p.supervisorGroup)}, error)) {
    return false;
  }
  return add(ctx, SCMP_ACT_NOTIFY, SYS_tkill, {}, error) &&
         add(ctx, SCMP_ACT_NOTIFY, SYS_pidfd_send_signal, {}, error);
}

bool TreeGuard::isProtected(pid_t pid) const {
  return pid > 0 && (pid == ::getpid() || std::find(pids_.begin(), pids_.end(), pid) != pids_.end());
}

bool TreeGuard::handle(const seccomp_notif& n) {
  if (isExecSyscall(n.data.nr)) return refuseForeignExec(n);
  if (!isGuardedSignalSyscall(n.data.nr)) return false;
  handleSignal(n);
  return true;
}

void TreeGuard::handleSignal(const seccomp_notif& n) {
  const auto tid = static_cast<pid_t>(n.pid);
  const int nr = n.data.nr;
  bool refuse = false;
  if (nr == SYS_kill) {  // kill(0, stop-or-kill): the caller's own group
    refuse = group_ > 0 && processGroupOf(tid) == group_;
  } else if (nr == SYS_tkill) {
    pid_t tgid = 0;
    uint32_t euid = 0;
    const auto target = static_cast<pid_t>(static_cast<int32_t>(n.data.args[0]));
    refuse = target > 0 && readTaskStatus(target, tgid, euid) == 0 && isProtected(tgid);
  } else {  // pidfd_send_signal: which process does the caller's descriptor name?
    int err = 0;
    bool fresh = false;
    auto task = tasks_.get(tid, err, fresh);
    net::UniqueFd dup;
    if (task) {
      dup.reset(sys::pidfdGetfd(task->pidfd.get(), static_cast<int>(n.data.args[0]), 0));
      if (!dup) err = errno;
    }
    if (!dup) {
      if (err != EBADF && err != ESRCH) {
        loop_.failClosed(n.id, EPERM, "pidfd_send_signal", tid, err);
        return;
      }
    } else {
      refuse = isProtected(processOfDescriptor(dup.get()));
    }
  }
  if (refuse) {
    loop_.respond(n.id, EPERM, false);
  } else {
    loop_.respondContinue(n.id);
  }
}

bool TreeGuard::refuseForeignExec(const seccomp_notif& n) {
  const auto tid = static_cast<pid_t>(n.pid);
  const bool at = n.data.nr != SYS_execve;
  std::string path;
  if (!readTaskString(tid, at ? n.data.args[1] : n.data.args[0], path)) return false;  // EFAULT...
  std::string where = "/proc/" + std::to_string(tid);
  const int dirfd = static_cast<int>(n.data.args[0]);
  if (path.empty()) {
    if (!at || (n.data.args[4] & AT_EMPTY_PATH) == 0) return false;  // the kernel fails it
    where += "/fd/" + std::to_string(dirfd);
  } else if (path[0] == '/') {
    where += "/root" + path;
  } else if (!at || dirfd == AT_FDCWD) {
    where += "/cwd/" + path;
  } else {
    where += "/fd/" + std::to_string(dirfd) + "/" + path;
  }
  const int kind = elfKind(where);
  if (kind != 32 && kind != 0x32) return false;
  spdlog::error("openwfp: {} is {} program: 32-bit and x32 programs cannot be supervised (their "
                "system calls would bypass the filter); its exec fails with ENOEXEC",
                path.empty() ? "the executed file" : path, kind == 32 ? "a 32-bit (i386)" : "an x32");
  loop_.respond(n.id, ENOEXEC, false);
  return true;
}

int elfKind(const std::string& path) {
  net::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (!fd) return 0;
  unsigned char h[20];
  if (::pread(fd.get(), h, sizeof h, 0) != static_cast<ssize_t>(sizeof h)) return 0;
  if (h[0] != 0x7f || h[1] != 'E' || h[2] != 'L' || h[3] != 'F') return 0;
  const unsigned machine = h[5] == 2 ? (h[18] << 8 | h[19]) : (h[18] | h[19] << 8);  // EI_DATA
  if (h[4] == 2) return 64;
  if (h[4] != 1) return 0;
  if (machine == 3) return 32;     // EM_386
  if (machine == 62) return 0x32;  // EM_X86_64 in an ELFCLASS32 file: x32
  return 0;
}

}  // namespace openwfp::linux_backend

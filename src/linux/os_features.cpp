// linux/os_features.cpp - the start-up check of S13.6: one clear line per missing feature.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <sys/wait.h>
#include <string>

#include "linux/syscalls.h"
#include "net/unique_fd.h"
#include "linux/yama.h"
#include "openwfp/linux_backend.h"

namespace openwfp::linux_backend {

int yamaPtraceScope() {
  net::UniqueFd fd(::open("/proc/sys/kernel/yama/ptrace_scope", O_RDONLY | O_CLOEXEC));
  if (!fd) return -1;
  char buf[8] = {};
  if (::read(fd.get(), buf, sizeof buf - 1) <= 0) return -1;
  return buf[0] >= '0' && buf[0] <= '9' ? buf[0] - '0' : -1;
}

std::optional<std::string> checkLinuxFeatures() {
  unsigned action = SECCOMP_RET_USER_NOTIF;
  if (sys::seccomp(SECCOMP_GET_ACTION_AVAIL, 0, &action) != 0) {
    return "openwfp: kernel lacks seccomp user notification (SECCOMP_RET_USER_NOTIF, Linux >= 5.5 "
           "with CONFIG_SECCOMP_FILTER)";
  }
  seccomp_notif_sizes sizes{};
  if (sys::seccomp(SECCOMP_GET_NOTIF_SIZES, 0, &sizes) != 0) {
    return "openwfp: kernel lacks seccomp user notification (SECCOMP_GET_NOTIF_SIZES)";
  }
  net::UniqueFd self(sys::pidfdOpen(::getpid(), 0));
  if (!self) {
    if (errno == ENOSYS) return "openwfp: kernel lacks pidfd_open (Linux >= 5.3)";
    return std::string("openwfp: pidfd_open failed: ") + std::strerror(errno);
  }
  net::UniqueFd dup(sys::pidfdGetfd(self.get(), self.get(), 0));
  if (!dup) {
    if (errno == ENOSYS) return "openwfp: kernel lacks pidfd_getfd (Linux >= 5.6)";
    return std::string("openwfp: pidfd_getfd failed: ") + std::strerror(errno);
  }
  // process_vm_readv and /proc/PID/mem are both checked like ptrace attach. The supervisor is an
  // ancestor of every supervised process, which Yama scope 1 allows; 2 needs CAP_SYS_PTRACE.
  int scope = yamaPtraceScope();
  if (scope >= 3) {
    return "openwfp: kernel.yama.ptrace_scope=3 forbids inspecting supervised processes "
           "(pidfd_getfd, process_vm_readv)";
  }
  if (scope == 2 && ::geteuid() != 0) {
    return "openwfp: kernel.yama.ptrace_scope=2 forbids inspecting supervised processes without "
           "CAP_SYS_PTRACE (pidfd_getfd, process_vm_readv)";
  }
  return std::nullopt;
}

int exitStatusOf(int waitStatus) {
  if (WIFEXITED(waitStatus)) return WEXITSTATUS(waitStatus);
  if (WIFSIGNALED(waitStatus)) return 128 + WTERMSIG(waitStatus);
  return 1;
}

}  // namespace openwfp::linux_backend

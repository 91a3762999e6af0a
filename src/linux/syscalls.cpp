// linux/syscalls.cpp - see syscalls.h.
#include "linux/syscalls.h"

#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "net/unique_fd.h"

namespace openwfp::linux_backend::sys {

int pidfdOpen(pid_t pid, unsigned flags) {
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, flags));
}

int pidfdGetfd(int pidfd, int targetFd, unsigned flags) {
  return static_cast<int>(::syscall(SYS_pidfd_getfd, pidfd, targetFd, flags));
}

int seccomp(unsigned op, unsigned flags, void* args) {
  return static_cast<int>(::syscall(SYS_seccomp, op, flags, args));
}

int readTaskMemory(pid_t tid, uint64_t remoteAddr, void* out, size_t len) {
  iovec local{out, len};
  iovec remote{reinterpret_cast<void*>(static_cast<uintptr_t>(remoteAddr)), len};
  ssize_t n = ::process_vm_readv(tid, &local, 1, &remote, 1, 0);
  if (n == static_cast<ssize_t>(len)) return 0;
  if (n >= 0) return EFAULT;  // partial read: the range ends in unmapped memory
  int err = errno;
  if (err == EFAULT || err == ESRCH) return err;
  // ENOSYS (kernel without CONFIG_CROSS_MEMORY_ATTACH), EPERM, ...: try /proc/TID/mem.
  char path[48];
  std::snprintf(path, sizeof path, "/proc/%d/mem", static_cast<int>(tid));
  net::UniqueFd mem(::open(path, O_RDONLY | O_CLOEXEC));
  if (!mem) return err;
  n = ::pread(mem.get(), out, len, static_cast<off_t>(remoteAddr));
  if (n == static_cast<ssize_t>(len)) return 0;
  if (n >= 0) return EFAULT;
  return errno == EIO ? EFAULT : errno;
}

int writeTaskMemory(pid_t tid, uint64_t remoteAddr, const void* data, size_t len) {
  iovec local{const_cast<void*>(data), len};
  iovec remote{reinterpret_cast<void*>(static_cast<uintptr_t>(remoteAddr)), len};
  ssize_t n = ::process_vm_writev(tid, &local, 1, &remote, 1, 0);
  if (n == static_cast<ssize_t>(len)) return 0;
  if (n >= 0) return EFAULT;
  int err = errno;
  if (err == EFAULT || err == ESRCH) return err;
  char path[48];
  std::snprintf(path, sizeof path, "/proc/%d/mem", static_cast<int>(tid));
  net::UniqueFd mem(::open(path, O_WRONLY | O_CLOEXEC));
  if (!mem) return err;
  n = ::pwrite(mem.get(), data, len, static_cast<off_t>(remoteAddr));
  if (n == static_cast<ssize_t>(len)) return 0;
  if (n >= 0) return EFAULT;
  return errno == EIO ? EFAULT : errno;
}

}  // namespace openwfp::linux_backend::sys

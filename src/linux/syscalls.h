// linux/syscalls.h - thin wrappers for the kernel interfaces the backend uses, with the constants
// that Debian 12's headers lack (they are stable kernel ABI values).
#pragma once

#include <linux/seccomp.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>

// Linux 6.6: wake the supervisor and the supervised task on the same CPU.
#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif
// Linux 5.19: once the supervisor received a notification, only fatal signals interrupt the wait.
#ifndef SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
#define SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (1UL << 5)
#endif

namespace openwfp::linux_backend::sys {

// Linux 6.9: a pidfd for one thread (any tid, not only a thread-group leader). == O_EXCL.
inline constexpr unsigned kPidfdThread = 0200;

// All return -1 with errno set on failure, like the libc calls.
int pidfdOpen(pid_t pid, unsigned flags);
int pidfdGetfd(int pidfd, int targetFd, unsigned flags);
int seccomp(unsigned op, unsigned flags, void* args);

// Reads len bytes at remoteAddr of task tid: process_vm_readv, falling back to /proc/TID/mem.
// Returns 0 or an errno value (EFAULT: the range is not readable).
int readTaskMemory(pid_t tid, uint64_t remoteAddr, void* out, size_t len);
// Writes len bytes at remoteAddr of task tid (process_vm_writev, then /proc/TID/mem). 0 or errno.
int writeTaskMemory(pid_t tid, uint64_t remoteAddr, const void* data, size_t len);

}  // namespace openwfp::linux_backend::sys

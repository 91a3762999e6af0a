// linux/seccomp_program.h - the seccomp program of a supervised process tree.
//
// Every connect() and bind(), every sendmsg()/sendmmsg(), sendto() with a destination address
// and sendto() with MSG_FASTOPEN (a TCP Fast Open connect) are handed to the supervisor
// (SECCOMP_RET_USER_NOTIF, S13.7); every other
// call runs in-kernel untouched (S13.4), except io_uring_setup, which fails with ENOSYS (io_uring
// would connect without a system call the filter sees). execve/execveat
// and setuid/setreuid/setresuid are handed over too, so that the supervisor can forget the
// process facts it cached (image path, uid): they are answered "continue", except the exec of a
// 32-bit or x32 program (ENOEXEC, tree_guard.h). The signal rules of tree_guard.h are added too.
#pragma once

#include <linux/filter.h>

#include <optional>
#include <string>
#include <vector>

#include "openwfp/linux_backend.h"

namespace openwfp::linux_backend {

struct TreeGuardPids;  // tree_guard.h

struct SeccompProgram {
  std::vector<sock_filter> instructions;
};

// Builds the program with libseccomp (in the supervisor, before fork), with the signal and exec
// rules of tree_guard.h for `guard`. On failure returns std::nullopt and a one-line reason in
// `error`.
std::optional<SeccompProgram> buildSeccompProgram(const TreeGuardPids& guard, std::string& error);

// In the child after fork (async-signal-safe: no allocation): sets PR_SET_NO_NEW_PRIVS and loads
// the program with a new listener. Returns the listener fd, or -errno.
int installSeccompProgram(const sock_filter* instructions, unsigned short count);

// The syscall numbers handed over only to invalidate cached process facts.
bool isInvalidatingSyscall(int nr);
bool isExecSyscall(int nr);
int connectSyscallNr();
int bindSyscallNr();
int sendtoSyscallNr();
int sendmsgSyscallNr();
int sendmmsgSyscallNr();

}  // namespace openwfp::linux_backend

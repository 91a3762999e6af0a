// linux/seccomp_program.cpp - see seccomp_program.h.
#include "linux/seccomp_program.h"

#include <fcntl.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "linux/syscalls.h"
#include "linux/tree_guard.h"
#include "net/unique_fd.h"

namespace openwfp::linux_backend {
namespace {

struct CtxDeleter {
  void operator()(void* ctx) const { seccomp_release(ctx); }
};

}  // namespace

int connectSyscallNr() { return SYS_connect; }
int bindSyscallNr() { return SYS_bind; }
int sendtoSyscallNr() { return SYS_sendto; }
int sendmsgSyscallNr() { return SYS_sendmsg; }
int sendmmsgSyscallNr() { return SYS_sendmmsg; }

bool isExecSyscall(int nr) { return nr == SYS_execve || nr == SYS_execveat; }

bool isInvalidatingSyscall(int nr) {
  return isExecSyscall(nr) || nr == SYS_setuid || nr == SYS_setreuid || nr == SYS_setresuid;
}

std::optional<SeccompProgram> buildSeccompProgram(const TreeGuardPids& guard, std::string& error) {
  std::unique_ptr<void, CtxDeleter> ctx(seccomp_init(SCMP_ACT_ALLOW));
  if (!ctx) {
    error = "openwfp: libseccomp could not create a filter";
    return std::nullopt;
  }
  // A foreign-architecture syscall (x32, i386 int 0x80) would bypass the rules: kill instead.
  int rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
  if (rc != 0) rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL);
  if (rc != 0) {
    error = std::string("openwfp: libseccomp: cannot set the bad-architecture action: ") +
            std::strerror(-rc);
    return std::nullopt;
  }
  // Every connect() and bind(), whatever its address length (S13.7): the program cannot read
  // the sockaddr, and the kernel accepts any length from sizeof(sockaddr_in) (or 24 for
  // AF_INET6) up to sizeof(sockaddr_storage) for an IP address. Calls that are not IP are told
  // apart in user space, on the socket itself.
  // Sends that can carry a destination are handed over too: sendto() with a non-NULL address
  // (a register, so the test cannot race) and every sendmsg()/sendmmsg() (msg_name lives in
  // memory), so that unconnected UDP is classified per flow; sendto() with MSG_FASTOPEN (a TCP
  // Fast Open connect) is handed over whatever its address.
  for (int nr : {SYS_connect, SYS_bind, SYS_sendmsg, SYS_sendmmsg}) {
    rc = seccomp_rule_add(ctx.get(), SCMP_ACT_NOTIFY, nr, 0);
    if (rc != 0) {
      error = std::string("openwfp: libseccomp: cannot add the connect/bind/send notify rule: ") +
              std::strerror(-rc) + " (kernel lacks seccomp user notification?)";
      return std::nullopt;
    }
  }
  scmp_arg_cmp withAddress{4, SCMP_CMP_NE, 0, 0};
  scmp_arg_cmp fastOpen{3, SCMP_CMP_MASKED_EQ, MSG_FASTOPEN, MSG_FASTOPEN};
  for (const scmp_arg_cmp* cmp : {&withAddress, &fastOpen}) {
    rc = seccomp_rule_add_array(ctx.get(), SCMP_ACT_NOTIFY, SYS_sendto, 1, cmp);
    if (rc != 0) {
      error = std::string("openwfp: libseccomp: cannot add the sendto rule: ") + std::strerror(-rc);
      return std::nullopt;
    }
  }
  // io_uring performs connects without system calls the filter sees: not available (programs
  // fall back to ordinary sockets when io_uring_setup says ENOSYS).
  rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ERRNO(ENOSYS), SYS_io_uring_setup, 0);
  if (rc != 0) {
    error = std::string("openwfp: libseccomp: cannot add the io_uring rule: ") + std::strerror(-rc);
    return std::nullopt;
  }
  // The supervisor cannot be taken over from inside the tree (S13.8): taking another process's
  // descriptors (the seccomp listener) and reading or writing another process's memory are
  // refused with EPERM, whatever the target. ptrace stays allowed, because LeakSanitizer and
  // debuggers trace their own threads and a filter cannot tell those from other targets; the
  // supervisor is non-dumpable (supervisor.cpp), so no process of its uid without
  // CAP_SYS_PTRACE can trace it.
  for (int nr : {SYS_pidfd_getfd, SYS_process_vm_readv, SYS_process_vm_writev}) {
    rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ERRNO(EPERM), nr, 0);
    if (rc != 0) {
      error = std::string("openwfp: libseccomp: cannot add a take-over rule: ") + std::strerror(-rc);
      return std::nullopt;
    }
  }
  if (!addTreeGuardRules(ctx.get(), guard, error)) return std::nullopt;  // S13.8 (tree_guard.h)
  for (int nr : {SYS_execve, SYS_execveat, SYS_setuid, SYS_setreuid, SYS_setresuid}) {
    rc = seccomp_rule_add(ctx.get(), SCMP_ACT_NOTIFY, nr, 0);
    if (rc != 0) {
      error = std::string("openwfp: libseccomp: cannot add a notify rule: ") + std::strerror(-rc);
      return std::nullopt;
    }
  }
  // Export the raw BPF (libseccomp 2.5 writes it to an fd) so the child only has to load it.
  net::UniqueFd mem(::memfd_create("openwfp-seccomp", MFD_CLOEXEC));
  if (!mem) {
    error = std::string("openwfp: memfd_create: ") + std::strerror(errno);
    return std::nullopt;
  }
  rc = seccomp_export_bpf(ctx.get(), mem.get());
  if (rc != 0) {
    error = std::string("openwfp: libseccomp: cannot export the filter: ") + std::strerror(-rc);
    return std::nullopt;
  }
  off_t size = ::lseek(mem.get(), 0, SEEK_END);
  if (size <= 0 || size % static_cast<off_t>(sizeof(sock_filter)) != 0 ||
      size / static_cast<off_t>(sizeof(sock_filter)) > BPF_MAXINSNS) {
    error = "openwfp: libseccomp exported a malformed filter";
    return std::nullopt;
  }
  SeccompProgram program;
  program.instructions.resize(static_cast<size_t>(size) / sizeof(sock_filter));
  if (::pread(mem.get(), program.instructions.data(), static_cast<size_t>(size), 0) != size) {
    error = std::string("openwfp: reading the exported filter: ") + std::strerror(errno);
    return std::nullopt;
  }
  return program;
}

int installSeccompProgram(const sock_filter* instructions, unsigned short count) {
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -errno;
  sock_fprog prog{count, const_cast<sock_filter*>(instructions)};
  int fd = sys::seccomp(SECCOMP_SET_MODE_FILTER,
                        SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
                        &prog);
  if (fd < 0 && errno == EINVAL) {  // kernel < 5.19: no WAIT_KILLABLE_RECV
    fd = sys::seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
  }
  return fd >= 0 ? fd : -errno;
}

}  // namespace openwfp::linux_backend

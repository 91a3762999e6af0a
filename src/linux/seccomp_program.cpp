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

// One rule per length range [lo, hi] expressed as masked equality on the low 32 bits of the
// length argument: the kernel reads socklen_t (int), so the upper register bits must not matter.
struct LengthRule {
  uint64_t mask;
  uint64_t value;
};

std::vector<LengthRule> lengthRules(AddressLengthFilter lengths) {
  if (lengths == AddressLengthFilter::Common) {
    return {{0xffffffffu, 16}, {0xffffffffu, 24}, {0xffffffffu, 28}, {0xffffffffu, 128}};
  }
  // 16..128: [16,31], [32,63], [64,127], 128. Longer or negative lengths fail with EINVAL in
  // move_addr_to_kernel(); shorter ones cannot hold an IP sockaddr.
  return {{0xfffffff0u, 16}, {0xffffffe0u, 32}, {0xffffffc0u, 64}, {0xffffffffu, 128}};
}

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

std::optional<SeccompProgram> buildSeccompProgram(AddressLengthFilter lengths,
                                                  const TreeGuardPids& guard, std::string& error) {
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
  for (int nr : {SYS_connect, SYS_bind}) {
    for (const LengthRule& r : lengthRules(lengths)) {
      rc = seccomp_rule_add(ctx.get(), SCMP_ACT_NOTIFY, nr, 1,
                            SCMP_A2(SCMP_CMP_MASKED_EQ, r.mask, r.value));
      if (rc != 0) {
        error = std::string("openwfp: libseccomp: cannot add the connect/bind notify rule: ") +
                std::strerror(-rc) + " (kernel lacks seccomp user notification?)";
        return std::nullopt;
      }
    }
  }
  // TCP Fast Open connects without connect(): sends with MSG_FASTOPEN are handed over too.
  struct FastOpenRule {
    int nr;
    unsigned flagsArg;
  };
  for (FastOpenRule r : {FastOpenRule{SYS_sendto, 3}, FastOpenRule{SYS_sendmsg, 2},
                         FastOpenRule{SYS_sendmmsg, 3}}) {
    scmp_arg_cmp cmp{r.flagsArg, SCMP_CMP_MASKED_EQ, MSG_FASTOPEN, MSG_FASTOPEN};
    rc = seccomp_rule_add_array(ctx.get(), SCMP_ACT_NOTIFY, r.nr, 1, &cmp);
    if (rc != 0) {
      error = std::string("openwfp: libseccomp: cannot add the fast-open rule: ") + std::strerror(-rc);
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

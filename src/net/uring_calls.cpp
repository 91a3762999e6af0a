// net/uring_calls.cpp - see uring_calls.h.
#include "net/uring_calls.h"

#include <linux/io_uring.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>

namespace openwfp::net {
namespace {

constexpr unsigned kEntries = 4;
constexpr uint64_t kOptionTag = 16;  // + the option's index
constexpr uint32_t kSocketUringOpGetsockopt = 2;  // SOCKET_URING_OP_GETSOCKOPT (Linux 6.7)
// How long a completion may take: a socket option completes at once. A ring that does not
// deliver in this time (five waits) is dropped: closing it ends its requests.
constexpr long kWaitSeconds = 1;

// 0: not decided yet; 1: this process uses io_uring; -1: it does not.
std::atomic<int> gState{0};

bool disabledByEnvironment() {
  const char* v = std::getenv("OPENWFP_IO_URING");
  return v != nullptr && std::strcmp(v, "0") == 0;
}

int enter(int fd, unsigned toSubmit, unsigned minComplete, unsigned flags, const void* arg, size_t argLen) {
  return static_cast<int>(::syscall(__NR_io_uring_enter, fd, toSubmit, minComplete, flags, arg, argLen));
}

class Ring {
 public:
  Ring() = default;
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;
  ~Ring() { close(); }

  // False (errno set) when no ring can be had.
  bool open() {
    io_uring_params p{};
    const long fd = ::syscall(__NR_io_uring_setup, kEntries, &p);
    if (fd < 0) return false;
    fd_ = static_cast<int>(fd);
    // One mapping for both rings (5.4+) and a bounded wait (5.11+): required, else no ring.
    if ((p.features & IORING_FEAT_SINGLE_MMAP) == 0 || (p.features & IORING_FEAT_EXT_ARG) == 0) {
      close();
      errno = ENOSYS;
      return false;
    }
    ringLen_ = std::max<size_t>(p.sq_off.array + p.sq_entries * sizeof(unsigned),
                                p.cq_off.cqes + p.cq_entries * sizeof(io_uring_cqe));
    void* ring = ::mmap(nullptr, ringLen_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd_, IORING_OFF_SQ_RING);
    if (ring == MAP_FAILED) {
      close();
      return false;
    }
    ring_ = static_cast<char*>(ring);
    sqesLen_ = p.sq_entries * sizeof(io_uring_sqe);
    void* sqes = ::mmap(nullptr, sqesLen_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd_, IORING_OFF_SQES);
    if (sqes == MAP_FAILED) {
      close();
      return false;
    }
    sqes_ = static_cast<io_uring_sqe*>(sqes);
    sqHead_ = reinterpret_cast<unsigned*>(ring_ + p.sq_off.head);
    sqTail_ = reinterpret_cast<unsigned*>(ring_ + p.sq_off.tail);
    sqMask_ = *reinterpret_cast<unsigned*>(ring_ + p.sq_off.ring_mask);
    sqArray_ = reinterpret_cast<unsigned*>(ring_ + p.sq_off.array);
    cqHead_ = reinterpret_cast<unsigned*>(ring_ + p.cq_off.head);
    cqTail_ = reinterpret_cast<unsigned*>(ring_ + p.cq_off.tail);
    cqMask_ = *reinterpret_cast<unsigned*>(ring_ + p.cq_off.ring_mask);
    cqes_ = reinterpret_cast<io_uring_cqe*>(ring_ + p.cq_off.cqes);
    return true;
  }

  bool usable() const { return fd_ >= 0; }

  // SOL_SOCKET getsockopt of each option (at most kEntries) in one system call
  // (IORING_OP_URING_CMD, SOCKET_URING_OP_GETSOCKOPT, Linux 6.7). False: not attempted, or an
  // option failed (then some values may be written, none may be trusted).
  bool socketOptions(int fd, std::span<SocketOption> options) {
    if (options.empty() || options.size() > kEntries) return false;
    for (unsigned k = 0; k < options.size(); ++k) {
      io_uring_sqe* e = entry(k);
      e->opcode = IORING_OP_URING_CMD;
      e->fd = fd;
      e->cmd_op = kSocketUringOpGetsockopt;
      // sqe->level (low half) and sqe->optname (high half) share the addr field, sqe->optlen the
      // splice_fd_in one, sqe->optval addr3 (linux/io_uring.h of 6.7 names them; Debian 12's
      // headers are older).
      e->addr = static_cast<uint64_t>(static_cast<uint32_t>(SOL_SOCKET)) |
                (static_cast<uint64_t>(static_cast<uint32_t>(options[k].name)) << 32);
      e->splice_fd_in = static_cast<int32_t>(options[k].len);
      e->addr3 = reinterpret_cast<uintptr_t>(options[k].value);
      e->user_data = kOptionTag + k;
    }
    const auto n = static_cast<unsigned>(options.size());
    if (!submit(n, 0, 0)) return false;
    int failed = 0;
    unsigned seen = 0;
    const bool ok = collect(n, [&](const io_uring_cqe& done) {
      const uint64_t k = done.user_data - kOptionTag;
      if (done.user_data < kOptionTag || k >= n) return;
      ++seen;
      if (done.res < 0 && failed == 0) failed = -done.res;
      if (done.res >= 0) options[k].len = static_cast<socklen_t>(done.res);  // the length returned
    });
    if (!ok || seen != n) {
      close();
      return false;
    }
    // Any error, and the caller asks getsockopt instead: the command can fail where getsockopt
    // would not (a kernel without socket commands: EOPNOTSUPP; an LSM that checks io_uring
    // commands apart from getsockopt: EACCES), and a socket whose facts are unread must never
    // pass as "not TCP or UDP".
    lastError_ = failed;
    return failed == 0;
  }

  int lastError() const { return lastError_; }

 private:
  // The k-th entry after the ring's tail, cleared; submit(count) hands entries 0..count-1 over.
  io_uring_sqe* entry(unsigned k) {
    const unsigned index = (*sqTail_ + k) & sqMask_;
    io_uring_sqe* e = &sqes_[index];
    std::memset(e, 0, sizeof *e);
    sqArray_[index] = index;
    return e;
  }

  // False when the kernel took none of them (they are withdrawn). With entries to submit, the
  // count taken is returned even when the wait that follows is interrupted.
  bool submit(unsigned count, unsigned minComplete, unsigned flags) {
    const unsigned tail = *sqTail_;
    __atomic_store_n(sqTail_, tail + count, __ATOMIC_RELEASE);
    io_uring_getevents_arg arg{};
    __kernel_timespec ts{kWaitSeconds, 0};
    arg.ts = reinterpret_cast<uintptr_t>(&ts);
    const bool wait = (flags & IORING_ENTER_GETEVENTS) != 0;
    const int n = enter(fd_, count, minComplete, wait ? flags | IORING_ENTER_EXT_ARG : flags,
                        wait ? &arg : nullptr, wait ? sizeof arg : 0);
    if (n == static_cast<int>(count)) return true;
    if (__atomic_load_n(sqHead_, __ATOMIC_ACQUIRE) == tail) {
      __atomic_store_n(sqTail_, tail, __ATOMIC_RELEASE);  // none consumed: ours to withdraw
      return false;
    }
    if (__atomic_load_n(sqHead_, __ATOMIC_ACQUIRE) != tail + count) {
      close();  // some taken, some not: not a state to reuse
      return false;
    }
    return true;
  }

  // Hands `count` completions to `take`, waiting (a bounded time) for those not there yet.
  template <class Take>
  bool collect(unsigned count, Take take) {
    io_uring_getevents_arg arg{};
    __kernel_timespec ts{kWaitSeconds, 0};
    arg.ts = reinterpret_cast<uintptr_t>(&ts);
    unsigned got = 0;
    for (int waits = 0; got < count; ++waits) {
      io_uring_cqe cqe{};
      while (got < count && pop(cqe)) {
        take(cqe);
        ++got;
      }
      if (got == count) break;
      if (waits == 4) return false;
      if (enter(fd_, 0, 1, IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, &arg, sizeof arg) < 0 &&
          errno != EINTR && errno != ETIME) {
        return false;
      }
    }
    return true;
  }

  bool pop(io_uring_cqe& out) {
    const unsigned head = *cqHead_;
    if (head == __atomic_load_n(cqTail_, __ATOMIC_ACQUIRE)) return false;
    out = cqes_[head & cqMask_];
    __atomic_store_n(cqHead_, head + 1, __ATOMIC_RELEASE);
    return true;
  }

  void close() {
    if (sqes_ != nullptr) ::munmap(sqes_, sqesLen_);
    if (ring_ != nullptr) ::munmap(ring_, ringLen_);
    if (fd_ >= 0) ::close(fd_);
    sqes_ = nullptr;
    ring_ = nullptr;
    fd_ = -1;
  }

  int fd_ = -1;
  char* ring_ = nullptr;
  size_t ringLen_ = 0;
  io_uring_sqe* sqes_ = nullptr;
  size_t sqesLen_ = 0;
  unsigned* sqHead_ = nullptr;
  unsigned* sqTail_ = nullptr;
  unsigned sqMask_ = 0;
  unsigned* sqArray_ = nullptr;
  unsigned* cqHead_ = nullptr;
  unsigned* cqTail_ = nullptr;
  unsigned cqMask_ = 0;
  io_uring_cqe* cqes_ = nullptr;
  int lastError_ = 0;
};

// This thread's ring, made on first use; nullptr when there is none.
Ring* threadRing() {
  thread_local std::unique_ptr<Ring> ring;
  thread_local bool failed = false;
  if (ring && ring->usable()) return ring.get();
  if (failed) return nullptr;
  if (gState.load(std::memory_order_relaxed) < 0) return nullptr;
  if (disabledByEnvironment()) {
    gState.store(-1, std::memory_order_relaxed);
    return nullptr;
  }
  auto fresh = std::make_unique<Ring>();
  if (!fresh->open()) {
    // The first ring decides for the process (no io_uring here); a later failure (EMFILE, say,
    // when a dropped ring is replaced) only for this thread.
    int expected = 0;
    if (!gState.compare_exchange_strong(expected, -1)) failed = true;
    return nullptr;
  }
  gState.store(1, std::memory_order_relaxed);
  ring = std::move(fresh);
  return ring.get();
}

}  // namespace

namespace {

// 0: not checked yet; 1: socket commands give what getsockopt gives; -1: not used.
std::atomic<int> gOptionsState{0};

// The ring's SO_TYPE, SO_PROTOCOL, SO_COOKIE and SO_DOMAIN of a UDP socket of our own, against
// getsockopt's.
bool optionsAgree(Ring& ring) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP);
  if (fd < 0) return false;
  int type = -1, protocol = -1, domain = -1;
  uint64_t cookie = 0;
  SocketOption options[] = {{SO_TYPE, &type, sizeof type},
                            {SO_PROTOCOL, &protocol, sizeof protocol},
                            {SO_COOKIE, &cookie, sizeof cookie},
                            {SO_DOMAIN, &domain, sizeof domain}};
  bool agree = ring.socketOptions(fd, options);
  for (const SocketOption& o : options) {
    if (!agree) break;
    uint64_t expected = 0;
    socklen_t len = sizeof expected;
    agree = ::getsockopt(fd, SOL_SOCKET, o.name, &expected, &len) == 0 && len == o.len &&
            std::memcmp(&expected, o.value, len) == 0;
  }
  ::close(fd);
  return agree;
}

}  // namespace

bool UringSocketOptions::get(int fd, std::span<SocketOption> options) {
  const int state = gOptionsState.load(std::memory_order_relaxed);
  if (state < 0) return false;
  Ring* ring = threadRing();
  if (ring == nullptr) return false;
  if (state == 0) {
    const bool agree = optionsAgree(*ring);
    gOptionsState.store(agree ? 1 : -1, std::memory_order_relaxed);
    if (!agree) return false;
    ring = threadRing();  // the check may have dropped a ring that misbehaved
    if (ring == nullptr) return false;
  }
  if (ring->socketOptions(fd, options)) return true;
  // Refused by a policy (an LSM, a seccomp filter): not worth a failed call before every read.
  const int err = ring->lastError();
  if (err == EACCES || err == EPERM || err == EOPNOTSUPP) gOptionsState.store(-1, std::memory_order_relaxed);
  return false;
}

}  // namespace openwfp::net

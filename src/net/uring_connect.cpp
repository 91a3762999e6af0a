// net/uring_connect.cpp - see uring_connect.h.
#include "net/uring_connect.h"

#include <linux/io_uring.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace openwfp::net {
namespace {

constexpr unsigned kEntries = 4;
constexpr uint64_t kConnectTag = 1;
constexpr uint64_t kCancelTag = 2;
// How long a cancellation may take to be confirmed. A poll-armed request is cancelled at once;
// a ring that does not confirm in this time is dropped (closing it ends its requests).
constexpr long kCancelWaitSeconds = 1;

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

  UringConnectResult connect(int fd, const sockaddr* sa, socklen_t len) {
    UringConnectResult r;
    io_uring_sqe* e = nextSqe();
    e->opcode = IORING_OP_CONNECT;
    e->fd = fd;
    e->addr = reinterpret_cast<uintptr_t>(sa);
    e->off = len;  // the address length itself, not a pointer to it
    e->user_data = kConnectTag;
    if (!submit(0, 0, nullptr)) return r;  // not taken: the caller connects itself
    r.used = true;
    int res = 0;
    if (takeCompletion(kConnectTag, res)) {
      r.completed = true;
      r.error = -res;
      return r;
    }
    // Still connecting: cancel the request (the handshake itself goes on) and wait until the
    // ring says how the connect ended, so that no completion is left behind for the next call.
    io_uring_sqe* c = nextSqe();
    c->opcode = IORING_OP_ASYNC_CANCEL;
    c->fd = -1;
    c->addr = kConnectTag;  // the request to cancel, by its user_data
    c->user_data = kCancelTag;
    __kernel_timespec ts{kCancelWaitSeconds, 0};
    io_uring_getevents_arg arg{};
    arg.ts = reinterpret_cast<uintptr_t>(&ts);
    bool connectSeen = false, cancelSeen = false;
    if (!submit(1, IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, &arg)) {
      close();  // the cancel could not be queued: closing the ring ends the connect request
      return r;
    }
    for (int rounds = 0; !(connectSeen && cancelSeen) && rounds < 4; ++rounds) {
      io_uring_cqe cqe{};
      while (pop(cqe)) {
        if (cqe.user_data == kConnectTag) {
          connectSeen = true;
          if (cqe.res != -ECANCELED) {  // it ended before the cancel reached it
            r.completed = true;
            r.error = -cqe.res;
          }
        } else if (cqe.user_data == kCancelTag) {
          cancelSeen = true;
        }
      }
      if (connectSeen && cancelSeen) break;
      if (enter(fd_, 0, 1, IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, &arg, sizeof arg) < 0 && errno != EINTR) break;
    }
    if (!(connectSeen && cancelSeen)) close();  // never reused with a completion outstanding
    return r;
  }

 private:
  // The next entry, cleared; it goes to the kernel with submit().
  io_uring_sqe* nextSqe() {
    const unsigned index = *sqTail_ & sqMask_;
    io_uring_sqe* e = &sqes_[index];
    std::memset(e, 0, sizeof *e);
    sqArray_[index] = index;
    return e;
  }

  // Submits the entry nextSqe() gave. False when the kernel did not take it (it is withdrawn).
  bool submit(unsigned minComplete, unsigned flags, const io_uring_getevents_arg* arg) {
    const unsigned tail = *sqTail_;
    __atomic_store_n(sqTail_, tail + 1, __ATOMIC_RELEASE);
    // With entries to submit, the count taken is returned even when a wait is interrupted.
    if (enter(fd_, 1, minComplete, flags, arg, arg != nullptr ? sizeof *arg : 0) == 1) return true;
    if (__atomic_load_n(sqHead_, __ATOMIC_ACQUIRE) == tail) {
      __atomic_store_n(sqTail_, tail, __ATOMIC_RELEASE);  // not consumed: ours to withdraw
      return false;
    }
    return true;  // consumed after all
  }

  bool pop(io_uring_cqe& out) {
    const unsigned head = *cqHead_;
    if (head == __atomic_load_n(cqTail_, __ATOMIC_ACQUIRE)) return false;
    out = cqes_[head & cqMask_];
    __atomic_store_n(cqHead_, head + 1, __ATOMIC_RELEASE);
    return true;
  }

  bool takeCompletion(uint64_t tag, int& res) {
    const unsigned head = *cqHead_;
    if (head == __atomic_load_n(cqTail_, __ATOMIC_ACQUIRE)) return false;
    const io_uring_cqe& cqe = cqes_[head & cqMask_];
    if (cqe.user_data != tag) return false;
    res = cqe.res;
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
    // The first ring decides for the process (no io_uring here); a later failure (EMFILE, a
    // ring dropped after a stuck cancel) only for this thread.
    int expected = 0;
    if (!gState.compare_exchange_strong(expected, -1)) failed = true;
    return nullptr;
  }
  gState.store(1, std::memory_order_relaxed);
  ring = std::move(fresh);
  return ring.get();
}

}  // namespace

bool UringConnect::available() {
  if (gState.load(std::memory_order_relaxed) == 0) threadRing();
  return gState.load(std::memory_order_relaxed) > 0;
}

UringConnectResult UringConnect::connect(int fd, const sockaddr* sa, socklen_t len) {
  Ring* ring = threadRing();
  if (ring == nullptr) return {};
  return ring->connect(fd, sa, len);
}

}  // namespace openwfp::net

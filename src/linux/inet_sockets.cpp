// linux/inet_sockets.cpp - see inet_sockets.h.
#include "linux/inet_sockets.h"

#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/inet_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <memory>

#include "net/unique_fd.h"

namespace openwfp::linux_backend {
namespace {

Endpoint fromDiag(uint8_t family, const __be32 addr[4], __be16 port) {
  Endpoint ep;
  ep.version = family == AF_INET ? IpVersion::V4 : IpVersion::V6;
  std::memcpy(ep.addr.data(), addr, family == AF_INET ? 4 : 16);
  ep.port = ntohs(port);
  return ep;
}

uint64_t nextSerial() {
  static std::atomic<uint64_t> serial{0};
  return serial.fetch_add(1, std::memory_order_relaxed) + 1;
}

}  // namespace

bool tcpStateEnded(uint8_t state) { return state == TCP_TIME_WAIT || state == TCP_CLOSE; }

std::optional<std::vector<DiagSocket>> dumpSockets(int family, int protocol) {
  net::UniqueFd nl(::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
  if (!nl) return std::nullopt;
  struct {
    nlmsghdr hdr;
    inet_diag_req_v2 req;
  } msg{};
  msg.hdr.nlmsg_len = sizeof msg;
  msg.hdr.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  msg.hdr.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  msg.hdr.nlmsg_seq = 1;
  msg.req.sdiag_family = static_cast<uint8_t>(family);
  msg.req.sdiag_protocol = static_cast<uint8_t>(protocol);
  // TIME_WAIT sockets are left out: the kernel still walks them, but neither formats nor copies
  // them, and after a burst of connections there are tens of thousands of them. A remembered
  // connection in TIME_WAIT is then missing from the listing, which ends it as well.
  msg.req.idiag_states = protocol == IPPROTO_TCP ? ~(1u << TCP_TIME_WAIT) : ~0u;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(nl.get(), &msg, sizeof msg, 0, reinterpret_cast<sockaddr*>(&kernel),
               sizeof kernel) < 0) {
    return std::nullopt;
  }
  std::vector<DiagSocket> out;
  // On the heap, not thread_local: glibc carves every library's static TLS out of each thread's
  // stack and zeroes it, so a thread_local buffer would cost every thread of every process that
  // links the library 32 KiB (and make small-stack threads fail to start).
  constexpr size_t kBufSize = 32768;
  auto storage = std::make_unique<nlmsghdr[]>(kBufSize / sizeof(nlmsghdr));
  char* buf = reinterpret_cast<char*>(storage.get());
  for (;;) {
    ssize_t n = ::recv(nl.get(), buf, kBufSize, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return std::nullopt;
    }
    if (n == 0) return out;
    int len = static_cast<int>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_type == NLMSG_DONE) return out;
      if (h->nlmsg_type == NLMSG_ERROR) return std::nullopt;
      if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY) continue;
      if (h->nlmsg_len < NLMSG_LENGTH(sizeof(inet_diag_msg))) continue;
      const auto* m = static_cast<const inet_diag_msg*>(NLMSG_DATA(h));
      if (m->idiag_family != AF_INET && m->idiag_family != AF_INET6) continue;
      DiagSocket s;
      s.cookie = static_cast<uint64_t>(m->id.idiag_cookie[0]) |
                 (static_cast<uint64_t>(m->id.idiag_cookie[1]) << 32);
      s.state = m->idiag_state;
      s.local = fromDiag(m->idiag_family, m->id.idiag_src, m->id.idiag_sport);
      s.remote = fromDiag(m->idiag_family, m->id.idiag_dst, m->id.idiag_dport);
      out.push_back(s);
    }
  }
}

SocketListing::SocketListing(std::chrono::steady_clock::time_point at, std::vector<DiagSocket> all)
    : started(at), serial(nextSerial()), sockets(std::move(all)) {
  byCookie.reserve(sockets.size());
  for (size_t i = 0; i < sockets.size(); ++i) byCookie.emplace(sockets[i].cookie, i);
}

const DiagSocket* SocketListing::find(uint64_t cookie) const {
  auto it = byCookie.find(cookie);
  return it == byCookie.end() ? nullptr : &sockets[it->second];
}

SharedSocketListings& SharedSocketListings::process() {
  static SharedSocketListings* shared = new SharedSocketListings();  // never destroyed: reapers
  return *shared;                                                    // may outlive static teardown
}

uint64_t SharedSocketListings::dumps() const {
  std::lock_guard lock(mu_);
  return dumps_;
}

std::shared_ptr<const SocketListing> SharedSocketListings::get(int family, int protocol,
                                                               Clock::time_point notBefore) {
  Slot& slot = slots_[(family == AF_INET6 ? 1 : 0) | (protocol == IPPROTO_UDP ? 2 : 0)];
  std::unique_lock lock(mu_);
  for (;;) {
    if (auto last = slot.last.lock(); last && last->started >= notBefore) return last;
    if (!slot.inFlight) break;
    // One dump per slot at a time. Wait for it: if it began late enough, it is ours too.
    const uint64_t generation = slot.generation;
    ++slot.waiting;
    done_.wait(lock, [&] { return slot.generation != generation; });
    std::shared_ptr<const SocketListing> ended = slot.handoff;  // null when that dump failed
    if (--slot.waiting == 0) slot.handoff.reset();
    if (ended && ended->started >= notBefore) return ended;
  }
  slot.inFlight = true;
  const Clock::time_point started = Clock::now();
  lock.unlock();
  std::shared_ptr<const SocketListing> listing;
  // Whatever happens, the slot is free again and the waiters wake (else a throw, bad_alloc,
  // would leave every later caller waiting for a dump that never ends).
  struct Release {
    SharedSocketListings& self;
    Slot& slot;
    std::unique_lock<std::mutex>& lock;
    std::shared_ptr<const SocketListing>& listing;
    ~Release() {
      if (!lock.owns_lock()) lock.lock();
      slot.inFlight = false;
      ++slot.generation;
      ++self.dumps_;
      if (listing) slot.last = listing;
      if (slot.waiting > 0) slot.handoff = listing;
      self.done_.notify_all();
    }
  } release{*this, slot, lock, listing};
  if (auto sockets = dump_(family, protocol)) {
    listing = std::make_shared<const SocketListing>(started, std::move(*sockets));
  }
  lock.lock();
  std::shared_ptr<const SocketListing> result = listing;  // `return listing` would move it away
  return result;                                          // before `release` reads it
}

}  // namespace openwfp::linux_backend

// linux/send_performer.cpp - performing a notified UDP send (see performer.h, datagram.h):
// message by message, each to its flow's final address, with the byte count (sendto, sendmsg)
// or the message count (sendmmsg, msg_len written back) as the call's result.
#include <fcntl.h>
#include <sys/syscall.h>

#include <cerrno>
#include <cstddef>

#include "linux/performer.h"
#include "linux/syscalls.h"

namespace openwfp::linux_backend {

void Performer::finishSend(Call& call, const ConnectVerdict& v) {
  if (!call.claim()) return;
  countPended(call);
  FlowVerdict flow;
  if (v.action == Action::Block) {
    flow.blocked = true;
    flow.blockErrno = v.timedOut ? ETIMEDOUT : v.blockErrno != 0 ? v.blockErrno : options_.blockErrno;
  } else {
    flow.finalRemote = v.finalRemote;
    flow.history = v.history;
    if (!net::sameEndpoint(v.finalRemote, call.requested)) {
      counters_.redirected.fetch_add(1, std::memory_order_relaxed);
    }
  }
  call.firstFlow = flow;
  // A timed-out verdict is not remembered: the next datagram asks again.
  if (!(v.action == Action::Block && v.timedOut)) {
    reaper_.reportClosed(flows_.add(call.cookie, call.requested, std::move(flow)));
  }
  performSend(call);
}

void Performer::performSend(Call& call) {
  const int fd = call.sock.get();
  const int fl = ::fcntl(fd, F_GETFL);
  const bool appBlocking = fl >= 0 && (fl & O_NONBLOCK) == 0;
  const bool many = call.nr == SYS_sendmmsg;
  int64_t sent = 0, lastBytes = 0;
  int err = 0;
  for (size_t i = 0; i < call.heads.size(); ++i) {
    RawSockaddr name;
    if (i == 0) {
      name = call.raw;
    } else if ((err = readName(call.tid, call.heads[i].name, call.heads[i].nameLen, name)) != 0) {
      break;
    }
    std::optional<Endpoint> dest = udpSendDestination(name, call.domain, err);
    if (err != 0) break;
    const sockaddr* to = nullptr;  // no name: the connected peer (classified at connect)
    socklen_t toLen = 0;
    sockaddr_storage redirected;
    if (dest) {
      std::optional<FlowVerdict> flow = i == 0 ? call.firstFlow : flows_.find(call.cookie, *dest);
      if (!flow) break;  // a new flow: classified when the application sends it again
      if (flow->blocked) {
        if (i == 0) counters_.blocked.fetch_add(1, std::memory_order_relaxed);
        err = flow->blockErrno;
        break;
      }
      if (net::sameEndpoint(flow->finalRemote, *dest)) {
        to = name.addr();
        toLen = name.len;
      } else if (net::sockaddrFor(flow->finalRemote, call.domain, redirected, toLen)) {
        to = reinterpret_cast<const sockaddr*>(&redirected);
      } else {
        err = EAFNOSUPPORT;
        break;
      }
    }
    Datagram d;
    if ((err = readDatagram(call.tid, call.heads[i], d)) != 0) break;
    int64_t n = sendDatagram(fd, d, to, toLen, call.flags, appBlocking);
    if (n < 0) {
      err = static_cast<int>(-n);
      break;
    }
    if (many) {
      const auto len = static_cast<unsigned>(n);
      const uint64_t at = call.mmsg + i * sizeof(mmsghdr) + offsetof(mmsghdr, msg_len);
      if (sys::writeTaskMemory(call.tid, at, &len, sizeof len) != 0) {
        err = EFAULT;
        ++sent;  // sent, but its length could not be written back
        break;
      }
    }
    ++sent;
    lastBytes = n;
  }
  if (many && sent > 0) {
    loop_.respondValue(call.id, sent);  // like the kernel: an error after a message is not reported
  } else if (err != 0) {
    loop_.respond(call.id, err, false);
  } else {
    loop_.respondValue(call.id, many ? sent : lastBytes);
  }
}

}  // namespace openwfp::linux_backend

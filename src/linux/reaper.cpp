// linux/reaper.cpp - sock_diag scans of the remembered connections, closed-connection reports.
#include "linux/reaper.h"

#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>

#include <algorithm>
#include <unordered_set>

namespace openwfp::linux_backend {

void Reaper::reportClosed(const std::vector<std::shared_ptr<redirect::History>>& histories) {
  if (histories.empty()) return;
  classifier_.connectionsClosed(histories, counters_.connectionsClosed);
}

void Reaper::reportClosed(std::shared_ptr<redirect::History> history) {
  if (history) reportClosed(std::vector<std::shared_ptr<redirect::History>>{std::move(history)});
}

void Reaper::scan() {
  if (!flows_.empty()) {
    // Unconnected UDP sockets that sent a datagram are bound, so they are in the UDP dumps.
    std::unordered_set<uint64_t> alive;
    bool complete = true;
    for (int family : {AF_INET, AF_INET6}) {
      auto sockets = dumpSockets(family, IPPROTO_UDP);
      if (!sockets) {
        complete = false;
        break;
      }
      for (const DiagSocket& s : *sockets) alive.insert(s.cookie);
    }
    if (complete) reportClosed(flows_.keepOnly(alive));
  }
  unsigned mask = table_.scanMask();
  if (mask == 0) {
    if (!table_.empty()) reportClosed(table_.applyScan({}, 0));  // ages attachments out
    return;
  }
  std::vector<DiagSocket> all;
  unsigned scanned = 0;
  const int families[2] = {AF_INET, AF_INET6};
  const int protos[2] = {IPPROTO_TCP, IPPROTO_UDP};
  for (unsigned bit = 0; bit < 4; ++bit) {
    if ((mask & (1u << bit)) == 0) continue;
    auto sockets = dumpSockets(families[bit & 1], protos[bit >> 1]);
    if (!sockets) continue;
    scanned |= 1u << bit;
    all.insert(all.end(), sockets->begin(), sockets->end());
  }
  reportClosed(table_.applyScan(all, scanned));
}

std::optional<ConnectionInfo> Reaper::find(const Endpoint& local, const Endpoint& remote) {
  if (auto hit = table_.find(local, remote)) return hit;
  // A connect the supervisor is performing to `remote` gets its tuple the moment its connect()
  // returns: wait for that rather than scan (a sock_diag dump walks every socket of the host).
  if (table_.waitResolved(local, remote, std::chrono::steady_clock::now() + kResolveWait)) {
    if (auto hit = table_.find(local, remote)) return hit;
  }
  if (table_.hasUnresolved()) {  // a continued connect's tuple is known after a sock_diag scan
    bool scanNow;
    {
      std::lock_guard lock(mu_);
      auto now = std::chrono::steady_clock::now();
      scanNow = now - lastLookupScan_ >= std::chrono::milliseconds(2);
      if (scanNow) lastLookupScan_ = now;
    }
    if (scanNow) scan();
  }
  // Again also without a scan: the entry may have been resolved since the first look.
  return table_.find(local, remote);
}

void Reaper::run() {
  std::unique_lock lock(mu_);
  while (!stopping_.load()) {
    cv_.wait_for(lock, std::chrono::milliseconds(std::max(10u, intervalMs_)));
    if (stopping_.load()) break;
    lock.unlock();
    scan();
    lock.lock();
  }
}

void Reaper::start() {
  thread_ = std::thread([this] {
    ::pthread_setname_np(::pthread_self(), "owfp-reaper");
    run();
  });
}

void Reaper::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_.store(true);
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

}  // namespace openwfp::linux_backend

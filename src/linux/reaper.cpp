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

void Reaper::scan() { scan(std::chrono::steady_clock::now()); }

void Reaper::scan(std::chrono::steady_clock::time_point notBefore) {
  SharedSocketListings& shared = SharedSocketListings::process();
  ConnectionTable::Listings listings;  // by ConnectionTable::scanMask() bit
  auto listing = [&](unsigned bit) {
    if (!listings[bit]) {
      listings[bit] = shared.get(bit & 1 ? AF_INET6 : AF_INET, bit & 2 ? IPPROTO_UDP : IPPROTO_TCP,
                                 notBefore);
    }
    return listings[bit];
  };
  if (!flows_.empty()) {
    // Unconnected UDP sockets that sent a datagram are bound, so they are in the UDP dumps.
    std::unordered_set<uint64_t> alive;
    bool complete = true;
    auto listedFrom = std::chrono::steady_clock::time_point::max();
    for (unsigned bit : {2u, 3u}) {
      auto udp = listing(bit);
      if (!udp) {
        complete = false;
        break;
      }
      listedFrom = std::min(listedFrom, udp->started);
      for (const DiagSocket& s : udp->sockets) alive.insert(s.cookie);
    }
    if (complete) reportClosed(flows_.keepOnly(alive, listedFrom));
  }
  unsigned mask = table_.scanMask();
  if (mask == 0) {
    if (!table_.empty()) reportClosed(table_.applyScan({}, 0));  // ages attachments out
    return;
  }
  for (unsigned bit = 0; bit < 4; ++bit) {
    if ((mask & (1u << bit)) != 0) {
      listing(bit);
    } else {
      listings[bit].reset();  // a UDP listing taken for the flows only
    }
  }
  reportClosed(table_.applyScan(listings));
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
  // On a grid of the interval, so that the reapers of a process scan at the same moments and
  // share their dumps (SharedSocketListings): any dump that began after the tick will do.
  const auto interval = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::milliseconds(std::max(10u, intervalMs_)));
  std::unique_lock lock(mu_);
  while (!stopping_.load()) {
    const auto now = std::chrono::steady_clock::now();
    const std::chrono::steady_clock::time_point tick((now.time_since_epoch() / interval + 1) * interval);
    while (!stopping_.load() && std::chrono::steady_clock::now() < tick) cv_.wait_until(lock, tick);
    if (stopping_.load()) break;
    lock.unlock();
    scan(tick);
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

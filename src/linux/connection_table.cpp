// linux/connection_table.cpp - see connection_table.h.
#include "linux/connection_table.h"

#include <netinet/tcp.h>

#include <unordered_set>

#include "net/sockaddr_codec.h"

namespace openwfp::linux_backend {

std::string ConnectionTable::tupleKey(const Endpoint& local, const Endpoint& remote) {
  std::string key;
  key.reserve(2 * 19);
  for (const Endpoint* ep : {&local, &remote}) {
    key.push_back(static_cast<char>(ep->version));
    key.append(reinterpret_cast<const char*>(ep->addr.data()), ep->addr.size());
    key.push_back(static_cast<char>(ep->port >> 8));
    key.push_back(static_cast<char>(ep->port & 0xff));
  }
  return key;
}

std::string ConnectionTable::remoteKey(const Endpoint& remote) {
  std::string key;
  key.reserve(19);
  key.push_back(static_cast<char>(remote.version));
  key.append(reinterpret_cast<const char*>(remote.addr.data()), remote.addr.size());
  key.push_back(static_cast<char>(remote.port >> 8));
  key.push_back(static_cast<char>(remote.port & 0xff));
  return key;
}

void ConnectionTable::countUnresolvedLocked(const Entry& e, int delta) {
  if (e.info.tupleKnown) return;
  const std::string key = remoteKey(e.info.remote);
  if (delta > 0) {
    ++unresolved_;
    ++unresolvedByRemote_[key];
    return;
  }
  if (unresolved_ > 0) --unresolved_;
  auto it = unresolvedByRemote_.find(key);
  if (it != unresolvedByRemote_.end() && --it->second == 0) unresolvedByRemote_.erase(it);
  resolved_.notify_all();
}

unsigned ConnectionTable::maskBit(const ConnectionInfo& info) {
  unsigned bit = info.local.version == IpVersion::V6 ? 1u : 0u;
  if (info.protocol == Protocol::Udp) bit += 2;
  return 1u << bit;
}

void ConnectionTable::indexLocked(const Entry& e) {
  if (e.info.tupleKnown) byTuple_[tupleKey(e.info.local, e.info.remote)] = e.info.socketCookie;
}

void ConnectionTable::unindexLocked(const Entry& e) {
  if (!e.info.tupleKnown) return;
  auto it = byTuple_.find(tupleKey(e.info.local, e.info.remote));
  if (it != byTuple_.end() && it->second == e.info.socketCookie) byTuple_.erase(it);
}

ConnectionTable::HistoryPtr ConnectionTable::add(const ConnectionInfo& info, Clock::time_point now) {
  std::lock_guard lock(mu_);
  HistoryPtr replaced;
  auto it = byCookie_.find(info.socketCookie);
  if (it != byCookie_.end()) {
    unindexLocked(it->second);
    countUnresolvedLocked(it->second, -1);
    replaced = std::move(it->second.info.history);
    byCookie_.erase(it);
  }
  Entry e{info, now, 0};
  indexLocked(e);
  countUnresolvedLocked(e, +1);
  byCookie_.emplace(info.socketCookie, std::move(e));
  return replaced;
}

void ConnectionTable::resolve(uint64_t cookie, const Endpoint& local, const Endpoint& remote) {
  std::lock_guard lock(mu_);
  auto it = byCookie_.find(cookie);
  if (it == byCookie_.end()) return;
  unindexLocked(it->second);
  countUnresolvedLocked(it->second, -1);
  it->second.info.local = local;
  it->second.info.remote = remote;
  it->second.info.tupleKnown = true;
  indexLocked(it->second);
}

ConnectionTable::HistoryPtr ConnectionTable::remove(uint64_t cookie) {
  std::lock_guard lock(mu_);
  auto it = byCookie_.find(cookie);
  if (it == byCookie_.end()) return nullptr;
  unindexLocked(it->second);
  countUnresolvedLocked(it->second, -1);
  HistoryPtr h = std::move(it->second.info.history);
  byCookie_.erase(it);
  return h;
}

std::optional<ConnectionInfo> ConnectionTable::find(const Endpoint& local,
                                                    const Endpoint& remote) const {
  std::lock_guard lock(mu_);
  auto it = byTuple_.find(tupleKey(local, remote));
  if (it == byTuple_.end()) return std::nullopt;
  auto e = byCookie_.find(it->second);
  if (e == byCookie_.end()) return std::nullopt;
  return e->second.info;
}

std::optional<ConnectionInfo> ConnectionTable::findByCookie(uint64_t cookie) const {
  std::lock_guard lock(mu_);
  auto it = byCookie_.find(cookie);
  if (it == byCookie_.end()) return std::nullopt;
  return it->second.info;
}

bool ConnectionTable::waitResolved(const Endpoint& local, const Endpoint& remote,
                                   Clock::time_point until) const {
  const std::string tuple = tupleKey(local, remote);
  const std::string key = remoteKey(remote);
  std::unique_lock lock(mu_);
  for (;;) {
    if (byTuple_.count(tuple) != 0) return true;
    if (unresolvedByRemote_.count(key) == 0) return false;
    if (resolved_.wait_until(lock, until) == std::cv_status::timeout) return byTuple_.count(tuple) != 0;
  }
}

bool ConnectionTable::hasUnresolved() const {
  std::lock_guard lock(mu_);
  return unresolved_ != 0;
}

bool ConnectionTable::empty() const {
  std::lock_guard lock(mu_);
  return byCookie_.empty() && attachments_.empty();
}

unsigned ConnectionTable::scanMask() const {
  std::lock_guard lock(mu_);
  unsigned mask = 0;
  for (const auto& [cookie, e] : byCookie_) mask |= maskBit(e.info);
  return mask;
}

std::vector<ConnectionTable::HistoryPtr> ConnectionTable::applyScan(
    const std::vector<DiagSocket>& sockets, unsigned scannedMask, Clock::time_point now) {
  auto one = std::make_shared<const SocketListing>(Clock::time_point::max(), sockets);
  Listings listings;
  for (unsigned bit = 0; bit < listings.size(); ++bit) {
    if ((scannedMask & (1u << bit)) != 0) listings[bit] = one;
  }
  return applyScan(listings, now);
}

std::vector<ConnectionTable::HistoryPtr> ConnectionTable::applyScan(const Listings& listings,
                                                                    Clock::time_point now) {
  std::vector<HistoryPtr> closed;
  std::lock_guard lock(mu_);
  for (auto it = byCookie_.begin(); it != byCookie_.end();) {
    Entry& e = it->second;
    const SocketListing* listing = listings[__builtin_ctz(maskBit(e.info))].get();
    if (listing == nullptr || e.added >= listing->started) {
      ++it;
      continue;
    }
    bool ended = false;
    const DiagSocket* found = listing->find(e.info.socketCookie);
    if (found == nullptr) {
      if (listing->serial > e.lastMissSerial) {
        e.lastMissSerial = listing->serial;
        ended = ++e.missedScans >= 2;
      } else {
        ended = e.missedScans >= 2;
      }
    } else {
      e.missedScans = 0;
      const DiagSocket& d = *found;
      if (e.info.protocol == Protocol::Tcp) {
        ended = tcpStateEnded(d.state);
      } else {
        ended = d.state != TCP_ESTABLISHED;  // a UDP socket that is no longer connected
      }
      if (!ended && !e.info.tupleKnown && (e.info.protocol == Protocol::Udp ||
                                           d.state != TCP_CLOSE)) {
        countUnresolvedLocked(e, -1);
        e.info.local = d.local;
        e.info.remote = d.remote;
        e.info.tupleKnown = true;
        indexLocked(e);
      }
    }
    if (ended && now - e.added >= kGrace) {
      unindexLocked(e);
      countUnresolvedLocked(e, -1);
      if (e.info.history) closed.push_back(std::move(e.info.history));
      it = byCookie_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto it = attachments_.begin(); it != attachments_.end();) {
    bool connected = byCookie_.count(it->first) != 0;
    it = !connected && now - it->second.added >= kAttachmentLifetime ? attachments_.erase(it)
                                                                     : std::next(it);
  }
  return closed;
}

std::vector<ConnectionTable::HistoryPtr> ConnectionTable::takeAll() {
  std::lock_guard lock(mu_);
  std::vector<HistoryPtr> all;
  for (auto& [cookie, e] : byCookie_) {
    if (e.info.history) all.push_back(std::move(e.info.history));
  }
  byCookie_.clear();
  byTuple_.clear();
  attachments_.clear();
  unresolved_ = 0;
  unresolvedByRemote_.clear();
  resolved_.notify_all();
  return all;
}

void ConnectionTable::attachRecords(uint64_t cookie, HistoryPtr records, Clock::time_point now) {
  std::lock_guard lock(mu_);
  attachments_[cookie] = Attachment{std::move(records), now};
}

ConnectionTable::HistoryPtr ConnectionTable::attachedRecords(uint64_t cookie) const {
  std::lock_guard lock(mu_);
  auto it = attachments_.find(cookie);
  return it == attachments_.end() ? nullptr : it->second.records;
}

}  // namespace openwfp::linux_backend

// linux/flow_cache.cpp - see flow_cache.h.
#include "linux/flow_cache.h"

#include "net/sockaddr_codec.h"

namespace openwfp::linux_backend {

std::optional<FlowVerdict> FlowCache::find(uint64_t cookie, const Endpoint& remote) const {
  std::lock_guard lock(mu_);
  auto it = byCookie_.find(cookie);
  if (it == byCookie_.end()) return std::nullopt;
  for (const Flow& f : it->second.flows) {
    if (net::sameEndpoint(f.remote, remote)) return f.verdict;
  }
  return std::nullopt;
}

std::vector<FlowCache::HistoryPtr> FlowCache::add(uint64_t cookie, const Endpoint& remote,
                                                  FlowVerdict verdict, Clock::time_point now) {
  std::vector<HistoryPtr> out;
  std::lock_guard lock(mu_);
  auto it = byCookie_.find(cookie);
  if (it == byCookie_.end()) {
    if (byCookie_.size() >= kSockets) {
      auto oldest = byCookie_.find(ages_.front());
      for (Flow& f : oldest->second.flows) {
        if (f.verdict.history) out.push_back(std::move(f.verdict.history));
      }
      byCookie_.erase(oldest);
      ages_.pop_front();
    }
    it = byCookie_.emplace(cookie, Socket{}).first;
    it->second.age = ages_.insert(ages_.end(), cookie);
    it->second.added = now;
  }
  auto& flows = it->second.flows;
  for (auto f = flows.begin(); f != flows.end(); ++f) {
    if (net::sameEndpoint(f->remote, remote)) {  // two first datagrams classified at once
      if (f->verdict.history) out.push_back(std::move(f->verdict.history));
      flows.erase(f);
      break;
    }
  }
  if (flows.size() >= kFlowsPerSocket) {
    if (flows.back().verdict.history) out.push_back(std::move(flows.back().verdict.history));
    flows.pop_back();
  }
  flows.push_front(Flow{remote, std::move(verdict)});
  return out;
}

std::vector<FlowCache::HistoryPtr> FlowCache::keepOnly(const std::unordered_set<uint64_t>& alive,
                                                       Clock::time_point listedFrom) {
  std::vector<HistoryPtr> out;
  std::lock_guard lock(mu_);
  for (auto it = byCookie_.begin(); it != byCookie_.end();) {
    if (alive.count(it->first) != 0 || listedFrom - it->second.added < kGrace) {
      ++it;
      continue;
    }
    for (Flow& f : it->second.flows) {
      if (f.verdict.history) out.push_back(std::move(f.verdict.history));
    }
    ages_.erase(it->second.age);
    it = byCookie_.erase(it);
  }
  return out;
}

std::vector<FlowCache::HistoryPtr> FlowCache::takeAll() {
  std::unordered_set<uint64_t> none;
  return keepOnly(none, Clock::time_point::max());
}

size_t FlowCache::sockets() const {
  std::lock_guard lock(mu_);
  return byCookie_.size();
}

bool FlowCache::empty() const { return sockets() == 0; }

}  // namespace openwfp::linux_backend

// redirect/history.cpp - a connection's redirect history (S5.6, S5.8, S8.8).
//
// Locking: each History has its own mutex guarding only its own entries. A History never holds
// its mutex while calling into its parent or while running a ContextFree, so there is no lock
// order to respect and a context free function may call back into the History.
#include "redirect/history.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <utility>

namespace openwfp::redirect {
namespace {

std::atomic<uint64_t> g_nextHistoryId{1};

// A context to free once the lock is dropped.
struct PendingFree {
  void* context = nullptr;
  ContextFree free;
  void run() {
    if (context != nullptr && free) free(context);
  }
};

}  // namespace

History::History(std::shared_ptr<History> parent)
    : id_(g_nextHistoryId.fetch_add(1, std::memory_order_relaxed)), parent_(std::move(parent)) {}

std::shared_ptr<History> History::create(std::shared_ptr<History> parent) {
  return std::shared_ptr<History>(new History(std::move(parent)));
}

History::~History() {
  // No other thread can reach a History being destroyed: no lock needed.
  for (Owned& o : own_) PendingFree{o.entry.context, std::move(o.freeContext)}.run();
}

std::vector<Entry> History::entries() const {
  std::vector<Entry> out;
  if (parent_) out = parent_->entries();  // our lock is not held here
  std::lock_guard lock(mu_);
  out.reserve(out.size() + own_.size());
  for (const Owned& o : own_) out.push_back(o.entry);
  return out;
}

std::vector<Entry> History::ownEntries() const {
  std::lock_guard lock(mu_);
  std::vector<Entry> out;
  out.reserve(own_.size());
  for (const Owned& o : own_) out.push_back(o.entry);
  return out;
}

bool History::empty() const {
  for (const History* h = this; h != nullptr; h = h->parent_.get()) {
    std::lock_guard lock(h->mu_);
    if (!h->own_.empty()) return false;
  }
  return true;
}

size_t History::entryCount() const {
  size_t n = 0;
  for (const History* h = this; h != nullptr; h = h->parent_.get()) {
    std::lock_guard lock(h->mu_);
    n += h->own_.size();
  }
  return n;
}

size_t History::copyEntries(std::span<Entry> out) const {
  size_t total = parent_ ? parent_->copyEntries(out) : 0;  // our lock is not held here
  std::lock_guard lock(mu_);
  for (const Owned& o : own_) {
    if (total < out.size()) out[total] = o.entry;
    ++total;
  }
  return total;
}

uint64_t History::add(Entry entry, ContextFree freeContext) {
  std::lock_guard lock(mu_);
  const uint64_t token = nextToken_++;
  own_.push_back(Owned{token, std::move(entry), std::move(freeContext)});
  return token;
}

void History::replace(uint64_t token, Entry entry, ContextFree freeContext) {
  PendingFree pending;
  {
    std::lock_guard lock(mu_);
    auto it = std::find_if(own_.begin(), own_.end(), [&](const Owned& o) { return o.token == token; });
    if (it == own_.end()) {
      // Unknown token: the caller handed us the context anyway; free it, change nothing.
      pending = PendingFree{entry.context, std::move(freeContext)};
    } else {
      if (it->entry.context != entry.context) {
        pending = PendingFree{it->entry.context, std::move(it->freeContext)};
      }
      it->entry = std::move(entry);
      it->freeContext = std::move(freeContext);
    }
  }
  pending.run();
}

void History::remove(uint64_t token) {
  PendingFree pending;
  {
    std::lock_guard lock(mu_);
    auto it = std::find_if(own_.begin(), own_.end(), [&](const Owned& o) { return o.token == token; });
    if (it == own_.end()) return;
    pending = PendingFree{it->entry.context, std::move(it->freeContext)};
    own_.erase(it);
  }
  pending.run();
}

void History::releaseContexts() {
  std::vector<PendingFree> pending;
  {
    std::lock_guard lock(mu_);
    for (Owned& o : own_) {
      if (o.entry.context != nullptr) pending.push_back(PendingFree{o.entry.context, std::move(o.freeContext)});
      o.entry.context = nullptr;
      o.entry.contextSize = 0;
      o.freeContext = nullptr;
    }
  }
  for (PendingFree& p : pending) p.run();
}

bool History::newestContext(std::vector<uint8_t>& out) const {
  std::lock_guard lock(mu_);
  for (auto it = own_.rbegin(); it != own_.rend(); ++it) {
    const Entry& e = it->entry;
    if (e.context == nullptr) continue;
    out.resize(e.contextSize);
    if (e.contextSize != 0) std::memcpy(out.data(), e.context, e.contextSize);
    return true;
  }
  return false;
}

uint32_t History::newestTargetPid() const {
  for (const History* h = this; h != nullptr; h = h->parent_.get()) {
    std::lock_guard lock(h->mu_);
    if (!h->own_.empty()) return h->own_.back().entry.targetPid;
  }
  return 0;
}

}  // namespace openwfp::redirect

// redirect/history.h - a connection's redirect history (pure logic, no sockets, no WDK names).
//
// Every connection classified at ALE_CONNECT_REDIRECT has a History. A callout that applies a
// modification setting localRedirectHandle adds (or, later in the same classify, replaces) the
// connection's entry (S5.8). A proxy's outbound connection whose socket got the records of
// another connection (SIO_SET) has that connection's History as its parent: its entries are the
// parent's (live, S8.8) followed by its own. FwpsQueryConnectionRedirectState0 reads entries().
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "openwfp/stack.h"

namespace openwfp::redirect {

// Frees a context the engine owns (S5.6): the driver's pool free, set by the engine.
using ContextFree = std::function<void(void*)>;

struct Entry {
  uint64_t redirectHandle = 0;  // id of a handle from HandleRegistry::create (never 0)
  uint32_t targetPid = 0;       // localRedirectTargetPID
  Endpoint originalDestination; // what the application asked for before this redirect
  Endpoint redirectedTo;        // remoteAddressAndPort after the modification
  uint64_t filterId = 0;        // the filter whose callout applied the modification
  void* context = nullptr;      // localRedirectContext, engine-owned after apply
  size_t contextSize = 0;
};

class History {
 public:
  // parent: the History of the proxied connection whose records were SIO_SET on this socket.
  static std::shared_ptr<History> create(std::shared_ptr<History> parent = nullptr);
  ~History();  // frees owned contexts with their ContextFree
  History(const History&) = delete;
  History& operator=(const History&) = delete;

  uint64_t id() const { return id_; }  // process-unique, never 0
  const std::shared_ptr<History>& parent() const { return parent_; }

  // All entries, oldest first: the parent's (recursively) followed by this connection's own.
  std::vector<Entry> entries() const;
  // This connection's own entries, oldest first.
  std::vector<Entry> ownEntries() const;
  bool empty() const;  // entries() is empty (no own and no inherited entry)

  // Number of entries() without copying them.
  size_t entryCount() const;
  // Copies entries() oldest first into out without allocating; returns the total count, which
  // may exceed out.size() (then only the oldest out.size() entries were written).
  size_t copyEntries(std::span<Entry> out) const;
  // Calls visit(const Entry&) for entries() newest first (own entries, then the parent's, ...)
  // until it returns false. Runs under each History's lock in turn: visit must not call into
  // any History. No allocation (queryState's fast path).
  template <class Visit>
  void visitNewestFirst(Visit&& visit) const;

  // Adds an entry owned by this connection; returns a token for replace/remove. The History
  // owns entry.context from now on and frees it with `freeContext` (may be empty: not freed).
  uint64_t add(Entry entry, ContextFree freeContext);
  // Replaces the entry `token` (a later modification in the same classify, S5.8); frees the
  // old context unless it is the same pointer. Unknown token (removed, never added): nothing
  // changes and entry.context, handed over with the call, is freed with freeContext.
  void replace(uint64_t token, Entry entry, ContextFree freeContext);
  // Withdraws the entry `token` (the classify ended in BLOCK) and frees its context.
  void remove(uint64_t token);
  // The flow ended: free every owned context now (entries stay, context becomes NULL).
  void releaseContexts();

  // Copy of the newest own entry's context bytes (SIO_QUERY_WFP_CONNECTION_REDIRECT_CONTEXT).
  // Returns false (out untouched) when no own entry has a context.
  bool newestContext(std::vector<uint8_t>& out) const;
  // Target PID of the newest entry (own or inherited), 0 if none.
  uint32_t newestTargetPid() const;

 private:
  explicit History(std::shared_ptr<History> parent);
  struct Owned {
    uint64_t token;
    Entry entry;
    ContextFree freeContext;
  };
  uint64_t id_;
  std::shared_ptr<History> parent_;
  mutable std::mutex mu_;      // guards own_ and nextToken_
  std::vector<Owned> own_;     // oldest first
  uint64_t nextToken_ = 1;
};

template <class Visit>
void History::visitNewestFirst(Visit&& visit) const {
  for (const History* h = this; h != nullptr; h = h->parent_.get()) {
    std::lock_guard lock(h->mu_);  // released before moving on to the parent
    for (auto it = h->own_.rbegin(); it != h->own_.rend(); ++it) {
      if (!visit(it->entry)) return;
    }
  }
}

// FwpsQueryConnectionRedirectState0 semantics (S7.2). Values equal FWPS_CONNECTION_REDIRECT_STATE.
enum class RedirectState : int { NotRedirected = 0, BySelf = 1, ByOther = 2, PreviouslyBySelf = 3 };
struct StateResult {
  RedirectState state = RedirectState::NotRedirected;
  void* context = nullptr;
};
// history == nullptr -> NotRedirected. A redirectHandle of 0 matches no entry.
StateResult queryState(const History* history, uint64_t redirectHandle);

}  // namespace openwfp::redirect

// engine/context_pool.h - frees the localRedirectContexts the engine owns (SPEC S5.6) through the
// pool tracker. The free functions it hands out (to History entries, which may outlive the
// engine) share one link to the tracker that the Engine cuts when it is destroyed; a context
// freed after that is left to the tracker's owner.
#pragma once

#include <memory>
#include <mutex>

#include "redirect/history.h"

namespace openwfp::verifier {
class PoolTracker;
}

namespace openwfp::engine {

class ContextPool {
 public:
  explicit ContextPool(verifier::PoolTracker* pool);
  ContextPool(const ContextPool&) = delete;
  ContextPool& operator=(const ContextPool&) = delete;

  // Frees an engine-owned context through the pool tracker, if the engine still exists.
  redirect::ContextFree contextFree() const;
  // The engine is going away: free functions handed out become no-ops.
  void detach();

 private:
  struct Link {
    std::mutex mu;  // guards pool; held while freeing (order: Classify::mu_ -> mu -> PoolTracker)
    verifier::PoolTracker* pool = nullptr;
  };
  std::shared_ptr<Link> link_;
};

}  // namespace openwfp::engine

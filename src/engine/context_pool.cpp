// engine/context_pool.cpp - see context_pool.h.
#include "engine/context_pool.h"

#include "verifier/pool.h"

namespace openwfp::engine {

ContextPool::ContextPool(verifier::PoolTracker* pool) : link_(std::make_shared<Link>()) {
  link_->pool = pool;
}

redirect::ContextFree ContextPool::contextFree() const {
  auto ref = link_;
  return [ref](void* p) {
    std::lock_guard lock(ref->mu);
    if (ref->pool && p) ref->pool->freeEngineOwned(p);
  };
}

void ContextPool::detach() {
  std::lock_guard lock(link_->mu);
  link_->pool = nullptr;
}

}  // namespace openwfp::engine

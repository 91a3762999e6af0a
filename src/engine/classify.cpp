// engine/classify.cpp - the Classify object (classify.h); ClassifyRunner drives it.
#include "engine/classify.h"

#include "engine/context_pool.h"

namespace openwfp::engine {

Classify::Classify(const ContextPool& contexts, uint64_t id, ClassifyRequest request, Done done)
    : contexts_(contexts),
      id_(id),
      layer_(&layerInfo(request.layer)),
      request_(std::move(request)),
      done_(std::move(done)) {
  values_ = std::move(request_.values);  // request_.values is not used afterwards
  current_ = request_.data;
}

Classify::~Classify() {
  // Engine-owned contexts of a classify that never reached finish() (engine torn down).
  if (!orphanContexts_.empty()) {
    auto free = contexts_.contextFree();
    for (void* p : orphanContexts_) free(p);
  }
}

void Classify::addReason(std::string r) {
  std::lock_guard lock(mu_);
  record_.reasons.push_back(std::move(r));
}

void Classify::setFinalDestination(std::string destination) {
  std::lock_guard lock(mu_);
  finalDestination_ = destination;
  record_.finalDestination = std::move(destination);
}

}  // namespace openwfp::engine

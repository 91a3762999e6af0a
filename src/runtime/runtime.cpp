// runtime/runtime.cpp - the process-wide Runtime (include/openwfp/openwfp.h) the C ABI acts on.
#include <atomic>
#include <mutex>

#include "engine/engine.h"
#include "openwfp/openwfp.h"
#include "openwfp/trace.h"
#include "redirect/handles.h"
#include "redirect/records.h"
#include "verifier/pool.h"
#include "verifier/verifier.h"

namespace openwfp {
namespace {
std::atomic<Runtime*> g_current{nullptr};
std::mutex g_mu;  // serializes creation and reset
}  // namespace

Runtime& Runtime::current() {
  Runtime* r = g_current.load(std::memory_order_acquire);
  if (r) return *r;
  std::lock_guard lock(g_mu);
  r = g_current.load(std::memory_order_acquire);
  if (!r) {
    r = new Runtime(RuntimeOptions{});
    g_current.store(r, std::memory_order_release);
  }
  return *r;
}

void Runtime::reset(RuntimeOptions options) {
  std::lock_guard lock(g_mu);
  // The new runtime is in place before the old one is torn down: code that runs during the
  // teardown (pended classifies finishing as BLOCK) and calls Runtime::current() finds a valid one.
  Runtime* fresh = new Runtime(options);
  Runtime* old = g_current.exchange(fresh, std::memory_order_acq_rel);
  delete old;
}

Runtime::Runtime(RuntimeOptions options) : options_(options) {
  verifier_ = std::make_unique<verifier::Verifier>();
  verifier_->setEnabled(options_.verifier);
  pool_ = std::make_unique<verifier::PoolTracker>();
  tracer_ = std::make_unique<trace::Tracer>();
  sealer_ = std::make_unique<redirect::RecordsSealer>();
  redirectHandles_ = std::make_unique<redirect::HandleRegistry>();
  engine::EngineServices s;
  s.verifier = verifier_.get();
  s.pool = pool_.get();
  s.tracer = tracer_.get();
  s.sealer = sealer_.get();
  s.redirectHandles = redirectHandles_.get();
  s.options.pendDeadline = options_.pendDeadline;
  s.options.reauthorizeLimit = options_.reauthorizeLimit;
  s.options.trace = options_.trace;
  engine_ = std::make_unique<engine::Engine>(std::move(s));
}

Runtime::~Runtime() = default;

Classifier& Runtime::classifier() { return engine_->classifier(); }

}  // namespace openwfp

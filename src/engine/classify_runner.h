// engine/classify_runner.h - runs classifies (SPEC S4, S6): loads the PolicySnapshot, matches,
// evaluates static filters, invokes callouts, arbitrates (S4.2), parks a pended classify with its
// deadline (S6.4), restarts a re-authorized one (S5.7) and finishes (verdict, Done, trace).
//
// A classify is driven on the thread that started it and, after a pend, on the thread that
// completes it (ClassifyHandles::complete calls back in) or on the deadline timer. No engine lock
// is held while a driver's classifyFn runs.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine/callouts.h"
#include "engine/classify.h"
#include "engine/engine_services.h"
#include "engine/pend_timer.h"

namespace openwfp::engine {

class ClassifyHandles;
class ContextPool;
class ObjectStore;
class PendedOperations;

class ClassifyRunner {
 public:
  ClassifyRunner(const EngineServices& services, const ObjectStore& store, ClassifyHandles& handles,
                 PendedOperations& operations, const ContextPool& contexts);
  ClassifyRunner(const ClassifyRunner&) = delete;
  ClassifyRunner& operator=(const ClassifyRunner&) = delete;

  // `done` runs exactly once: before start() returns when nobody pends (S4.4), else on the
  // thread that completes the classify or on the deadline timer.
  std::shared_ptr<Classify> start(ClassifyRequest request, Classify::Done done);

  // Emits the classify's trace record once (S4.5); finish() does it after the Done callback,
  // the Classifier earlier so that records appear in layer order.
  void emitTrace(Classify& c);

  // Adds `note` to the trace record's redirectState of the classify whose classifyFn is running
  // on this thread; no-op outside.
  void noteRedirectState(const std::string& note);
  // The classify whose classifyFn is running on this thread (nullptr outside).
  static Classify* inCallout();

  // For ClassifyHandles::complete. c.mu_ held: interprets what the pended callout returned.
  static void applyCalloutResult(Classify& c, const ClassifyOut& out);
  // c.mu_ held: the next round with FWP_CONDITION_FLAG_IS_REAUTHORIZE (or BLOCK past the limit).
  void restart(Classify& c, std::unique_lock<std::mutex>& lock);
  // Continues a completed classify on this thread (remaining filters, finish).
  void resume(const std::shared_ptr<Classify>& c) { drive(c); }

  // Engine teardown: stops the deadline timer and ends every pended classify that still holds a
  // classify handle as BLOCK, so that every done() runs exactly once.
  void shutdown();
  // Ends every pended classify as BLOCK now, with `reason` in its trace record (the engine
  // service stopping, S14.1). Returns how many.
  size_t blockPended(const std::string& reason);

 private:
  void drive(const std::shared_ptr<Classify>& c);
  void evaluateStatic(Classify& c, const SnapshotFilter& sf);
  // Returns false when the classify was pended (the caller must stop driving it).
  bool invokeCallout(const std::shared_ptr<Classify>& c, const SnapshotFilter& sf);
  void finish(const std::shared_ptr<Classify>& c);
  void expire(const std::weak_ptr<Classify>& wc, uint64_t generation);

  const EngineServices& services_;
  const ObjectStore& store_;
  ClassifyHandles& handles_;
  PendedOperations& operations_;
  const ContextPool& contexts_;
  std::atomic<uint64_t> nextClassifyId_{1};
  PendTimer timer_;  // deadlines of pended classifies; its own mutex (PendTimer::mu_)
};

}  // namespace openwfp::engine

// openwfp/openwfp.h - the host C++ API: the process-wide runtime that the WDK C ABI talks to.
//
// The C ABI (FwpmEngineOpen0, FwpsCalloutRegister3, ...) has no engine argument, as on Windows:
// it acts on Runtime::current(). Tests call Runtime::reset() to start from a clean engine.
#pragma once

#include <chrono>
#include <memory>

#include "openwfp/stack.h"

namespace openwfp {
namespace engine {
class Engine;
}
namespace verifier {
class Verifier;
class PoolTracker;
}
namespace trace {
class Tracer;
}
namespace redirect {
class RecordsSealer;
class HandleRegistry;
}

struct RuntimeOptions {
  bool verifier = true;                                  // S11.1
  std::chrono::milliseconds pendDeadline{30000};         // S6.4; 0 = never
  unsigned reauthorizeLimit = 8;                         // S5.7
  bool trace = true;  // emit a trace::ClassifyRecord per classify (S4.5); benchmarks may turn it off
};

class Runtime {
 public:
  static Runtime& current();
  // Replaces the current runtime with a fresh one (all objects, callouts, handles dropped).
  // Not safe while classifies run; meant for tests and process start.
  static void reset(RuntimeOptions options = {});

  explicit Runtime(RuntimeOptions options);
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  const RuntimeOptions& options() const { return options_; }
  engine::Engine& engine() { return *engine_; }
  Classifier& classifier();  // what stack backends call
  verifier::Verifier& verifier() { return *verifier_; }
  verifier::PoolTracker& pool() { return *pool_; }
  trace::Tracer& tracer() { return *tracer_; }
  redirect::RecordsSealer& sealer() { return *sealer_; }
  redirect::HandleRegistry& redirectHandles() { return *redirectHandles_; }

 private:
  RuntimeOptions options_;
  std::unique_ptr<verifier::Verifier> verifier_;
  std::unique_ptr<verifier::PoolTracker> pool_;
  std::unique_ptr<trace::Tracer> tracer_;
  std::unique_ptr<redirect::RecordsSealer> sealer_;
  std::unique_ptr<redirect::HandleRegistry> redirectHandles_;
  std::unique_ptr<engine::Engine> engine_;  // declared last: destroyed first
};

}  // namespace openwfp

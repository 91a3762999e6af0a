// engine/engine_services.h - what an Engine is given by its owner (openwfp::Runtime): the
// verifier, pool tracker, tracer, records sealer and redirect handle registry it reports to and
// uses, and the run-time options of the classify (SPEC S4.5, S5.7, S6.4). The engine owns none
// of these; the owner keeps them alive longer than the Engine.
#pragma once

#include <chrono>

namespace openwfp::verifier {
class Verifier;
class PoolTracker;
}  // namespace openwfp::verifier
namespace openwfp::trace {
class Tracer;
}
namespace openwfp::redirect {
class RecordsSealer;
class HandleRegistry;
}  // namespace openwfp::redirect

namespace openwfp::engine {

// The engine's part of RuntimeOptions (include/openwfp/openwfp.h); the Runtime copies them in.
struct EngineOptions {
  std::chrono::milliseconds pendDeadline{30000};  // S6.4; 0 = never
  unsigned reauthorizeLimit = 8;                  // S5.7
  bool trace = true;  // build and emit a trace::ClassifyRecord per classify (S4.5)
};

struct EngineServices {
  verifier::Verifier* verifier = nullptr;
  verifier::PoolTracker* pool = nullptr;
  trace::Tracer* tracer = nullptr;
  redirect::RecordsSealer* sealer = nullptr;
  redirect::HandleRegistry* redirectHandles = nullptr;
  EngineOptions options;
};

}  // namespace openwfp::engine

// engine/diagnostics.h - what the classify parts share to explain themselves: verifier reports
// (SPEC S11) and the formatting the trace records use (S4.5).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "engine/engine_services.h"
#include "verifier/verifier.h"

namespace openwfp::engine {

// Reports a violation, blamed on the driver running on this thread; no-op without a verifier.
void reportViolation(const EngineServices& services, verifier::Code code, std::string message,
                     uint64_t filterId);

std::string hex(uint64_t v);  // "0x1a2b"

// Trace timestamps (steady clock).
inline int64_t nowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace openwfp::engine

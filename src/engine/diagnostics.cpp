// engine/diagnostics.cpp - see diagnostics.h.
#include "engine/diagnostics.h"

#include <cstdio>

namespace openwfp::engine {

void reportViolation(const EngineServices& services, verifier::Code code, std::string message,
                     uint64_t filterId) {
  if (!services.verifier) return;
  verifier::Violation v{code, std::move(message), {}, {}, filterId};
  v.driver = verifier::currentDriver();
  services.verifier->report(std::move(v));
}

std::string hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace openwfp::engine

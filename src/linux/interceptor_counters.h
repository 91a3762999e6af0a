// linux/interceptor_counters.h - what the parts of an Interceptor count, read by
// Interceptor::stats() (see InterceptorStats in openwfp/linux_backend.h for their meaning).
#pragma once

#include <atomic>
#include <cstdint>

namespace openwfp::linux_backend {

// Atomics, no lock: each part adds to them from any thread (relaxed), stats() reads them.
struct InterceptorCounters {
  std::atomic<uint64_t> notifications{0}, continued{0}, redirected{0}, blocked{0}, failed{0},
      stale{0}, pended{0}, connectionsClosed{0}, handedOff{0};
};

}  // namespace openwfp::linux_backend

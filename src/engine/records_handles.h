// engine/records_handles.h - the redirect-records handles of FWPS_INCOMING_METADATA_VALUES0
// (SPEC S8.6): a handle names a connection's History while its CONNECT_REDIRECT classify runs
// (and, when pended, until it is completed). Handles are never reused, so a handle used after
// its classify ended is recognised as stale (STATUS_INVALID_HANDLE + verifier report).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <unordered_map>

namespace openwfp::redirect {
class History;
}

namespace openwfp::engine {

class RecordsHandles {
 public:
  enum class State { Live, Stale, Unknown };

  uint64_t open(std::shared_ptr<redirect::History> history);  // never 0
  void close(uint64_t handle);
  // The live history behind handle; nullptr with *state Stale/Unknown otherwise.
  std::shared_ptr<redirect::History> find(uint64_t handle, State* state = nullptr) const;
  size_t liveCount() const;

 private:
  static constexpr uint64_t kBase = uint64_t{1} << 44;
  static constexpr unsigned kShift = 4;
  mutable std::shared_mutex mu_;  // guards live_
  std::unordered_map<uint64_t, std::shared_ptr<redirect::History>> live_;
  std::atomic<uint64_t> next_{1};
};

}  // namespace openwfp::engine

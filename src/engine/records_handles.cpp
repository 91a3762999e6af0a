#include "engine/records_handles.h"

#include <mutex>

#include "redirect/history.h"

namespace openwfp::engine {

uint64_t RecordsHandles::open(std::shared_ptr<redirect::History> history) {
  uint64_t h = kBase | (next_.fetch_add(1) << kShift);
  std::unique_lock lock(mu_);
  live_.emplace(h, std::move(history));
  return h;
}

void RecordsHandles::close(uint64_t handle) {
  std::shared_ptr<redirect::History> drop;
  std::unique_lock lock(mu_);
  auto it = live_.find(handle);
  if (it == live_.end()) return;
  drop = std::move(it->second);
  live_.erase(it);
}

std::shared_ptr<redirect::History> RecordsHandles::find(uint64_t handle, State* state) const {
  {
    std::shared_lock lock(mu_);
    auto it = live_.find(handle);
    if (it != live_.end()) {
      if (state) *state = State::Live;
      return it->second;
    }
  }
  if (state) {
    bool ours = (handle & kBase) && (handle & ((uint64_t{1} << kShift) - 1)) == 0 &&
                ((handle & ~kBase) >> kShift) < next_.load() && (handle >> 45) == 0;
    *state = ours ? State::Stale : State::Unknown;
  }
  return nullptr;
}

size_t RecordsHandles::liveCount() const {
  std::shared_lock lock(mu_);
  return live_.size();
}

}  // namespace openwfp::engine

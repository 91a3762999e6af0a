#include "engine/arbitration.h"

namespace openwfp::engine {

bool Arbiter::skip(uint32_t subLayerRank) {
  if (static_cast<int64_t>(subLayerRank) != currentSubLayer_) {
    currentSubLayer_ = subLayerRank;
    subLayerDecided_ = false;
  }
  return subLayerDecided_;
}

uint32_t Arbiter::actionForCallout() const {
  switch (decision_) {
    case Decision::Permit: return static_cast<uint32_t>(ActionType::Permit);
    case Decision::Block: return static_cast<uint32_t>(ActionType::Block);
    case Decision::None: break;
  }
  return static_cast<uint32_t>(ActionType::Continue);
}

Arbiter::Outcome Arbiter::decide(Decision d, bool hard, bool veto) {
  Outcome o;
  if (d == Decision::None) return o;
  subLayerDecided_ = true;
  switch (decision_) {
    case Decision::None:
      decision_ = d;
      hard_ = hard;
      o.changed = true;
      break;
    case Decision::Permit:
      if (d == Decision::Block) {
        if (hard_ && !veto) {
          o.ignored = true;
        } else {
          o.veto = hard_ && veto;
          decision_ = Decision::Block;
          hard_ = hard_ || hard;
          o.changed = true;
        }
      } else {
        hard_ = hard_ || hard;
      }
      break;
    case Decision::Block:
      if (d == Decision::Permit) {
        o.ignored = true;
      } else {
        hard_ = hard_ || hard;
      }
      break;
  }
  return o;
}

}  // namespace openwfp::engine

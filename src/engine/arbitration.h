// engine/arbitration.h - filter arbitration inside one layer (SPEC S4.2, wfp-facts 1.1-1.6).
//
// Filters arrive in evaluation order. Inside a sublayer the first PERMIT/BLOCK decides the
// sublayer; the remaining filters of that sublayer are skipped. Every sublayer is evaluated.
// Across sublayers:
//   - the first decision is taken as is (with its hardness);
//   - BLOCK overrides PERMIT, except a hard PERMIT (write right cleared) of an earlier sublayer,
//     which only a veto overrides (a callout BLOCK returned when the write right was already
//     cleared before the call);
//   - PERMIT never overrides an earlier BLOCK;
//   - hardness accumulates: once hard, later callouts get classifyOut->rights == 0.
// Nothing decided -> PERMIT (openwfp choice).
#pragma once

#include <cstdint>
#include <string>

#include "engine/objects.h"

namespace openwfp::engine {

class Arbiter {
 public:
  enum class Decision : uint8_t { None, Permit, Block };

  // Called before evaluating a filter of sublayer `subLayerRank`: true when that sublayer has
  // already decided and the filter must be skipped.
  bool skip(uint32_t subLayerRank);

  // The classifyOut a callout starts with.
  uint32_t rightsForCallout() const { return hard_ ? 0u : kRightActionWriteBit; }
  uint32_t actionForCallout() const;

  struct Outcome {
    bool changed = false;  // the overall decision changed
    bool veto = false;     // a veto overrode a hard permit
    bool ignored = false;  // the decision could not override the current one
  };
  // A filter of the current sublayer returned PERMIT or BLOCK.
  Outcome decide(Decision d, bool hard, bool veto);

  Decision current() const { return decision_; }
  bool hard() const { return hard_; }
  // Final action: PERMIT when nothing decided.
  bool permitted() const { return decision_ != Decision::Block; }
  void reset() { *this = Arbiter{}; }

 private:
  static constexpr uint32_t kRightActionWriteBit = 0x00000001;
  Decision decision_ = Decision::None;
  bool hard_ = false;
  int64_t currentSubLayer_ = -1;
  bool subLayerDecided_ = false;
};

}  // namespace openwfp::engine

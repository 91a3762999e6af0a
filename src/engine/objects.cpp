// engine/objects.cpp - Filter names, action names and filter weights (objects.h, SPEC S2.5).
#include "engine/objects.h"

namespace openwfp::engine {

std::string Filter::nameUtf8() const {
  std::string out;
  for (wchar_t wc : spec.display.name) {
    uint32_t cp = static_cast<uint32_t>(wc);
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else {
      out.push_back('?');
    }
  }
  return out;
}

const char* toString(ActionType a) {
  switch (a) {
    case ActionType::Block: return "BLOCK";
    case ActionType::Permit: return "PERMIT";
    case ActionType::CalloutTerminating: return "CALLOUT_TERMINATING";
    case ActionType::CalloutInspection: return "CALLOUT_INSPECTION";
    case ActionType::CalloutUnknown: return "CALLOUT_UNKNOWN";
    case ActionType::Continue: return "CONTINUE";
    case ActionType::None: return "NONE";
    case ActionType::NoneNoMatch: return "NONE_NO_MATCH";
  }
  return "?";
}

uint64_t autoWeight(const std::vector<ConditionGroup>& groups) {
  // Specificity score (<= 16 per field, 10 fields) shifted into bits 40..48: well inside the
  // automatic range [0, 2^60). Equal scores tie; ties are broken by filter id (older first).
  return static_cast<uint64_t>(specificityScore(groups)) << 40;
}

bool effectiveWeight(const WeightSpec& spec, const std::vector<ConditionGroup>& groups,
                     uint64_t& out) {
  switch (spec.type) {
    case DataType::Empty:
      out = autoWeight(groups);
      return true;
    case DataType::Uint8:
      if (spec.value > 15) return false;
      out = (spec.value << 60) | autoWeight(groups);
      return true;
    case DataType::Uint64:
      out = spec.value;
      return true;
    default:
      return false;
  }
}

}  // namespace openwfp::engine

// engine/objects.h - management objects: providers, sublayers, callouts and filters (SPEC S2).
// Objects are immutable once added (a filter's run-time context lives in the ABI view, which
// the C ABI owns), so snapshots and pended classifies share them by shared_ptr.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/conditions.h"
#include "engine/guid.h"
#include "engine/layers.h"

namespace openwfp::engine {

// FWP_ACTION_TYPE values.
enum class ActionType : uint32_t {
  Block = 0x00001001,
  Permit = 0x00001002,
  CalloutTerminating = 0x00005003,
  CalloutInspection = 0x00006004,
  CalloutUnknown = 0x00004005,
  Continue = 0x00002006,
  None = 0x00000007,
  NoneNoMatch = 0x00000008,
};
inline constexpr uint32_t kActionFlagCallout = 0x00004000;
inline bool isCalloutAction(ActionType a) { return static_cast<uint32_t>(a) & kActionFlagCallout; }
const char* toString(ActionType a);

// FWPM_FILTER_FLAG_* values.
inline constexpr uint32_t kFilterFlagPersistent = 0x00000001;
inline constexpr uint32_t kFilterFlagBoottime = 0x00000002;
inline constexpr uint32_t kFilterFlagHasProviderContext = 0x00000004;
inline constexpr uint32_t kFilterFlagClearActionRight = 0x00000008;
inline constexpr uint32_t kFilterFlagPermitIfCalloutUnregistered = 0x00000010;
inline constexpr uint32_t kFilterFlagDisabled = 0x00000020;
inline constexpr uint32_t kFilterFlagIndexed = 0x00000040;
inline constexpr uint32_t kFilterFlagsKnown = 0x00007FFF;

// FWPS_FILTER_FLAG_* values (run-time flags the callout sees).
inline constexpr uint16_t kRuntimeFlagClearActionRight = 0x0001;
inline constexpr uint16_t kRuntimeFlagPermitIfCalloutUnregistered = 0x0002;
inline constexpr uint16_t kRuntimeFlagOrConditions = 0x0004;

struct DisplayData {
  std::wstring name;
  std::wstring description;
  bool hasName = false;  // FWPM_DISPLAY_DATA0.name was not NULL
};

struct Provider {
  Guid key;
  DisplayData display;
  uint32_t flags = 0;
  std::vector<uint8_t> data;
  std::optional<std::wstring> serviceName;
  uint64_t session = 0;  // session that added it (dynamic sessions delete on close)
};

struct SubLayer {
  Guid key;
  DisplayData display;
  uint32_t flags = 0;
  std::optional<Guid> providerKey;
  std::vector<uint8_t> data;
  uint16_t weight = 0;
  bool builtin = false;
  uint64_t order = 0;  // creation order: tie-break between equal weights (older first)
  uint64_t session = 0;
};

struct CalloutObject {
  Guid key;
  DisplayData display;
  uint32_t flags = 0;
  std::optional<Guid> providerKey;
  std::vector<uint8_t> data;
  Guid applicableLayer;
  uint32_t id = 0;  // run-time callout id (equals the id FwpsCalloutRegister returns)
  uint64_t session = 0;
};

// The weight the caller supplied (FWPM_FILTER0.weight): type is FWP_EMPTY, FWP_UINT8 or
// FWP_UINT64; anything else is invalid.
struct WeightSpec {
  DataType type = DataType::Empty;
  uint64_t value = 0;
};

struct FilterSpec {
  Guid key;  // all zero: the engine generates one
  DisplayData display;
  uint32_t flags = 0;
  std::optional<Guid> providerKey;
  std::vector<uint8_t> providerData;
  Guid layerKey;
  Guid subLayerKey;  // all zero: FWPM_SUBLAYER_UNIVERSAL
  WeightSpec weight;
  std::vector<Condition> conditions;
  ActionType action = ActionType::Block;
  Guid filterTypeOrCalloutKey;  // calloutKey for callout actions
  uint64_t rawContext = 0;
};

struct Filter {
  FilterSpec spec;  // key filled in when it was generated
  uint64_t id = 0;
  uint64_t effectiveWeight = 0;
  const LayerInfo* layer = nullptr;
  Guid subLayerKey;          // effective sublayer (universal for an all-zero key)
  uint16_t subLayerWeight = 0;
  std::vector<ConditionGroup> groups;
  uint32_t calloutId = 0;    // callout actions only
  uint16_t runtimeFlags = 0; // FWPS_FILTER_FLAG_*
  uint64_t session = 0;
  // Opaque view owned by the C ABI (the FWPS_FILTER3 a callout sees; its `context` member is
  // writable by notifyFn). Created by the engine's FilterViewFactory when the filter is added.
  std::shared_ptr<void> abiView;

  const std::wstring& name() const { return spec.display.name; }
  std::string nameUtf8() const;
};

// Automatic weights (S2.5): FWP_EMPTY -> autoWeight(groups) in [0, 2^60); FWP_UINT8 w (0..15) ->
// (w << 60) | autoWeight; FWP_UINT64 -> exact. Returns false for an invalid weight.
bool effectiveWeight(const WeightSpec& spec, const std::vector<ConditionGroup>& groups,
                     uint64_t& out);
uint64_t autoWeight(const std::vector<ConditionGroup>& groups);

}  // namespace openwfp::engine

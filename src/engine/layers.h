// engine/layers.h - the six filtering layers openwfp implements (SPEC S4.1) with their run-time
// ids (FWPS_BUILTIN_LAYERS), management GUIDs and the run-time field indices of the conditions
// openwfp supports (wfp-facts sections 2 and 3), and which of them each stack hook runs.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

#include "engine/guid.h"
#include "openwfp/stack.h"

namespace openwfp::engine {

enum class LayerId : uint8_t {
  ConnectRedirectV4,
  ConnectRedirectV6,
  BindRedirectV4,
  BindRedirectV6,
  AuthConnectV4,
  AuthConnectV6,
};
inline constexpr size_t kLayerCount = 6;

// The condition fields openwfp filters on (S2.4).
enum class Field : uint8_t {
  AppId,
  UserId,
  LocalAddress,
  LocalAddressType,
  LocalPort,
  Protocol,
  RemoteAddress,
  DestinationAddressType,
  RemotePort,
  Flags,
};
inline constexpr size_t kFieldCount = 10;
std::string_view toString(Field f);

// What FwpsAcquireWritableLayerDataPointer0 hands out at a layer.
enum class WritableData : uint8_t { None, ConnectRequest, BindRequest };

struct LayerInfo {
  LayerId id;
  std::string_view name;   // "ALE_CONNECT_REDIRECT_V4"
  uint16_t runtimeId;      // FWPS_LAYER_* value
  Guid key;                // FWPM_LAYER_* GUID
  bool v6;
  bool canPend;            // FwpsPendClassify0 allowed (redirect layers only)
  bool redirectLayer;      // needs FwpsCalloutRegister1+ (S3.2)
  WritableData writable;
  uint32_t valueCount;     // FWPS_FIELDS_*_MAX with the WDK header (number of incoming values)
  // Run-time field index per Field; -1 = the field does not exist at this layer.
  std::array<int16_t, kFieldCount> fieldIndex;

  bool hasField(Field f) const { return fieldIndex[static_cast<size_t>(f)] >= 0; }
  int16_t index(Field f) const { return fieldIndex[static_cast<size_t>(f)]; }
};

// FwpsPendOperation0 is allowed (the metadata carries FWPS_METADATA_FIELD_COMPLETION_HANDLE):
// of openwfp's layers only ALE_AUTH_CONNECT; the redirect layers pend with FwpsPendClassify0.
inline bool canPendOperation(const LayerInfo& l) {
  return l.id == LayerId::AuthConnectV4 || l.id == LayerId::AuthConnectV6;
}

const LayerInfo& layerInfo(LayerId id);
const std::array<LayerInfo, kLayerCount>& allLayers();
const LayerInfo* findLayer(const Guid& key);
const LayerInfo* findLayerByRuntimeId(uint16_t runtimeId);

// The layers a stack hook (openwfp/stack.h, StackHook) is classified at, in order: the redirect
// layer (writable layer data, may pend), then, if it permitted, the authorization layer for the
// final tuple. Either may be absent. Each names its V4 and V6 layer; the address a step
// classifies picks one (Connect: the remote address, Bind: the local address).
struct LayerPair {
  LayerId v4;
  LayerId v6;
  LayerId of(IpVersion version) const { return version == IpVersion::V4 ? v4 : v6; }
};
struct HookLayers {
  std::optional<LayerPair> redirect;
  std::optional<LayerPair> authorize;
};
const HookLayers& hookLayers(StackHook hook);

// FWPM_CONDITION_* GUID -> Field.
std::optional<Field> fieldForCondition(const Guid& conditionKey);
const Guid& conditionKey(Field f);

// Built-in sublayers (FWPM_SUBLAYER_UNIVERSAL hosts filters with an all-zero subLayerKey).
const Guid& universalSubLayerKey();
const Guid& inspectionSubLayerKey();
// openwfp choice (Windows publishes no number): the weight of FWPM_SUBLAYER_UNIVERSAL is 0x8000,
// the middle of the UINT16 range, so providers can place sublayers before or after it;
// FWPM_SUBLAYER_INSPECTION ("the lowest weighted sublayer") has weight 0.
inline constexpr uint16_t kUniversalSubLayerWeight = 0x8000;
inline constexpr uint16_t kInspectionSubLayerWeight = 0;

}  // namespace openwfp::engine

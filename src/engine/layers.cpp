#include "engine/layers.h"

#include <algorithm>

namespace openwfp::engine {
namespace {

constexpr int16_t kNone = -1;

// Field order in the arrays below: AppId, UserId, LocalAddress, LocalAddressType, LocalPort,
// Protocol, RemoteAddress, DestinationAddressType, RemotePort, Flags.
constexpr std::array<int16_t, kFieldCount> kConnectRedirectFields{0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
constexpr std::array<int16_t, kFieldCount> kBindRedirectFields{0,     1,     2,     3, 4,
                                                               5,     kNone, kNone, kNone, 6};
constexpr std::array<int16_t, kFieldCount> kAuthConnectFields{0, 1, 2, 3, 4, 5, 6, 10, 7, 12};

const std::array<LayerInfo, kLayerCount>& table() {
  static const std::array<LayerInfo, kLayerCount> layers{{
      {LayerId::ConnectRedirectV4, "ALE_CONNECT_REDIRECT_V4", 66,
       Guid::fromParts(0xc6e63c8c, 0xb784, 0x4562, {0xaa, 0x7d, 0x0a, 0x67, 0xcf, 0xca, 0xf9, 0xa3}),
       false, true, true, WritableData::ConnectRequest, 14, kConnectRedirectFields},
      {LayerId::ConnectRedirectV6, "ALE_CONNECT_REDIRECT_V6", 67,
       Guid::fromParts(0x587e54a7, 0x8046, 0x42ba, {0xa0, 0xaa, 0xb7, 0x16, 0x25, 0x0f, 0xc7, 0xfd}),
       true, true, true, WritableData::ConnectRequest, 14, kConnectRedirectFields},
      {LayerId::BindRedirectV4, "ALE_BIND_REDIRECT_V4", 68,
       Guid::fromParts(0x66978cad, 0xc704, 0x42ac, {0x86, 0xac, 0x7c, 0x1a, 0x23, 0x1b, 0xd2, 0x53}),
       false, true, true, WritableData::BindRequest, 10, kBindRedirectFields},
      {LayerId::BindRedirectV6, "ALE_BIND_REDIRECT_V6", 69,
       Guid::fromParts(0xbef02c9c, 0x606b, 0x4536, {0x8c, 0x26, 0x1c, 0x2f, 0xc7, 0xb6, 0x31, 0xd4}),
       true, true, true, WritableData::BindRequest, 10, kBindRedirectFields},
      {LayerId::AuthConnectV4, "ALE_AUTH_CONNECT_V4", 48,
       Guid::fromParts(0xc38d57d1, 0x05a7, 0x4c33, {0x90, 0x4f, 0x7f, 0xbc, 0xee, 0xe6, 0x0e, 0x82}),
       false, false, false, WritableData::None, 41, kAuthConnectFields},
      {LayerId::AuthConnectV6, "ALE_AUTH_CONNECT_V6", 50,
       Guid::fromParts(0x4a72393b, 0x319f, 0x44bc, {0x84, 0xc3, 0xba, 0x54, 0xdc, 0xb3, 0xb6, 0xb4}),
       true, false, false, WritableData::None, 41, kAuthConnectFields},
  }};
  return layers;
}

const std::array<Guid, kFieldCount>& conditionKeys() {
  static const std::array<Guid, kFieldCount> keys{
      Guid::fromParts(0xd78e1e87, 0x8644, 0x4ea5, {0x94, 0x37, 0xd8, 0x09, 0xec, 0xef, 0xc9, 0x71}),
      Guid::fromParts(0xaf043a0a, 0xb34d, 0x4f86, {0x97, 0x9c, 0xc9, 0x03, 0x71, 0xaf, 0x6e, 0x66}),
      Guid::fromParts(0xd9ee00de, 0xc1ef, 0x4617, {0xbf, 0xe3, 0xff, 0xd8, 0xf5, 0xa0, 0x89, 0x57}),
      Guid::fromParts(0x6ec7f6c4, 0x376b, 0x45d7, {0x9e, 0x9c, 0xd3, 0x37, 0xce, 0xdc, 0xd2, 0x37}),
      Guid::fromParts(0x0c1ba1af, 0x5765, 0x453f, {0xaf, 0x22, 0xa8, 0xf7, 0x91, 0xac, 0x77, 0x5b}),
      Guid::fromParts(0x3971ef2b, 0x623e, 0x4f9a, {0x8c, 0xb1, 0x6e, 0x79, 0xb8, 0x06, 0xb9, 0xa7}),
      Guid::fromParts(0xb235ae9a, 0x1d64, 0x49b8, {0xa4, 0x4c, 0x5f, 0xf3, 0xd9, 0x09, 0x50, 0x45}),
      Guid::fromParts(0x1ec1b7c9, 0x4eea, 0x4f5e, {0xb9, 0xef, 0x76, 0xbe, 0xaa, 0xaf, 0x17, 0xee}),
      Guid::fromParts(0xc35a604d, 0xd22b, 0x4e1a, {0x91, 0xb4, 0x68, 0xf6, 0x74, 0xee, 0x67, 0x4b}),
      Guid::fromParts(0x632ce23b, 0x5167, 0x435c, {0x86, 0xd7, 0xe9, 0x03, 0x68, 0x4a, 0xa8, 0x0c}),
  };
  return keys;
}

}  // namespace

std::string_view toString(Field f) {
  switch (f) {
    case Field::AppId: return "ALE_APP_ID";
    case Field::UserId: return "ALE_USER_ID";
    case Field::LocalAddress: return "IP_LOCAL_ADDRESS";
    case Field::LocalAddressType: return "IP_LOCAL_ADDRESS_TYPE";
    case Field::LocalPort: return "IP_LOCAL_PORT";
    case Field::Protocol: return "IP_PROTOCOL";
    case Field::RemoteAddress: return "IP_REMOTE_ADDRESS";
    case Field::DestinationAddressType: return "IP_DESTINATION_ADDRESS_TYPE";
    case Field::RemotePort: return "IP_REMOTE_PORT";
    case Field::Flags: return "FLAGS";
  }
  return "?";
}

const HookLayers& hookLayers(StackHook hook) {
  static constexpr HookLayers connect{LayerPair{LayerId::ConnectRedirectV4, LayerId::ConnectRedirectV6},
                                  LayerPair{LayerId::AuthConnectV4, LayerId::AuthConnectV6}};
  static constexpr HookLayers bind{LayerPair{LayerId::BindRedirectV4, LayerId::BindRedirectV6},
                               std::nullopt};
  switch (hook) {
    case StackHook::Connect:
      return connect;
    case StackHook::Bind:
      return bind;
  }
  return connect;  // not reached: every hook has a case
}

const LayerInfo& layerInfo(LayerId id) { return table()[static_cast<size_t>(id)]; }
const std::array<LayerInfo, kLayerCount>& allLayers() { return table(); }

const LayerInfo* findLayer(const Guid& key) {
  for (const auto& l : table())
    if (l.key == key) return &l;
  return nullptr;
}

const LayerInfo* findLayerByRuntimeId(uint16_t runtimeId) {
  for (const auto& l : table())
    if (l.runtimeId == runtimeId) return &l;
  return nullptr;
}

std::optional<Field> fieldForCondition(const Guid& key) {
  const auto& keys = conditionKeys();
  for (size_t i = 0; i < keys.size(); ++i)
    if (keys[i] == key) return static_cast<Field>(i);
  return std::nullopt;
}

const Guid& conditionKey(Field f) { return conditionKeys()[static_cast<size_t>(f)]; }

const Guid& universalSubLayerKey() {
  static const Guid g =
      Guid::fromParts(0xeebecc03, 0xced4, 0x4380, {0x81, 0x9a, 0x27, 0x34, 0x39, 0x7b, 0x2b, 0x74});
  return g;
}

const Guid& inspectionSubLayerKey() {
  static const Guid g =
      Guid::fromParts(0x877519e1, 0xe6a9, 0x41a5, {0x81, 0xb4, 0x8c, 0x4f, 0x11, 0x8e, 0x4a, 0x60});
  return g;
}

}  // namespace openwfp::engine

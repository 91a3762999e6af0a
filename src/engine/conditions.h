// engine/conditions.h - condition values, filter conditions and matching (SPEC S2.4).
//
// Values mirror FWP_CONDITION_VALUE0 (type numbers are FWP_DATA_TYPE, match numbers
// FWP_MATCH_TYPE) without WDK types. A filter's conditions are grouped by field: conditions on
// the same field are ORed, groups on different fields are ANDed; no condition = always matches.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "engine/layers.h"
#include "engine/status.h"
#include "openwfp/stack.h"

namespace openwfp::engine {

enum class DataType : uint32_t {
  Empty = 0,
  Uint8 = 1,
  Uint16 = 2,
  Uint32 = 3,
  Uint64 = 4,
  ByteArray16 = 11,
  ByteBlob = 12,
  Sid = 13,
  SecurityDescriptor = 14,
  V4AddrMask = 256,
  V6AddrMask = 257,
  Range = 258,
};

enum class MatchType : uint32_t {
  Equal = 0,
  Greater = 1,
  Less = 2,
  GreaterOrEqual = 3,
  LessOrEqual = 4,
  Range = 5,
  FlagsAllSet = 6,
  FlagsAnySet = 7,
  FlagsNoneSet = 8,
  EqualCaseInsensitive = 9,
  NotEqual = 10,
  Prefix = 11,
  NotPrefix = 12,
};

struct Value {
  DataType type = DataType::Empty;
  uint64_t number = 0;             // Uint8..Uint64; V4AddrMask: the address (host byte order)
  uint32_t mask = 0;               // V4AddrMask (host byte order)
  std::array<uint8_t, 16> bytes{}; // ByteArray16; V6AddrMask: the address
  uint8_t prefixLength = 0;        // V6AddrMask
  std::vector<uint8_t> blob;       // ByteBlob (also Sid / SecurityDescriptor bytes)

  static Value scalar(DataType t, uint64_t v) {
    Value x;
    x.type = t;
    x.number = v;
    return x;
  }
  static Value u8(uint8_t v) { return scalar(DataType::Uint8, v); }
  static Value u16(uint16_t v) { return scalar(DataType::Uint16, v); }
  static Value u32(uint32_t v) { return scalar(DataType::Uint32, v); }
  static Value v4Mask(uint32_t addr, uint32_t mask);
  static Value v6Prefix(const std::array<uint8_t, 16>& addr, uint8_t prefixLength);
  static Value bytes16(const std::array<uint8_t, 16>& b);
  static Value byteBlob(std::vector<uint8_t> b);
  friend bool operator==(const Value&, const Value&) = default;
};

struct Condition {
  Field field = Field::RemoteAddress;
  MatchType match = MatchType::Equal;
  Value value;  // for MatchType::Range / DataType::Range: the low end
  Value high;   // for Range: the high end
  std::string str() const;
};

// What a classify matches on (engine form of the incoming values).
struct ClassifyValues {
  std::vector<uint8_t> appId;  // NUL-terminated wchar_t image path bytes (see appIdFromPath)
  uint32_t userId = 0;         // openwfp choice: the uid, FWP_UINT32
  Endpoint local;
  Endpoint remote;             // unused at the bind-redirect layers
  uint32_t localV4 = 0;        // host byte order copies for v4 layers
  uint32_t remoteV4 = 0;
  uint8_t protocol = 0;
  uint32_t flags = 0;          // FWP_CONDITION_FLAG_*
  uint8_t localAddressType = 0;        // NL_ADDRESS_TYPE: 1 = unicast
  uint8_t destinationAddressType = 0;

  void setEndpoints(const Endpoint& localEp, const Endpoint& remoteEp);
};

// FWP_CONDITION_FLAG_* values the engine sets.
inline constexpr uint32_t kFlagIsLoopback = 0x00000001;
inline constexpr uint32_t kFlagIsReauthorize = 0x00000004;
inline constexpr uint32_t kFlagIsConnectionRedirected = 0x00100000;
inline constexpr uint32_t kFlagIsProxyConnection = 0x00200000;
std::vector<std::string> flagNames(uint32_t flags);

// The application id blob: the path as a NUL-terminated wchar_t string (S2.4, openwfp choice:
// the Linux image path, byte-for-byte widened; UTF-8 is decoded when valid).
std::vector<uint8_t> appIdFromPath(std::string_view path);
std::string pathFromAppId(std::span<const uint8_t> blob);

// Checks a condition against the layer (S2.3/S2.4): field known at the layer, data type and match
// type allowed for the field, well-formed masks and ranges.
Status validateCondition(const LayerInfo& layer, const Condition& c);

// Does one condition hold for the values?
bool conditionMatches(const Condition& c, const LayerInfo& layer, const ClassifyValues& v);

struct ConditionGroup {
  Field field;
  std::vector<Condition> anyOf;  // ORed
};
std::vector<ConditionGroup> groupConditions(std::span<const Condition> conditions);
bool groupsMatch(std::span<const ConditionGroup> groups, const LayerInfo& layer,
                 const ClassifyValues& v);

// The openwfp specificity score behind automatic weights (S2.5, docs/architecture.md):
// sum over fields of the least specific condition of that field, each 0..16.
uint32_t specificityScore(std::span<const ConditionGroup> groups);

}  // namespace openwfp::engine

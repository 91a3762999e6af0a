// engine/status.h - engine result codes. The numbers are the NTSTATUS values of the WDK, so the
// C ABI (src/kapi) returns them unchanged; the engine itself never includes the WDK headers.
#pragma once

#include <cstdint>

namespace openwfp::engine {

enum class Status : int32_t {
  Success = 0,
  Pending = 0x00000103,
  ObjectNameExists = 0x40000000,  // STATUS_OBJECT_NAME_EXISTS: a success code
  Unsuccessful = static_cast<int32_t>(0xC0000001),
  DeviceBusy = static_cast<int32_t>(0x80000011),
  InvalidHandle = static_cast<int32_t>(0xC0000008),
  InvalidParameter = static_cast<int32_t>(0xC000000D),
  AccessDenied = static_cast<int32_t>(0xC0000022),
  NoMemory = static_cast<int32_t>(0xC0000017),
  BufferTooSmall = static_cast<int32_t>(0xC0000023),
  DatatypeMisalignment = static_cast<int32_t>(0x80000002),
  InsufficientResources = static_cast<int32_t>(0xC000009A),
  NotFound = static_cast<int32_t>(0xC0000225),
  FwpCalloutNotFound = static_cast<int32_t>(0xC0220001),
  FwpConditionNotFound = static_cast<int32_t>(0xC0220002),
  FwpFilterNotFound = static_cast<int32_t>(0xC0220003),
  FwpLayerNotFound = static_cast<int32_t>(0xC0220004),
  FwpProviderNotFound = static_cast<int32_t>(0xC0220005),
  FwpProviderContextNotFound = static_cast<int32_t>(0xC0220006),
  FwpSubLayerNotFound = static_cast<int32_t>(0xC0220007),
  FwpNotFound = static_cast<int32_t>(0xC0220008),
  FwpAlreadyExists = static_cast<int32_t>(0xC0220009),
  FwpInUse = static_cast<int32_t>(0xC022000A),
  FwpNoTxnInProgress = static_cast<int32_t>(0xC022000D),
  FwpTxnInProgress = static_cast<int32_t>(0xC022000E),
  FwpIncompatibleTxn = static_cast<int32_t>(0xC0220011),
  FwpTimeout = static_cast<int32_t>(0xC0220012),
  FwpIncompatibleLayer = static_cast<int32_t>(0xC0220014),
  FwpBuiltinObject = static_cast<int32_t>(0xC0220017),
  FwpNullPointer = static_cast<int32_t>(0xC022001C),
  FwpInvalidEnumerator = static_cast<int32_t>(0xC022001D),
  FwpInvalidFlags = static_cast<int32_t>(0xC022001E),
  FwpInvalidNetMask = static_cast<int32_t>(0xC022001F),
  FwpInvalidRange = static_cast<int32_t>(0xC0220020),
  FwpNullDisplayName = static_cast<int32_t>(0xC0220023),
  FwpInvalidActionType = static_cast<int32_t>(0xC0220024),
  FwpInvalidWeight = static_cast<int32_t>(0xC0220025),
  FwpMatchTypeMismatch = static_cast<int32_t>(0xC0220026),
  FwpTypeMismatch = static_cast<int32_t>(0xC0220027),
  FwpOutOfBounds = static_cast<int32_t>(0xC0220028),
  FwpActionIncompatibleWithLayer = static_cast<int32_t>(0xC022002C),
  FwpInvalidParameter = static_cast<int32_t>(0xC0220035),
  FwpCalloutNotificationFailed = static_cast<int32_t>(0xC0220037),
  FwpCannotPend = static_cast<int32_t>(0xC0220103),
};

constexpr bool ok(Status s) { return static_cast<int32_t>(s) >= 0; }
constexpr int32_t toNtStatus(Status s) { return static_cast<int32_t>(s); }
const char* toString(Status s);

}  // namespace openwfp::engine

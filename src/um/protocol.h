// um/protocol.h - the management calls inside the engine's service frames (SPEC S14.4;
// docs/control-channel.md "Management calls"): one op per fwpmu.h function, their payloads
// (codec.h), and the limits. The reply's status is the engine's NTSTATUS; the client turns it
// into the DWORD fwpuclnt returns (status_map.h).
#pragma once

#include <cstdint>

namespace openwfp::um {

// The `service` number of management frames (control::kServiceManagement).
inline constexpr uint32_t kServiceManagementNumber = 1;

enum class Op : uint32_t {
  EngineOpen = 1,          // [u32 authnService][u8 has session][FWPM_SESSION0] -> [u64 handle]
  EngineClose = 2,         // [u64 handle]
  TransactionBegin = 3,    // [u64 handle][u32 flags]
  TransactionCommit = 4,   // [u64 handle]
  TransactionAbort = 5,    // [u64 handle]
  ProviderAdd = 10,        // [u64 handle][FWPM_PROVIDER0]
  ProviderDelete = 11,     // [u64 handle][GUID key]
  ProviderGet = 12,        // [u64 handle][GUID key] -> [FWPM_PROVIDER0]
  SubLayerAdd = 20,        // [u64 handle][FWPM_SUBLAYER0]
  SubLayerDelete = 21,     // [u64 handle][GUID key]
  SubLayerGet = 22,        // [u64 handle][GUID key] -> [FWPM_SUBLAYER0]
  CalloutAdd = 30,         // [u64 handle][FWPM_CALLOUT0] -> [u32 id]
  CalloutDeleteById = 31,  // [u64 handle][u32 id]
  CalloutDeleteByKey = 32, // [u64 handle][GUID key]
  CalloutGetById = 33,     // [u64 handle][u32 id] -> [FWPM_CALLOUT0]
  CalloutGetByKey = 34,    // [u64 handle][GUID key] -> [FWPM_CALLOUT0]
  FilterAdd = 40,          // [u64 handle][FWPM_FILTER0] -> [u64 id]
  FilterDeleteById = 41,   // [u64 handle][u64 id]
  FilterDeleteByKey = 42,  // [u64 handle][GUID key]
  FilterGetById = 43,      // [u64 handle][u64 id] -> [FWPM_FILTER0]
  FilterGetByKey = 44,     // [u64 handle][GUID key] -> [FWPM_FILTER0]
  EnumCreate = 50,         // [u64 handle][u8 kind][u8 has template, template] -> [u64 enum]
  EnumNext = 51,           // [u64 handle][u8 kind][u64 enum][u32 wanted] -> [u32 n][n objects]
  EnumDestroy = 52,        // [u64 handle][u8 kind][u64 enum]
};

enum class Kind : uint8_t { Provider = 1, SubLayer = 2, Callout = 3, Filter = 4 };

// A request or reply payload is at most control's kMaxBuffer (1 MiB); an EnumNext reply stops
// adding objects before it would pass kReplyBudget, so the client asks again for the rest.
inline constexpr size_t kMaxPayload = 1u << 20;
inline constexpr size_t kReplyBudget = kMaxPayload - 4096;

}  // namespace openwfp::um

// km/pool.cpp - ExAllocatePool2 / ExAllocatePoolWithTag / ExFreePoolWithTag / ExFreePool
// over the runtime's PoolTracker (S11.2), misuse reported to the verifier (S11.1, S5.6).
#include <wdm.h>

#include <fmt/format.h>

#include "openwfp/openwfp.h"
#include "verifier/pool.h"
#include "verifier/verifier.h"

using openwfp::Runtime;
using openwfp::verifier::Code;
using openwfp::verifier::FreeResult;

namespace {

void report(Code code, std::string message) {
  Runtime::current().verifier().report({code, std::move(message), openwfp::verifier::currentDriver(), "", 0});
}

std::string tagText(ULONG tag) { return fmt::format("'{}' (0x{:08X})", openwfp::verifier::tagToString(tag), tag); }

constexpr POOL_FLAGS kPoolTypeFlags = POOL_FLAG_NON_PAGED | POOL_FLAG_NON_PAGED_EXECUTE | POOL_FLAG_PAGED;
// Required-range flags this implementation knows; anything else in the required range is invalid.
constexpr POOL_FLAGS kKnownRequired = POOL_FLAG_USE_QUOTA | POOL_FLAG_UNINITIALIZED | POOL_FLAG_SESSION |
                                      POOL_FLAG_CACHE_ALIGNED | POOL_FLAG_RAISE_ON_FAILURE | kPoolTypeFlags;
constexpr POOL_FLAGS kRequiredRange = 0x00000000FFFFFFFFULL;

void freeChecked(const char* api, PVOID p, ULONG tag, bool checkTag) {
  if (p == nullptr) {
    report(Code::InvalidArgument, fmt::format("{}(NULL): freeing NULL crashes on Windows", api));
    return;
  }
  auto& pool = Runtime::current().pool();
  openwfp::verifier::PoolAllocation info;
  const bool known = pool.lookup(p, &info);
  switch (pool.free(p, checkTag ? tag : 0)) {
    case FreeResult::Freed:
      break;
    case FreeResult::Unknown:
      report(Code::PoolFreeUnknown,
             fmt::format("{}({}) of a pointer that is not a live pool allocation (double free?); not freed", api, p));
      break;
    case FreeResult::TagMismatch:
      report(Code::PoolTagMismatch, fmt::format("{}({}, tag {}) but it was allocated with tag {} ({} bytes); freed",
                                                api, p, tagText(tag), tagText(info.tag), info.size));
      break;
    case FreeResult::EngineOwned:
      report(Code::EngineOwnedContextFreed,
             fmt::format("{}({}): the engine owns this localRedirectContext after FwpsApplyModifiedLayerData0 and "
                         "frees it when the flow ends (tag {}, {} bytes); not freed",
                         api, p, known ? tagText(info.tag) : std::string("?"), info.size));
      break;
  }
}

}  // namespace

extern "C" {

PVOID NTAPI ExAllocatePool2(POOL_FLAGS Flags, SIZE_T NumberOfBytes, ULONG Tag) {
  // Documented: NULL for a zero tag or invalid flags; NumberOfBytes must be nonzero.
  const POOL_FLAGS poolType = Flags & kPoolTypeFlags;
  if (poolType == 0 || (poolType & (poolType - 1)) != 0 || (Flags & kRequiredRange & ~kKnownRequired) != 0) {
    report(Code::InvalidArgument,
           fmt::format("ExAllocatePool2: invalid POOL_FLAGS 0x{:X} (exactly one of NON_PAGED, NON_PAGED_EXECUTE, "
                       "PAGED is required)", Flags));
    return nullptr;
  }
  if (Tag == 0) {
    report(Code::InvalidArgument, "ExAllocatePool2: tag 0 is invalid (returns NULL)");
    return nullptr;
  }
  if (NumberOfBytes == 0) {
    report(Code::InvalidArgument, fmt::format("ExAllocatePool2: NumberOfBytes 0 (tag {})", tagText(Tag)));
    return nullptr;
  }
  const bool zero = (Flags & POOL_FLAG_UNINITIALIZED) == 0;
  // POOL_FLAG_RAISE_ON_FAILURE cannot raise an SEH exception here: failure returns NULL.
  return Runtime::current().pool().allocate(NumberOfBytes, Tag, openwfp::verifier::currentDriver(), zero);
}

PVOID NTAPI ExAllocatePoolWithTag(POOL_TYPE PoolType, SIZE_T NumberOfBytes, ULONG Tag) {
  (void)PoolType;  // all pools are the same heap here
  if (NumberOfBytes == 0) {
    report(Code::InvalidArgument, fmt::format("ExAllocatePoolWithTag: NumberOfBytes 0 (tag {})", tagText(Tag)));
    return nullptr;
  }
  return Runtime::current().pool().allocate(NumberOfBytes, Tag, openwfp::verifier::currentDriver(), false);
}

void NTAPI ExFreePoolWithTag(PVOID P, ULONG Tag) { freeChecked("ExFreePoolWithTag", P, Tag, true); }

void NTAPI ExFreePool(PVOID P) { freeChecked("ExFreePool", P, 0, false); }

}  // extern "C"

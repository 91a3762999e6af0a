// um/status_map.cpp - see status_map.h. Values: ntstatus.h and winerror.h of the Windows SDK.
#include "um/status_map.h"

namespace openwfp::um {

uint32_t win32FromNtStatus(int32_t status) {
  auto st = static_cast<uint32_t>(status);
  if (st == 0) return 0;                                            // ERROR_SUCCESS
  if ((st & 0xFFFF0000u) == 0xC0220000u) return 0x80320000u | (st & 0xFFFFu);  // FWP_E_*
  switch (st) {
    case 0xC0000022u: return 5;     // STATUS_ACCESS_DENIED -> ERROR_ACCESS_DENIED
    case 0xC0000008u: return 6;     // STATUS_INVALID_HANDLE -> ERROR_INVALID_HANDLE
    case 0xC0000017u:               // STATUS_NO_MEMORY
    case 0xC000009Au: return 8;     // STATUS_INSUFFICIENT_RESOURCES -> ERROR_NOT_ENOUGH_MEMORY
    case 0xC000000Du: return 87;    // STATUS_INVALID_PARAMETER -> ERROR_INVALID_PARAMETER
    case 0xC0000023u: return 122;   // STATUS_BUFFER_TOO_SMALL -> ERROR_INSUFFICIENT_BUFFER
    case 0xC00000BBu: return 50;    // STATUS_NOT_SUPPORTED -> ERROR_NOT_SUPPORTED
    case 0xC0000002u: return 1;     // STATUS_NOT_IMPLEMENTED -> ERROR_INVALID_FUNCTION
    case 0xC0000225u: return 1168;  // STATUS_NOT_FOUND -> ERROR_NOT_FOUND
    case 0xC0000079u: return 1338;  // STATUS_INVALID_SECURITY_DESCR -> ERROR_INVALID_SECURITY_DESCR
    case 0x00000102u: return 1460;  // STATUS_TIMEOUT -> ERROR_TIMEOUT
    default: return 31;             // ERROR_GEN_FAILURE
  }
}

}  // namespace openwfp::um

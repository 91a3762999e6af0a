// um/status_map.h - the DWORD a user-mode Fwpm* function returns for the engine's NTSTATUS, as
// fwpuclnt returns them (SPEC S14.4; docs/management-api.md "Return values"):
// STATUS_FWP_x (0xC022xxxx) -> FWP_E_x (0x8032xxxx, same low word), common NTSTATUS values ->
// their ERROR_* codes, anything else -> ERROR_GEN_FAILURE.
#pragma once

#include <cstdint>

namespace openwfp::um {

uint32_t win32FromNtStatus(int32_t status);

}  // namespace openwfp::um

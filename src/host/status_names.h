// host/status_names.h - NTSTATUS values by name, for error messages (driver loader, CLI).
// Plain integers: no WDK header needed, so Linux code (the CLI) can include it too.
#pragma once

#include <cstdint>
#include <string>

namespace openwfp::host {

// The symbolic name of a common NTSTATUS ("STATUS_FWP_ALREADY_EXISTS"), or nullptr if unknown.
const char* ntStatusName(int32_t status);

// "0xC0220009 STATUS_FWP_ALREADY_EXISTS", or just "0xC0000001" when the name is unknown.
std::string describeNtStatus(int32_t status);

}  // namespace openwfp::host

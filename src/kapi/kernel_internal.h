// kapi/kernel_internal.h - shared between the kernel_*.cpp files of src/kapi (includes wdm.h, so
// only for translation units that may include the km headers).
#pragma once

#include <wdm.h>

#include <string>
#include <vector>

namespace openwfp::kapi::internal {

// Device objects stay allocated while work items for them are queued (IoDeleteDevice defers).
void deviceAddRef(PDEVICE_OBJECT device);
void deviceRelease(PDEVICE_OBJECT device);

// Work items of a driver still allocated at unload: freed, one description each.
std::vector<std::string> releaseWorkItemsOf(const DRIVER_OBJECT* driver);

// Reports a kernel support misuse to the verifier, attributed to the current driver.
void reportMisuse(std::string message);

}  // namespace openwfp::kapi::internal

// km/internal.h - shared between the kernel_*.cpp files of src/kapi (includes wdm.h, so
// only for translation units that may include the km headers).
#pragma once

#include <wdm.h>

#include <string>
#include <vector>

namespace openwfp::km::internal {

// Device objects stay allocated while work items for them are queued (IoDeleteDevice defers).
void deviceAddRef(PDEVICE_OBJECT device);
void deviceRelease(PDEVICE_OBJECT device);

// Work items of a driver still allocated at unload: freed, one description each.
std::vector<std::string> releaseWorkItemsOf(const DRIVER_OBJECT* driver);

// Reports a kernel support misuse to the verifier, attributed to the current driver.
void reportMisuse(std::string message);

// Whether the calling thread holds the spin lock (km/sync.cpp).
bool spinLockHeldByCurrentThread(const KSPIN_LOCK* lock);

// Dispatcher objects (km/waits.cpp): sets the object's SignalState to 1 and wakes its waiters
// (used when a system thread ends).
void signalDispatcherObject(DISPATCHER_HEADER* header);
// DISPATCHER_HEADER.Type of the objects openwfp knows (the kernel's KOBJECTS numbering).
inline constexpr UCHAR kEventNotificationObject = 0;
inline constexpr UCHAR kEventSynchronizationObject = 1;
inline constexpr UCHAR kThreadObject = 6;

}  // namespace openwfp::km::internal

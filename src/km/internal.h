// km/internal.h - shared between the kernel_*.cpp files of src/kapi (includes wdm.h, so
// only for translation units that may include the km headers).
#pragma once

#include <wdm.h>

#include <functional>
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

// Sets the calling thread's IRQL (km/sync.cpp; fast mutexes raise to APC_LEVEL and restore).
void setCurrentIrql(KIRQL irql);

// Whether the calling thread holds the spin lock (km/sync.cpp).
bool spinLockHeldByCurrentThread(const KSPIN_LOCK* lock);

// Dispatcher objects (km/waits.cpp): sets the object's SignalState to 1 and wakes its waiters
// (used when a system thread ends).
void signalDispatcherObject(DISPATCHER_HEADER* header);
// DISPATCHER_HEADER.Type of the objects openwfp knows (the kernel's KOBJECTS numbering).
inline constexpr UCHAR kEventNotificationObject = 0;
inline constexpr UCHAR kEventSynchronizationObject = 1;
inline constexpr UCHAR kMutantObject = 2;
inline constexpr UCHAR kThreadObject = 6;
inline constexpr UCHAR kTimerNotificationObject = 8;
inline constexpr UCHAR kTimerSynchronizationObject = 9;
// Sets the object's SignalState to 0 (KeSetTimer).
void resetDispatcherObject(DISPATCHER_HEADER* header);

// DPCs (km/dpcs.cpp): queues Dpc with the arguments in the name of driver; FALSE if it is
// already queued.
BOOLEAN queueDpc(PRKDPC Dpc, PVOID a1, PVOID a2, const std::string& driver);
// "name (file+0xoffset)" of a code address, as dladdr knows it (for unload reports).
std::string describeCode(const void* address);

// Timers (km/timers.cpp) at driver unload: cancels every set timer that was set in the name of
// driver, or whose KTIMER, KDPC, DPC routine or DeferredContext owns() says is the driver's;
// one description each. Adds the KDPCs of those timers to timerDpcs (a queued expiry of such
// a timer is part of the timer's report).
std::vector<std::string> cancelTimersOf(const std::string& driver, const std::function<bool(const void*)>& owns,
                                        std::vector<const KDPC*>& timerDpcs);

}  // namespace openwfp::km::internal

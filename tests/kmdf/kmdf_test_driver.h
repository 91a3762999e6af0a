// A KMDF control-device driver for the S15.1 tests (kmdf_test_driver.cpp), written as for
// Windows against wdf.h: a default parallel queue with EvtIoDeviceControl, a manual queue that
// IOCTL_KT_PEND requests are forwarded to, a driver-held cancelable request (IOCTL_KT_HOLD),
// spin and wait locks, typed contexts with EvtCleanupCallback, WdfObjectDelete.
#pragma once

#include <wdf.h>

#include <string>
#include <vector>

namespace kmdftest {

inline constexpr const char* kPath = "\\\\.\\OwfpKmdfTest";

#define KT_CODE(n) CTL_CODE(FILE_DEVICE_UNKNOWN, 0x900 + (n), METHOD_BUFFERED, FILE_ANY_ACCESS)
inline constexpr ULONG kEcho = KT_CODE(0);      // output = input
inline constexpr ULONG kPend = KT_CODE(1);      // forwarded to the manual queue, waits
inline constexpr ULONG kRelease = KT_CODE(2);   // input LONG: completes the oldest pended with it
inline constexpr ULONG kHold = KT_CODE(3);      // held by the driver, cancelable (MarkCancelableEx)
inline constexpr ULONG kCount = KT_CODE(4);     // input LONG n: n increments under both locks
inline constexpr ULONG kMakeObj = KT_CODE(5);   // input LONG tag: a spin lock with a typed context
inline constexpr ULONG kDeleteObj = KT_CODE(6); // WdfObjectDelete of the last object made
inline constexpr ULONG kPid = KT_CODE(7);       // output ULONG: IoGetRequestorProcessId
inline constexpr ULONG kNoBuffer = KT_CODE(8);  // tries to retrieve a 16-byte input buffer
inline constexpr ULONG kWaitLockTry = KT_CODE(9);  // holds the wait lock, tries with timeout 0

NTSTATUS driverEntry(PDRIVER_OBJECT driver, PUNICODE_STRING registryPath);

// What the driver saw, in order ("create", "cleanup", "close", "ioctl <code>", "cancel hold",
// "cleanup obj <tag>", "cleanup device", "cleanup driver", "unload").
std::vector<std::string> events();
void clearEvents();
LONG counter();  // the value counted under the locks

}  // namespace kmdftest

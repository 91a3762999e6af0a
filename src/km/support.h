// km/support.h - the C++ side of the kernel support API (wdm.h): what the host, the
// engine and tests need to drive driver objects, IRQL, work items and IRP completion.
// No WDK header here (callers may be Linux code): driver/device objects are passed as void*.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

struct _DRIVER_OBJECT;
struct _UNICODE_STRING;

namespace openwfp::km {

using DriverEntryFn = int32_t (*)(struct _DRIVER_OBJECT*, struct _UNICODE_STRING*);

// ---- Driver objects (used by host::DriverHost) ----------------------------------------------
// A zeroed DRIVER_OBJECT named "\Driver\<name>" with its DRIVER_EXTENSION, registered so that
// work items and debug output can name the driver. Returns a PDRIVER_OBJECT.
void* createDriverObject(const std::string& name);
// Calls entry(driverObject, "\Registry\Machine\System\CurrentControlSet\Services\<name>").
// Exceptions thrown by the driver are caught and turned into STATUS_UNSUCCESSFUL.
int32_t callDriverEntry(DriverEntryFn entry, void* driverObject);
// Calls DriverObject->DriverUnload if the driver set it; returns whether it was called.
bool callDriverUnload(void* driverObject);
// Releases what the driver left behind (device objects not deleted, work items not freed,
// symbolic links not deleted) and describes each for the leak report.
std::vector<std::string> releaseDriverResources(void* driverObject);
// Frees the driver object (after releaseDriverResources).
void destroyDriverObject(void* driverObject);
// The name a driver object was created with, "" if unknown.
std::string driverNameOf(const void* driverObject);

// ---- IRQL ------------------------------------------------------------------------------------
// The calling thread's IRQL as KeGetCurrentIrql reports it (PASSIVE_LEVEL = 0 by default).
uint8_t currentIrql();
// Runs a scope at the given IRQL (the engine calls classifyFn at DISPATCH_LEVEL = 2).
class IrqlScope {
 public:
  explicit IrqlScope(uint8_t irql);
  ~IrqlScope();
  IrqlScope(const IrqlScope&) = delete;
  IrqlScope& operator=(const IrqlScope&) = delete;

 private:
  uint8_t previous_;
};

// ---- Work items ------------------------------------------------------------------------------
// Blocks until every work item queued for devices of driverObject has run (nullptr: all items).
void waitForWorkItems(const void* driverObject = nullptr);

// ---- Timers and DPCs at unload (S11.2) ---------------------------------------------------------
struct PendingRelease {
  std::vector<std::string> leaks;  // one description per timer still set / DPC still queued or running
  bool stillRunning = false;       // a DPC routine of the driver did not return within the timeout
};
// After DriverUnload (Windows: bugcheck 0xCE, DRIVER_UNLOADED_WITHOUT_CANCELLING_PENDING_OPERATIONS):
// cancels every timer and removes every queued DPC of the driver (set or queued in its name, or
// whose object, routine or context owns() says is the driver's: its image or its pool), and
// waits up to timeout for a routine of the driver that runs on the DPC thread now; repeated
// until none is left, since a running routine may set a timer or queue a DPC again.
PendingRelease cancelTimersAndDpcsOf(const std::string& driverName, const std::function<bool(const void*)>& owns,
                                     std::chrono::milliseconds timeout);

// ---- System threads (PsCreateSystemThread) ----------------------------------------------------
struct ThreadRelease {
  std::vector<std::string> leaks;  // one description per thread left running / handle / reference
  size_t running = 0;              // threads of the driver still running its code
};
// At driver unload (after DriverUnload): describes the driver's system threads still running,
// thread handles not closed (closed here) and thread object references not released (freed
// here, for threads that ended). A running thread is left alone.
ThreadRelease releaseSystemThreadsOf(const std::string& driverName);
// System threads (all drivers) whose start routine has not returned yet.
size_t runningSystemThreads();

// ---- IRPs ------------------------------------------------------------------------------------
// Called (on the completing thread) by IoCompleteRequest with the PIRP; nullptr to clear.
// The IRP dispatcher of the host installs it to learn when a pended IRP completes.
void setIrpCompletionHandler(std::function<void(void* irp)> handler);

}  // namespace openwfp::km

// openwfp/host.h - loading callout drivers: DriverEntry on load, DriverUnload and the leak report
// (S11.2) on unload. A driver is either a shared object exporting
//   NTSTATUS DriverEntry(PDRIVER_OBJECT DriverObject, PUNICODE_STRING RegistryPath)  (extern "C")
// or an in-process DriverEntry function (tests, the built-in demo driver).
//
// The driver runs against Runtime::current(). A shared-object driver's WDK functions bind to the
// host's libopenwfp when it is loaded; it need not link libopenwfp (openwfp_add_driver() does
// not), and if it does, it must be the same libopenwfp the host uses.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

// The WDK structs, by tag only (this header includes no WDK header).
struct _DRIVER_OBJECT;
struct _UNICODE_STRING;

namespace openwfp::host {

// NTSTATUS DriverEntry(PDRIVER_OBJECT, PUNICODE_STRING).
using DriverEntryFn = int32_t (*)(struct _DRIVER_OBJECT*, struct _UNICODE_STRING*);

// Something the driver left behind at unload (also reported to the verifier as PoolLeak or
// HandleLeak violations when it is enabled).
struct Leak {
  std::string driver;
  std::string what;  // e.g. "pool allocation tag 'Leak' (0x6B61654C), 100 bytes at 0x..."
};

struct LoadResult {
  bool ok = false;
  int32_t status = 0;  // DriverEntry's NTSTATUS (0 if it was not reached)
  std::string name;    // the driver's name (file stem, or the name given)
  std::string error;   // why loading failed, one line; empty on success
  std::vector<Leak> leaks;  // what a failed DriverEntry left behind (released)
  explicit operator bool() const { return ok; }
};

class DriverHost {
 public:
  DriverHost();
  ~DriverHost();  // unloadAll()
  DriverHost(const DriverHost&) = delete;
  DriverHost& operator=(const DriverHost&) = delete;

  // dlopen(path, RTLD_NOW | RTLD_LOCAL), DriverEntry inside CurrentDriverScope(file stem).
  // Failure messages: "cannot load <path>: <dlerror>", "<file> has no DriverEntry",
  // "DriverEntry of <file> failed: 0xC0220009 STATUS_FWP_ALREADY_EXISTS",
  // "driver <name> is already loaded". A failed DriverEntry is not followed by DriverUnload (as
  // on Windows); what it left behind is reported as leaks and released.
  LoadResult load(const std::string& path);
  // The same for an in-process driver.
  LoadResult load(DriverEntryFn entry, const std::string& name);

  // DriverUnload (if set), then the leak report: pool allocations still live for the driver
  // (tag and size), redirect handles not destroyed, callouts still registered (unregistered
  // here: their filters then act as for an unregistered callout, S3.4), devices/work items/
  // symbolic links left, system threads still running, thread handles not closed; then releases
  // them and dlcloses the object - unless a system thread of the driver is still running (its
  // code must stay mapped; the leak says so). Unknown name -> empty result.
  std::vector<Leak> unload(const std::string& name);
  // unload() of every driver in reverse load order.
  std::vector<Leak> unloadAll();

  std::vector<std::string> loaded() const;  // names, in load order
  // The PDRIVER_OBJECT of a loaded driver (nullptr if unknown), for tests and diagnostics.
  struct _DRIVER_OBJECT* driverObject(const std::string& name) const;

 private:
  struct Driver;
  LoadResult start(std::unique_ptr<Driver> driver, DriverEntryFn entry, const std::string& displayName);
  std::vector<Leak> stop(Driver& driver, bool callUnload);
  std::vector<std::unique_ptr<Driver>> drivers_;  // load order; not thread-safe (one owner)
};

}  // namespace openwfp::host

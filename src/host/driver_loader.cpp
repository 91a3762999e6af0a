// host/driver_loader.cpp - DriverHost: load drivers, call DriverEntry/DriverUnload, report what
// a driver leaves behind at unload (S11.2).
#include <dlfcn.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>

#include "engine/engine.h"
#include "host/status_names.h"
#include "km/support.h"
#include "openwfp/host.h"
#include "openwfp/openwfp.h"
#include "redirect/handles.h"
#include "verifier/pool.h"
#include "verifier/verifier.h"

namespace openwfp::host {

struct DriverHost::Driver {
  std::string name;
  std::string fileName;         // for messages: "foo.so", or the name of an in-process driver
  void* library = nullptr;      // dlopen handle, nullptr for in-process drivers
  void* driverObject = nullptr; // PDRIVER_OBJECT
  const void* imageBase = nullptr;  // where the library is mapped (dladdr), nullptr in-process
};

namespace {

bool ntSuccess(int32_t status) { return status >= 0; }

void reportLeak(verifier::Code code, const std::string& driver, const std::string& what, std::vector<Leak>& out) {
  out.push_back({driver, what});
  Runtime::current().verifier().report({code, fmt::format("{} leaked at unload: {}", driver, what), driver, "", 0});
}

// Whether p lies in the driver's image or in one of its live pool allocations.
bool ownedBy(const void* imageBase, const std::string& name, Runtime& runtime, const void* p) {
  if (p == nullptr) return false;
  if (imageBase != nullptr) {
    if (Dl_info info{}; dladdr(p, &info) != 0 && info.dli_fbase == imageBase) return true;
  }
  const auto at = reinterpret_cast<uintptr_t>(p);
  for (const auto& a : runtime.pool().liveFor(name)) {
    const auto base = reinterpret_cast<uintptr_t>(a.ptr);
    if (at >= base && at < base + a.size) return true;
  }
  return false;
}

}  // namespace

DriverHost::DriverHost() = default;

DriverHost::~DriverHost() { unloadAll(); }

LoadResult DriverHost::load(const std::string& path) {
  std::filesystem::path p(path);
  auto driver = std::make_unique<Driver>();
  driver->name = p.stem().string();
  driver->fileName = p.filename().string();
  LoadResult result;
  result.name = driver->name;
  if (std::any_of(drivers_.begin(), drivers_.end(), [&](const auto& d) { return d->name == driver->name; })) {
    result.error = fmt::format("driver {} is already loaded", driver->name);
    return result;
  }
  dlerror();
  driver->library = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (driver->library == nullptr) {
    const char* why = dlerror();
    result.error = fmt::format("cannot load {}: {}", path, why != nullptr ? why : "unknown error");
    return result;
  }
  void* symbol = dlsym(driver->library, "DriverEntry");
  if (symbol == nullptr) {
    dlclose(driver->library);
    result.error = fmt::format("{} has no DriverEntry (it must be exported as extern \"C\")", driver->fileName);
    return result;
  }
  auto entry = reinterpret_cast<DriverEntryFn>(symbol);
  if (Dl_info info{}; dladdr(symbol, &info) != 0) driver->imageBase = info.dli_fbase;
  std::string fileName = driver->fileName;
  return start(std::move(driver), entry, fileName);
}

LoadResult DriverHost::load(DriverEntryFn entry, const std::string& name) {
  LoadResult result;
  result.name = name;
  if (entry == nullptr) {
    result.error = fmt::format("driver {} has no DriverEntry", name);
    return result;
  }
  if (std::any_of(drivers_.begin(), drivers_.end(), [&](const auto& d) { return d->name == name; })) {
    result.error = fmt::format("driver {} is already loaded", name);
    return result;
  }
  auto driver = std::make_unique<Driver>();
  driver->name = name;
  driver->fileName = name;
  return start(std::move(driver), entry, name);
}

LoadResult DriverHost::start(std::unique_ptr<Driver> driver, DriverEntryFn entry, const std::string& displayName) {
  LoadResult result;
  result.name = driver->name;
  driver->driverObject = km::createDriverObject(driver->name);
  {
    verifier::CurrentDriverScope scope(driver->name);
    result.status = km::callDriverEntry(entry, driver->driverObject);
  }
  if (!ntSuccess(result.status)) {
    result.error = fmt::format("DriverEntry of {} failed: {}", displayName, describeNtStatus(result.status));
    spdlog::debug("{}", result.error);  // the caller says it, once (S16.4)
    result.leaks = stop(*driver, /*callUnload=*/false);  // as on Windows: no DriverUnload after a failed DriverEntry
    return result;
  }
  spdlog::info("driver {} loaded", driver->name);
  result.ok = true;
  drivers_.push_back(std::move(driver));
  return result;
}

std::vector<Leak> DriverHost::stop(Driver& driver, bool callUnload) {
  if (callUnload) {
    verifier::CurrentDriverScope scope(driver.name);
    km::callDriverUnload(driver.driverObject);
  }
  // Work items queued before or during unload still run the driver's code: let them finish.
  km::waitForWorkItems(driver.driverObject);

  std::vector<Leak> leaks;
  auto& runtime = Runtime::current();
  // Timers still set and DPCs still queued would run the driver's code after its image is gone
  // (Windows: bugcheck 0xCE): cancelled and reported; a routine running now is waited for.
  const km::PendingRelease pending = km::cancelTimersAndDpcsOf(
      driver.name, [&](const void* p) { return ownedBy(driver.imageBase, driver.name, runtime, p); }, std::chrono::seconds(5));
  for (const auto& what : pending.leaks) reportLeak(verifier::Code::HandleLeak, driver.name, what, leaks);
  km::waitForWorkItems(driver.driverObject);  // a DPC that ran may have queued one
  for (const auto& a : runtime.pool().liveFor(driver.name)) {
    reportLeak(verifier::Code::PoolLeak, driver.name,
               fmt::format("pool allocation tag '{}' (0x{:08X}), {} bytes at {}", verifier::tagToString(a.tag), a.tag,
                           a.size, a.ptr),
               leaks);
    runtime.pool().free(a.ptr, 0);  // the driver is gone: nobody else can free it
  }
  for (const auto& h : runtime.redirectHandles().ownedBy(driver.name)) {
    reportLeak(verifier::Code::HandleLeak, driver.name,
               fmt::format("redirect handle 0x{:x} not destroyed (FwpsRedirectHandleDestroy0)", h.id), leaks);
    runtime.redirectHandles().destroy(h.id);
  }
  // Callouts the driver never unregistered would call into a library about to be unmapped: on
  // Windows a crash waiting to happen, here a reported leak, and the callout acts as
  // unregistered from now on (S3.4).
  for (const auto& f : runtime.engine().forceUnregisterOwnedBy(driver.name, std::chrono::seconds(5))) {
    reportLeak(verifier::Code::HandleLeak, driver.name,
               fmt::format("callout {} (id {}) still registered: FwpsCalloutUnregisterById0/ByKey0 not called{}",
                           f.key.str(), f.id,
                           f.stillRunning ? "; a classifyFn call still running after 5 s" : ""),
               leaks);
  }
  if (size_t n = runtime.engine().unreleasedHandles(driver.name, true); n > 0) {
    leaks.push_back({driver.name, fmt::format("{} classify handle(s) not released (FwpsReleaseClassifyHandle0)", n)});
  }
  // System threads the driver did not stop and wait for still run its code: reported, and the
  // library stays mapped (never dlclose'd) so they do not crash.
  const km::ThreadRelease threads = km::releaseSystemThreadsOf(driver.name);
  for (const auto& what : threads.leaks) reportLeak(verifier::Code::HandleLeak, driver.name, what, leaks);
  for (auto& what : km::releaseDriverResources(driver.driverObject)) {
    reportLeak(verifier::Code::HandleLeak, driver.name, what, leaks);
  }
  km::destroyDriverObject(driver.driverObject);
  driver.driverObject = nullptr;
  if (driver.library != nullptr && (threads.running > 0 || pending.stillRunning)) {
    spdlog::warn("driver {}: {} not unloaded from memory: {} system thread(s){} still running its code", driver.name,
                 driver.fileName, threads.running, pending.stillRunning ? " and a DPC routine" : "");
    driver.library = nullptr;  // deliberately left loaded
  } else if (driver.library != nullptr) {
    dlclose(driver.library);
    driver.library = nullptr;
  }
  if (callUnload) spdlog::info("driver {} unloaded ({} leak(s))", driver.name, leaks.size());
  return leaks;
}

std::vector<Leak> DriverHost::unload(const std::string& name) {
  auto it = std::find_if(drivers_.begin(), drivers_.end(), [&](const auto& d) { return d->name == name; });
  if (it == drivers_.end()) return {};
  std::unique_ptr<Driver> driver = std::move(*it);
  drivers_.erase(it);
  return stop(*driver, /*callUnload=*/true);
}

std::vector<Leak> DriverHost::unloadAll() {
  std::vector<Leak> all;
  while (!drivers_.empty()) {
    std::unique_ptr<Driver> driver = std::move(drivers_.back());
    drivers_.pop_back();
    for (auto& l : stop(*driver, /*callUnload=*/true)) all.push_back(std::move(l));
  }
  return all;
}

std::vector<std::string> DriverHost::loaded() const {
  std::vector<std::string> names;
  for (const auto& d : drivers_) names.push_back(d->name);
  return names;
}

struct _DRIVER_OBJECT* DriverHost::driverObject(const std::string& name) const {
  for (const auto& d : drivers_) {
    if (d->name == name) return static_cast<struct _DRIVER_OBJECT*>(d->driverObject);
  }
  return nullptr;
}

}  // namespace openwfp::host

// S11.2: drivers loaded through DriverHost (in-process and as shared objects); at unload, pool
// allocations still live are reported with tag and size, and so are redirect handles, device
// objects and work items the driver left behind; a failing DriverEntry is reported by status.
#include <ntddk.h>

#include <gtest/gtest.h>
#include <stdlib.h>

#include <string>
#include <vector>

#include "openwfp/host.h"
#include "openwfp/openwfp.h"
#include "redirect/handles.h"
#include "verifier/pool.h"
#include "verifier/verifier.h"

using openwfp::Runtime;
using openwfp::host::DriverHost;
using openwfp::verifier::Code;

namespace {

constexpr ULONG tag(const char (&s)[5]) {
  return (ULONG(UCHAR(s[0])) << 24) | (ULONG(UCHAR(s[1])) << 16) | (ULONG(UCHAR(s[2])) << 8) | ULONG(UCHAR(s[3]));
}

std::vector<std::string> gEvents;  // what the in-process test drivers did, in order
void* gKept = nullptr;

void NTAPI recordUnload(PDRIVER_OBJECT) { gEvents.push_back("unload:" + openwfp::verifier::currentDriver()); }

NTSTATUS NTAPI leakingEntry(PDRIVER_OBJECT driver, PUNICODE_STRING registryPath) {
  gEvents.push_back("entry:" + openwfp::verifier::currentDriver());
  EXPECT_NE(registryPath, nullptr);
  gKept = ExAllocatePool2(POOL_FLAG_NON_PAGED, 100, tag("kaeL"));  // never freed
  void* freed = ExAllocatePool2(POOL_FLAG_NON_PAGED, 64, tag("eerF"));
  ExFreePoolWithTag(freed, tag("eerF"));
  driver->DriverUnload = recordUnload;
  return STATUS_SUCCESS;
}

NTSTATUS NTAPI cleanEntry(PDRIVER_OBJECT driver, PUNICODE_STRING) {
  gEvents.push_back("entry:" + openwfp::verifier::currentDriver());
  driver->DriverUnload = recordUnload;
  return STATUS_SUCCESS;
}

NTSTATUS NTAPI failingEntry(PDRIVER_OBJECT driver, PUNICODE_STRING) {
  driver->DriverUnload = recordUnload;  // must not be called after a failed DriverEntry
  ExAllocatePool2(POOL_FLAG_NON_PAGED, 12, tag("liaF"));
  return STATUS_FWP_ALREADY_EXISTS;
}

NTSTATUS NTAPI unknownStatusEntry(PDRIVER_OBJECT, PUNICODE_STRING) { return static_cast<NTSTATUS>(0xC0DE0001); }

NTSTATUS NTAPI handleLeakingEntry(PDRIVER_OBJECT driver, PUNICODE_STRING) {
  // What FwpsRedirectHandleCreate0 records: the handle's owner is the current driver.
  Runtime::current().redirectHandles().create({}, openwfp::verifier::currentDriver());
  PDEVICE_OBJECT device = nullptr;
  EXPECT_EQ(IoCreateDevice(driver, 8, nullptr, FILE_DEVICE_NETWORK, 0, FALSE, &device), STATUS_SUCCESS);
  EXPECT_NE(IoAllocateWorkItem(device), nullptr);
  return STATUS_SUCCESS;  // and no DriverUnload at all
}

class DriverHostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Runtime::reset();
    gEvents.clear();
    gKept = nullptr;
  }
  void TearDown() override { Runtime::current().verifier().clear(); }  // expected leak reports
  openwfp::verifier::Verifier& verifier() { return Runtime::current().verifier(); }
};

std::string driverPath(const char* file) { return std::string(OPENWFP_BINARY_DIR "/tests/drivers/") + file; }

}  // namespace

TEST_F(DriverHostTest, S11_2_LiveAllocationsAtUnloadAreReportedWithTagAndSize) {
  DriverHost host;
  auto r = host.load(leakingEntry, "leaker");
  ASSERT_TRUE(r) << r.error;
  EXPECT_EQ(r.status, STATUS_SUCCESS);
  EXPECT_EQ(host.loaded(), std::vector<std::string>{"leaker"});
  ASSERT_NE(gKept, nullptr);

  auto leaks = host.unload("leaker");
  ASSERT_EQ(leaks.size(), 1u);
  EXPECT_EQ(leaks[0].driver, "leaker");
  EXPECT_NE(leaks[0].what.find("'Leak'"), std::string::npos) << leaks[0].what;
  EXPECT_NE(leaks[0].what.find("100 bytes"), std::string::npos) << leaks[0].what;
  EXPECT_EQ(leaks[0].what.find("Free"), std::string::npos);  // the freed allocation is not a leak

  ASSERT_EQ(verifier().count(Code::PoolLeak), 1u);
  auto v = verifier().violations().front();
  EXPECT_EQ(v.code, Code::PoolLeak);
  EXPECT_EQ(v.driver, "leaker");
  EXPECT_NE(v.message.find("'Leak'"), std::string::npos) << v.message;
  EXPECT_NE(v.message.find("100 bytes"), std::string::npos) << v.message;
  EXPECT_EQ(gEvents, (std::vector<std::string>{"entry:leaker", "unload:leaker"}));
  EXPECT_TRUE(Runtime::current().pool().liveFor("leaker").empty());  // released after the report
  EXPECT_TRUE(host.loaded().empty());
}

TEST_F(DriverHostTest, S11_2_CleanDriverReportsNothing) {
  DriverHost host;
  ASSERT_TRUE(host.load(cleanEntry, "clean"));
  EXPECT_TRUE(host.unloadAll().empty());
  EXPECT_TRUE(verifier().violations().empty());
}

TEST_F(DriverHostTest, S11_2_RedirectHandlesDevicesAndWorkItemsLeftAreReported) {
  DriverHost host;
  ASSERT_TRUE(host.load(handleLeakingEntry, "handles"));
  auto leaks = host.unloadAll();
  ASSERT_EQ(leaks.size(), 3u);
  EXPECT_EQ(verifier().count(Code::HandleLeak), 3u);
  std::string all;
  for (const auto& l : leaks) all += l.what + "\n";
  EXPECT_NE(all.find("redirect handle"), std::string::npos) << all;
  EXPECT_NE(all.find("IoDeleteDevice"), std::string::npos) << all;
  EXPECT_NE(all.find("IoFreeWorkItem"), std::string::npos) << all;
  EXPECT_TRUE(Runtime::current().redirectHandles().ownedBy("handles").empty());
}

TEST_F(DriverHostTest, S11_2_FailedDriverEntryNamesTheStatusAndSkipsUnload) {
  DriverHost host;
  auto r = host.load(failingEntry, "failer");
  EXPECT_FALSE(r);
  EXPECT_EQ(r.status, STATUS_FWP_ALREADY_EXISTS);
  EXPECT_EQ(r.error, "DriverEntry of failer failed: 0xC0220009 STATUS_FWP_ALREADY_EXISTS");
  ASSERT_EQ(r.leaks.size(), 1u);
  EXPECT_NE(r.leaks[0].what.find("'Fail'"), std::string::npos) << r.leaks[0].what;
  EXPECT_TRUE(gEvents.empty());  // no DriverUnload
  EXPECT_TRUE(host.loaded().empty());

  auto u = host.load(unknownStatusEntry, "odd");
  EXPECT_EQ(u.error, "DriverEntry of odd failed: 0xC0DE0001");
}

TEST_F(DriverHostTest, S11_2_UnloadAllRunsInReverseLoadOrder) {
  DriverHost host;
  ASSERT_TRUE(host.load(cleanEntry, "first"));
  ASSERT_TRUE(host.load(cleanEntry, "second"));
  auto dup = host.load(cleanEntry, "first");
  EXPECT_FALSE(dup);
  EXPECT_EQ(dup.error, "driver first is already loaded");
  ASSERT_NE(host.driverObject("second"), nullptr);
  host.unloadAll();
  EXPECT_EQ(gEvents, (std::vector<std::string>{"entry:first", "entry:second", "unload:second", "unload:first"}));
}

TEST_F(DriverHostTest, S11_2_DestructorUnloads) {
  {
    DriverHost host;
    ASSERT_TRUE(host.load(leakingEntry, "scoped"));
  }
  EXPECT_EQ(gEvents.back(), "unload:scoped");
  EXPECT_EQ(verifier().count(Code::PoolLeak), 1u);
}

TEST_F(DriverHostTest, S11_2_SharedObjectDriverLeakIsReportedAtUnload) {
  unsetenv("LEAKY_DRIVER_FAIL");
  DriverHost host;
  auto r = host.load(driverPath("libleaky_driver.so"));
  ASSERT_TRUE(r) << r.error;
  EXPECT_EQ(r.name, "libleaky_driver");
  auto leaks = host.unloadAll();
  ASSERT_EQ(leaks.size(), 1u);  // the device and work item were cleaned up by DriverUnload
  EXPECT_NE(leaks[0].what.find("'Leak'"), std::string::npos) << leaks[0].what;
  EXPECT_NE(leaks[0].what.find("100 bytes"), std::string::npos) << leaks[0].what;
  EXPECT_EQ(verifier().count(Code::PoolLeak), 1u);
  EXPECT_EQ(verifier().violations().size(), 1u);
}

TEST_F(DriverHostTest, S11_2_SharedObjectDriverEntryFailureIsNamed) {
  setenv("LEAKY_DRIVER_FAIL", "1", 1);
  DriverHost host;
  auto r = host.load(driverPath("libleaky_driver.so"));
  unsetenv("LEAKY_DRIVER_FAIL");
  EXPECT_FALSE(r);
  EXPECT_EQ(r.error, "DriverEntry of libleaky_driver.so failed: 0xC0220009 STATUS_FWP_ALREADY_EXISTS");
  ASSERT_EQ(r.leaks.size(), 1u);
  EXPECT_NE(r.leaks[0].what.find("'Leak'"), std::string::npos) << r.leaks[0].what;
  EXPECT_EQ(verifier().count(Code::PoolLeak), 1u);
  EXPECT_TRUE(host.loaded().empty());
}

TEST_F(DriverHostTest, S11_2_BadSharedObjectsAreRefusedClearly) {
  DriverHost host;
  auto missing = host.load(driverPath("does_not_exist.so"));
  EXPECT_FALSE(missing);
  EXPECT_EQ(missing.error.rfind("cannot load ", 0), 0u) << missing.error;
  auto noEntry = host.load(driverPath("libno_entry_driver.so"));
  EXPECT_FALSE(noEntry);
  EXPECT_EQ(noEntry.error.rfind("libno_entry_driver.so has no DriverEntry", 0), 0u) << noEntry.error;
  EXPECT_TRUE(host.loaded().empty());
}

// S11.2 and S3.4: a driver that is unloaded (or whose DriverEntry fails) without unregistering its
// callouts. On Windows its classifyFn would then point into unloaded code; openwfp reports the
// registration as a leak at unload, unregisters it, and from then on the callout acts as
// unregistered (a terminating callout filter blocks) instead of calling into the unmapped library.
#include <ntddk.h>

#include <atomic>
#include <string>

#include "openwfp/host.h"
#include "support/wfp_harness.h"

using namespace wfptest;
using openwfp::Action;
using openwfp::host::DriverHost;
using openwfp::verifier::Code;

namespace {

constexpr UINT32 kDst = 0x0A000001;
const GUID kForgotten = guid(0x51);  // the callout the drivers below never unregister
std::atomic<int> gClassifyCalls{0};
NTSTATUS gEntryStatus = STATUS_SUCCESS;

void NTAPI countingClassify(const FWPS_INCOMING_VALUES0*, const FWPS_INCOMING_METADATA_VALUES0*, void*,
                            const void*, const FWPS_FILTER3*, UINT64, FWPS_CLASSIFY_OUT0* out) {
  ++gClassifyCalls;
  out->actionType = FWP_ACTION_PERMIT;
}

NTSTATUS NTAPI notify(FWPS_CALLOUT_NOTIFY_TYPE, const GUID*, FWPS_FILTER3*) { return STATUS_SUCCESS; }

void NTAPI unloadThatForgets(PDRIVER_OBJECT driver) { IoDeleteDevice(driver->DeviceObject); }

// Registers kForgotten on its device and returns gEntryStatus; its DriverUnload deletes the
// device but never calls FwpsCalloutUnregister*.
NTSTATUS NTAPI forgetfulEntry(PDRIVER_OBJECT driver, PUNICODE_STRING) {
  PDEVICE_OBJECT device = nullptr;
  NTSTATUS st = IoCreateDevice(driver, 0, nullptr, FILE_DEVICE_NETWORK, 0, FALSE, &device);
  if (!NT_SUCCESS(st)) return st;
  FWPS_CALLOUT3 c{};
  c.calloutKey = kForgotten;
  c.classifyFn = countingClassify;
  c.notifyFn = notify;
  UINT32 id = 0;
  st = FwpsCalloutRegister3(device, &c, &id);
  if (!NT_SUCCESS(st)) return st;
  driver->DriverUnload = unloadThatForgets;
  if (!NT_SUCCESS(gEntryStatus)) IoDeleteDevice(device);  // the failure path forgets the callout too
  return gEntryStatus;
}

class CalloutsLeft : public Harness {
 protected:
  void SetUp() override {
    Harness::SetUp();
    gClassifyCalls = 0;
    gEntryStatus = STATUS_SUCCESS;
    addCallout(kForgotten, FWPM_LAYER_ALE_CONNECT_REDIRECT_V4);
    FilterBuilder b(FWPM_LAYER_ALE_CONNECT_REDIRECT_V4);
    b.callout(FWP_ACTION_CALLOUT_TERMINATING, kForgotten);
    addFilter(b);
  }
  // The HandleLeak reports of this test that name the forgotten callout.
  size_t leakReportsNamingTheCallout() {
    size_t n = 0;
    const GUID& g = kForgotten;
    const std::string key = openwfp::engine::Guid::fromParts(g.Data1, g.Data2, g.Data3,
                                                             {g.Data4[0], g.Data4[1], g.Data4[2], g.Data4[3],
                                                              g.Data4[4], g.Data4[5], g.Data4[6], g.Data4[7]})
                                .str();
    for (const auto& v : rt().verifier().violations()) {
      if (v.code == Code::HandleLeak && v.message.find(key) != std::string::npos &&
          v.message.find("FwpsCalloutUnregister") != std::string::npos) {
        ++n;
      }
    }
    return n;
  }
};

}  // namespace

TEST_F(CalloutsLeft, S11_2_CalloutLeftRegisteredAtUnloadIsReportedAndNeverCalledAgain) {
  DriverHost host;
  ASSERT_TRUE(host.load(forgetfulEntry, "forgetful").ok);
  EXPECT_EQ(connect(request(kDst, 80)).action, Action::Permit);
  EXPECT_EQ(gClassifyCalls.load(), 1) << "the driver's callout classifies while it is loaded";

  auto leaks = host.unload("forgetful");
  bool named = false;
  for (const auto& l : leaks) named = named || l.what.find("FwpsCalloutUnregister") != std::string::npos;
  EXPECT_TRUE(named) << "the unload report names the callout left registered";
  EXPECT_EQ(leakReportsNamingTheCallout(), 1u);
  EXPECT_EQ(take(Code::HandleLeak), 1u);

  // S3.4: a terminating callout filter whose callout is not registered blocks; classifyFn is not
  // called (with a .so driver it would no longer be mapped).
  EXPECT_EQ(connect(request(kDst, 80)).action, Action::Block);
  EXPECT_EQ(gClassifyCalls.load(), 1);
  EXPECT_EQ(FwpsCalloutUnregisterByKey0(&kForgotten), STATUS_FWP_CALLOUT_NOT_FOUND);
}

TEST_F(CalloutsLeft, S11_2_CalloutLeftRegisteredByFailedDriverEntryIsUnregistered) {
  gEntryStatus = STATUS_INSUFFICIENT_RESOURCES;
  DriverHost host;
  auto result = host.load(forgetfulEntry, "failing");
  ASSERT_FALSE(result.ok);
  EXPECT_NE(result.error.find("STATUS_INSUFFICIENT_RESOURCES"), std::string::npos) << result.error;
  EXPECT_EQ(leakReportsNamingTheCallout(), 1u);
  EXPECT_EQ(take(Code::HandleLeak), 1u);
  EXPECT_EQ(connect(request(kDst, 80)).action, Action::Block);
  EXPECT_EQ(gClassifyCalls.load(), 0);
  // The key is free again: a driver loaded later may register it.
  gEntryStatus = STATUS_SUCCESS;
  ASSERT_TRUE(host.load(forgetfulEntry, "second").ok);
  EXPECT_EQ(connect(request(kDst, 80)).action, Action::Permit);
  EXPECT_EQ(gClassifyCalls.load(), 1);
  host.unload("second");
  EXPECT_EQ(take(Code::HandleLeak), 1u);
}

TEST_F(CalloutsLeft, S11_2_CalloutsOfTheApplicationAreNotTouchedByADriversUnload) {
  // A callout registered outside any driver (owner "") stays registered when a driver unloads.
  const GUID mine = guid(0x52);
  registerCallout(mine, [](auto, auto, auto, auto, FWPS_CLASSIFY_OUT0* out) { out->actionType = FWP_ACTION_PERMIT; });
  {
    DriverHost host;
    ASSERT_TRUE(host.load(forgetfulEntry, "forgetful").ok);
  }  // the destructor unloads it
  EXPECT_EQ(take(Code::HandleLeak), 1u);
  EXPECT_EQ(FwpsCalloutUnregisterByKey0(&mine), STATUS_SUCCESS);
}

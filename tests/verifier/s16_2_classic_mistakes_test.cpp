// tests/verifier/s16_2_classic_mistakes_test.cpp - SPEC S16.2: the example of
// docs/testing-your-callout.md (tests/sim/sim_doc_example_test.cpp), written with its
// GoogleTest helper (openwfp/gtest_verifier.h), fails for each classic mistake a callout makes.
// The driver below is the example's, with one mistake switched in at a time (gMistake); the
// scenario is the example's: the application connects, the proxy accepts, reads the context and
// the records, connects upstream with them, the driver is unloaded. Each test proves the helper
// turns the mistake into a failure naming its violation, and that the mistake-free driver passes.

// ==== The example driver, with the mistakes it can make =====================================
#include <fwpmk.h>
#include <fwpsk.h>
#include <ntddk.h>

#include <initguid.h>

DEFINE_GUID(MISTAKE_CALLOUT_KEY, 0x6a0c3e11, 0x52d4, 0x4b8e, 0x9f, 0x31, 0x7d, 0x20, 0x5c, 0x13,
            0x88, 0x01);
DEFINE_GUID(MISTAKE_PROVIDER_KEY, 0x6a0c3e11, 0x52d4, 0x4b8e, 0x9f, 0x31, 0x7d, 0x20, 0x5c, 0x13,
            0x88, 0x02);

#define MISTAKE_TAG 0x6B73694Du /* 'Msik' */

enum class Mistake {
  None,
  FreeContextAfterApply,   // ExFreePoolWithTag(localRedirectContext) after Apply
  PendWithWriteRight,      // FwpsPendClassify0, then PERMIT with FWPS_RIGHT_ACTION_WRITE still set
  MisalignedRecordsBuffer, // FwpsQueryConnectionSioFormatRedirectRecords0 into a byte-offset buffer
  ClassifyHandleKept,      // FwpsReleaseClassifyHandle0 forgotten
  NoTargetPid,             // localRedirectTargetPID not set: the engine does not apply the redirect
};

static Mistake gMistake = Mistake::None;
static PDEVICE_OBJECT gDevice;
static HANDLE gEngine;
static HANDLE gRedirectHandle;
static UINT32 gCalloutId;
static UINT64 gPendedHandle;  // PendWithWriteRight: the classify the test completes
static bool gPendedOnce;
alignas(8) static unsigned char gRecordsCopy[1024 + 1];

static void NTAPI MistakeClassify(const FWPS_INCOMING_VALUES0* inFixedValues,
                                  const FWPS_INCOMING_METADATA_VALUES0* inMetaValues, void* layerData,
                                  const void* classifyContext, const FWPS_FILTER3* filter,
                                  UINT64 flowContext, FWPS_CLASSIFY_OUT0* classifyOut) {
  UINT64 classifyHandle = 0;
  FWPS_CONNECT_REQUEST0* request = NULL;
  SOCKADDR_STORAGE* original = NULL;
  SOCKADDR_IN* destination;
  FWPS_CONNECTION_REDIRECT_STATE state;
  UNREFERENCED_PARAMETER(inFixedValues);
  UNREFERENCED_PARAMETER(layerData);
  UNREFERENCED_PARAMETER(flowContext);

  if ((classifyOut->rights & FWPS_RIGHT_ACTION_WRITE) == 0) return;
  state = FwpsQueryConnectionRedirectState0(inMetaValues->redirectRecords, gRedirectHandle, NULL);
  if (state == FWPS_CONNECTION_REDIRECTED_BY_SELF ||
      state == FWPS_CONNECTION_PREVIOUSLY_REDIRECTED_BY_SELF) {
    if (gMistake == Mistake::MisalignedRecordsBuffer) {  // keeps a copy of the records, misaligned
      SIZE_T written = 0;
      FwpsQueryConnectionSioFormatRedirectRecords0(inMetaValues->redirectRecords, gRecordsCopy + 1,
                                                   sizeof(gRecordsCopy) - 1, &written);
    }
    classifyOut->actionType = FWP_ACTION_PERMIT;
    return;
  }
  if (!NT_SUCCESS(FwpsAcquireClassifyHandle0((void*)classifyContext, 0, &classifyHandle))) return;
  if (gMistake == Mistake::PendWithWriteRight && !gPendedOnce) {
    gPendedOnce = true;
    gPendedHandle = classifyHandle;
    FwpsPendClassify0(classifyHandle, filter->filterId, 0, classifyOut);
    classifyOut->actionType = FWP_ACTION_PERMIT;  // the mistake: not BLOCK, write right not cleared
    return;  // the test completes it (FwpsCompleteClassify0 re-authorizes) and releases the handle
  }
  if (NT_SUCCESS(FwpsAcquireWritableLayerDataPointer0(classifyHandle, filter->filterId, 0,
                                                      (PVOID*)&request, classifyOut))) {
    original = (SOCKADDR_STORAGE*)ExAllocatePool2(POOL_FLAG_NON_PAGED, sizeof(SOCKADDR_STORAGE),
                                                  MISTAKE_TAG);
    if (original != NULL) {
      RtlCopyMemory(original, &request->remoteAddressAndPort, sizeof(SOCKADDR_STORAGE));
      destination = (SOCKADDR_IN*)&request->remoteAddressAndPort;
      destination->sin_addr.s_addr = RtlUlongByteSwap(INADDR_LOOPBACK);
      destination->sin_port = RtlUshortByteSwap(8080);
      if (gMistake != Mistake::NoTargetPid) request->localRedirectTargetPID = 777;
      request->localRedirectHandle = gRedirectHandle;
      request->localRedirectContext = original;
      request->localRedirectContextSize = sizeof(SOCKADDR_STORAGE);
    }
    FwpsApplyModifiedLayerData0(classifyHandle, request, 0);
    if (gMistake == Mistake::FreeContextAfterApply && original != NULL)
      ExFreePoolWithTag(original, MISTAKE_TAG);  // the engine owns it now
    classifyOut->actionType = FWP_ACTION_PERMIT;
  }
  if (gMistake != Mistake::ClassifyHandleKept) FwpsReleaseClassifyHandle0(classifyHandle);
}

static NTSTATUS NTAPI MistakeNotify(FWPS_CALLOUT_NOTIFY_TYPE, const GUID*, FWPS_FILTER3*) {
  return STATUS_SUCCESS;
}

static void NTAPI MistakeUnload(PDRIVER_OBJECT) {
  if (gEngine) FwpmEngineClose0(gEngine);
  FwpsCalloutUnregisterById0(gCalloutId);
  FwpsRedirectHandleDestroy0(gRedirectHandle);
  IoDeleteDevice(gDevice);
  gEngine = NULL;
}

static NTSTATUS MistakeDriverEntry(PDRIVER_OBJECT driverObject, PUNICODE_STRING) {
  FWPS_CALLOUT3 sCallout;
  FWPM_CALLOUT0 mCallout;
  FWPM_FILTER0 filter;
  FWPM_FILTER_CONDITION0 conditions[1];
  NTSTATUS status = IoCreateDevice(driverObject, 0, NULL, FILE_DEVICE_NETWORK,
                                   FILE_DEVICE_SECURE_OPEN, FALSE, &gDevice);
  if (!NT_SUCCESS(status)) return status;
  driverObject->DriverUnload = MistakeUnload;
  status = FwpsRedirectHandleCreate0(&MISTAKE_PROVIDER_KEY, 0, &gRedirectHandle);
  if (!NT_SUCCESS(status)) return status;
  RtlZeroMemory(&sCallout, sizeof(sCallout));
  sCallout.calloutKey = MISTAKE_CALLOUT_KEY;
  sCallout.classifyFn = MistakeClassify;
  sCallout.notifyFn = MistakeNotify;
  status = FwpsCalloutRegister3(gDevice, &sCallout, &gCalloutId);
  if (!NT_SUCCESS(status)) return status;
  status = FwpmEngineOpen0(NULL, RPC_C_AUTHN_WINNT, NULL, NULL, &gEngine);
  if (!NT_SUCCESS(status)) return status;
  RtlZeroMemory(&mCallout, sizeof(mCallout));
  mCallout.calloutKey = MISTAKE_CALLOUT_KEY;
  mCallout.displayData.name = (wchar_t*)L"example connect redirect";
  mCallout.applicableLayer = FWPM_LAYER_ALE_CONNECT_REDIRECT_V4;
  status = FwpmCalloutAdd0(gEngine, &mCallout, NULL, NULL);
  if (!NT_SUCCESS(status)) return status;
  RtlZeroMemory(conditions, sizeof(conditions));
  conditions[0].fieldKey = FWPM_CONDITION_IP_REMOTE_PORT;
  conditions[0].matchType = FWP_MATCH_EQUAL;
  conditions[0].conditionValue.type = FWP_UINT16;
  conditions[0].conditionValue.uint16 = 80;
  RtlZeroMemory(&filter, sizeof(filter));
  filter.displayData.name = (wchar_t*)L"example: port 80 to the local proxy";
  filter.layerKey = FWPM_LAYER_ALE_CONNECT_REDIRECT_V4;
  filter.weight.type = FWP_EMPTY;
  filter.numFilterConditions = 1;
  filter.filterCondition = conditions;
  filter.action.type = FWP_ACTION_CALLOUT_TERMINATING;
  filter.action.calloutKey = MISTAKE_CALLOUT_KEY;
  return FwpmFilterAdd0(gEngine, &filter, NULL, NULL);
}

// ==== The example's scenario under the helper ===============================================
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "openwfp/gtest_verifier.h"
#include "openwfp/host.h"
#include "openwfp/openwfp.h"
#include "openwfp/sim.h"
#include "openwfp/winsock.h"

namespace {

using openwfp::Endpoint;
using openwfp::IpVersion;
using openwfp::Protocol;

size_t gCodeCount;  // violations of the expected code seen by the last scenario
std::string gScenarioError;

// The example test's steps, then its TearDown (unload, leaks, the helper's check).
void RunExampleTest(Mistake mistake, const char* expectedCode) {
  openwfp::Runtime::reset();
  gMistake = mistake;
  gPendedOnce = false;
  gPendedHandle = 0;
  gScenarioError.clear();
  {
    openwfp::host::DriverHost host;
    auto loaded = host.load(&MistakeDriverEntry, "example");
    if (!loaded) {
      gScenarioError = "load: " + loaded.error;
      return;
    }
    {
      openwfp::sim::Stack stack;
      auto& proxy = stack.process(777, "/usr/sbin/example-proxy", 0);
      const int listener = proxy.socket(IpVersion::V4, Protocol::Tcp);
      proxy.bind(listener, *Endpoint::parse("127.0.0.1:8080"));
      proxy.listen(listener);
      auto& origin = stack.remoteHost("192.0.2.80");
      const int originListener = origin.socket(IpVersion::V4, Protocol::Tcp);
      origin.bind(originListener, *Endpoint::parse("192.0.2.80:80"));
      origin.listen(originListener);

      auto& curl = stack.process(4242, "/usr/bin/curl", 1000);
      const int s = curl.socket(IpVersion::V4, Protocol::Tcp);
      openwfp::sim::PendingConnect pending = curl.connectAsync(s, *Endpoint::parse("192.0.2.80:80"));
      if (mistake == Mistake::PendWithWriteRight) {
        for (int i = 0; i < 500 && gPendedHandle == 0; ++i)
          std::this_thread::sleep_for(std::chrono::milliseconds(2));
        if (gPendedHandle == 0) {
          gScenarioError = "the callout did not pend within 1 s";
          return;
        }
        FwpsCompleteClassify0(gPendedHandle, 0, NULL);  // re-authorizes: the callout runs again
        FwpsReleaseClassifyHandle0(gPendedHandle);
      }
      auto r = pending.waitFor(std::chrono::seconds(5));
      if (!r) {
        gScenarioError = "connect did not finish within 5 s";
        return;
      }
      if (mistake != Mistake::NoTargetPid) {
        auto accepted = proxy.accept(listener, std::chrono::seconds(5));
        if (accepted.error == 0) {
          std::vector<unsigned char> records(1024);
          DWORD bytes = 0;
          WSAIoctl(accepted.fd, SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS, NULL, 0, records.data(),
                   static_cast<DWORD>(records.size()), &bytes, NULL, NULL);
          const int upstream = proxy.socket(IpVersion::V4, Protocol::Tcp);
          WSAIoctl(upstream, SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS, records.data(), bytes, NULL, 0,
                   &bytes, NULL, NULL);
          proxy.connect(upstream, *Endpoint::parse("192.0.2.80:80"));
        } else {
          gScenarioError = "the proxy accepted nothing";
        }
      }
    }
    host.unloadAll();
  }
  gCodeCount = openwfp::verify::violationCount(expectedCode);
  OPENWFP_EXPECT_NO_VIOLATIONS();  // the helper's check: what must fail the test
}

void FreeContextAfterApply() { RunExampleTest(Mistake::FreeContextAfterApply, "EngineOwnedContextFreed"); }
void PendWithWriteRight() { RunExampleTest(Mistake::PendWithWriteRight, "PendWithoutBlock"); }
void MisalignedRecordsBuffer() { RunExampleTest(Mistake::MisalignedRecordsBuffer, "MisalignedSioBuffer"); }
void ClassifyHandleKept() { RunExampleTest(Mistake::ClassifyHandleKept, "ClassifyHandleNotReleased"); }
void NoTargetPid() { RunExampleTest(Mistake::NoTargetPid, "RedirectNotApplied"); }

TEST(ClassicMistakes, S16_2_TheExampleWithoutMistakesPasses) {
  RunExampleTest(Mistake::None, "");
  EXPECT_EQ(gScenarioError, "");
  EXPECT_EQ(gCodeCount, 0u);
}

TEST(ClassicMistakes, S16_2_ContextFreedAfterApplyFailsTheTest) {
  EXPECT_NONFATAL_FAILURE(FreeContextAfterApply(), "EngineOwnedContextFreed [example]");
  EXPECT_EQ(gScenarioError, "");
  EXPECT_EQ(gCodeCount, 1u);
}

TEST(ClassicMistakes, S16_2_PendWithTheWriteRightSetFailsTheTest) {
  EXPECT_NONFATAL_FAILURE(PendWithWriteRight(), "with the write right still set");
  EXPECT_EQ(gScenarioError, "");
  EXPECT_EQ(gCodeCount, 1u);
}

TEST(ClassicMistakes, S16_2_MisalignedRecordsBufferFailsTheTest) {
  EXPECT_NONFATAL_FAILURE(MisalignedRecordsBuffer(), "MisalignedSioBuffer");
  EXPECT_EQ(gScenarioError, "");
  EXPECT_EQ(gCodeCount, 1u);
}

TEST(ClassicMistakes, S16_2_ClassifyHandleNotReleasedFailsTheTest) {
  EXPECT_NONFATAL_FAILURE(ClassifyHandleKept(), "FwpsReleaseClassifyHandle0");
  EXPECT_EQ(gScenarioError, "");
  EXPECT_GE(gCodeCount, 1u);
}

TEST(ClassicMistakes, S16_2_MissingTargetPidIsARedirectNotAppliedFinding) {
  EXPECT_NONFATAL_FAILURE(NoTargetPid(), "localRedirectTargetPID is not set");
  EXPECT_EQ(gScenarioError, "");
  EXPECT_EQ(gCodeCount, 1u);
}

// The C API reads the same findings.
TEST(ClassicMistakes, S16_2_TheCApiListsTheViolations) {
  openwfp::Runtime::reset();
  gMistake = Mistake::FreeContextAfterApply;
  {
    openwfp::host::DriverHost host;
    ASSERT_TRUE(host.load(&MistakeDriverEntry, "example"));
    openwfp::sim::Stack stack;
    auto& proxy = stack.process(777, "/usr/sbin/example-proxy", 0);
    const int listener = proxy.socket(IpVersion::V4, Protocol::Tcp);
    proxy.bind(listener, *Endpoint::parse("127.0.0.1:8080"));
    proxy.listen(listener);
    auto& curl = stack.process(4242, "/usr/bin/curl", 1000);
    curl.connect(curl.socket(IpVersion::V4, Protocol::Tcp), *Endpoint::parse("192.0.2.80:80"));
    host.unloadAll();
  }
  ASSERT_EQ(openwfp_verifier_count(), 1u);
  EXPECT_EQ(openwfp_verifier_count_code("EngineOwnedContextFreed"), 1u);
  EXPECT_EQ(openwfp_verifier_count_code("NoSuchCode"), 0u);
  openwfp_violation v{};
  ASSERT_EQ(openwfp_verifier_get(0, &v), 0);
  EXPECT_STREQ(v.code, "EngineOwnedContextFreed");
  EXPECT_STREQ(v.driver, "example");
  EXPECT_NE(std::string(v.message).find("ExFreePoolWithTag"), std::string::npos) << v.message;
  EXPECT_EQ(openwfp_verifier_get(1, &v), -1);
  openwfp_verifier_clear();
  EXPECT_EQ(openwfp_verifier_count(), 0u);
}

}  // namespace

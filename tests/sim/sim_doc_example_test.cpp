// tests/sim/sim_doc_example_test.cpp - the complete example of docs/testing-your-callout.md,
// compiled and run with the other tests so that the documentation stays true.
//
// Part 1 is a WFP connect-redirect callout driver written as for Windows (in a real project it
// is your driver's own .c file, compiled unchanged). Part 2 is the GoogleTest test: it loads the
// driver, connects from a simulated process, checks where the connection went, and queries the
// redirect records and context from the proxy's side, as a Windows proxy would with WSAIoctl.

// ==== Part 1: the driver under test ========================================================
// Only WDK headers here (they define the Windows socket values, so no Linux socket header may
// be included in this file).
#include <fwpmk.h>
#include <fwpsk.h>
#include <ntddk.h>

#include <initguid.h>  // from here on DEFINE_GUID defines: this file owns the driver's keys

DEFINE_GUID(EXAMPLE_CALLOUT_KEY, 0x3c1d7a52, 0x0b9e, 0x4f36, 0xa1, 0x7c, 0x52, 0x9e, 0x0d, 0x44,
            0x6b, 0x01);
DEFINE_GUID(EXAMPLE_PROVIDER_KEY, 0x3c1d7a52, 0x0b9e, 0x4f36, 0xa1, 0x7c, 0x52, 0x9e, 0x0d, 0x44,
            0x6b, 0x02);

#define EXAMPLE_TAG 0x6C707845u /* 'lpxE' (g++ < 13 cannot silence -Wmultichar) */

static PDEVICE_OBJECT gDevice;
static HANDLE gEngine;
static HANDLE gRedirectHandle;
static UINT32 gCalloutId;
static DWORD gProxyPid;       // who may query the records: the local proxy
static UINT16 gProxyPort;     // where the proxy listens on 127.0.0.1

// ALE_CONNECT_REDIRECT_V4: send every matching connection to the local proxy, with its original
// destination as the redirect context; leave the proxy's own connections alone.
static void NTAPI ExampleClassify(const FWPS_INCOMING_VALUES0* inFixedValues,
                                  const FWPS_INCOMING_METADATA_VALUES0* inMetaValues,
                                  void* layerData, const void* classifyContext,
                                  const FWPS_FILTER3* filter, UINT64 flowContext,
                                  FWPS_CLASSIFY_OUT0* classifyOut) {
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
    classifyOut->actionType = FWP_ACTION_PERMIT;  // the proxy's own outbound connection
    return;
  }
  if (!NT_SUCCESS(FwpsAcquireClassifyHandle0((void*)classifyContext, 0, &classifyHandle))) return;
  if (NT_SUCCESS(FwpsAcquireWritableLayerDataPointer0(classifyHandle, filter->filterId, 0,
                                                      (PVOID*)&request, classifyOut))) {
    original = (SOCKADDR_STORAGE*)ExAllocatePool2(POOL_FLAG_NON_PAGED, sizeof(SOCKADDR_STORAGE),
                                                  EXAMPLE_TAG);
    if (original != NULL) {
      RtlCopyMemory(original, &request->remoteAddressAndPort, sizeof(SOCKADDR_STORAGE));
      destination = (SOCKADDR_IN*)&request->remoteAddressAndPort;
      destination->sin_addr.s_addr = RtlUlongByteSwap(INADDR_LOOPBACK);
      destination->sin_port = RtlUshortByteSwap(gProxyPort);
      request->localRedirectTargetPID = gProxyPid;
      request->localRedirectHandle = gRedirectHandle;
      request->localRedirectContext = original;  // owned by the engine after Apply
      request->localRedirectContextSize = sizeof(SOCKADDR_STORAGE);
    }
    FwpsApplyModifiedLayerData0(classifyHandle, request, 0);
    classifyOut->actionType = FWP_ACTION_PERMIT;
  }
  FwpsReleaseClassifyHandle0(classifyHandle);
}

static NTSTATUS NTAPI ExampleNotify(FWPS_CALLOUT_NOTIFY_TYPE notifyType, const GUID* filterKey,
                                    FWPS_FILTER3* filter) {
  UNREFERENCED_PARAMETER(notifyType);
  UNREFERENCED_PARAMETER(filterKey);
  UNREFERENCED_PARAMETER(filter);
  return STATUS_SUCCESS;
}

static void NTAPI ExampleUnload(PDRIVER_OBJECT driverObject) {
  UNREFERENCED_PARAMETER(driverObject);
  if (gEngine) FwpmEngineClose0(gEngine);
  FwpsCalloutUnregisterById0(gCalloutId);
  FwpsRedirectHandleDestroy0(gRedirectHandle);
  IoDeleteDevice(gDevice);
  gEngine = NULL;
}

// DriverEntry: device, redirect handle, callout, and a filter for TCP connects to port 80.
static NTSTATUS ExampleDriverEntry(PDRIVER_OBJECT driverObject, PUNICODE_STRING registryPath) {
  FWPS_CALLOUT3 sCallout;
  FWPM_CALLOUT0 mCallout;
  FWPM_FILTER0 filter;
  FWPM_FILTER_CONDITION0 conditions[2];
  NTSTATUS status;
  UNREFERENCED_PARAMETER(registryPath);

  status = IoCreateDevice(driverObject, 0, NULL, FILE_DEVICE_NETWORK, FILE_DEVICE_SECURE_OPEN,
                          FALSE, &gDevice);
  if (!NT_SUCCESS(status)) return status;
  driverObject->DriverUnload = ExampleUnload;
  status = FwpsRedirectHandleCreate0(&EXAMPLE_PROVIDER_KEY, 0, &gRedirectHandle);
  if (!NT_SUCCESS(status)) return status;

  RtlZeroMemory(&sCallout, sizeof(sCallout));
  sCallout.calloutKey = EXAMPLE_CALLOUT_KEY;
  sCallout.classifyFn = ExampleClassify;
  sCallout.notifyFn = ExampleNotify;
  status = FwpsCalloutRegister3(gDevice, &sCallout, &gCalloutId);
  if (!NT_SUCCESS(status)) return status;

  status = FwpmEngineOpen0(NULL, RPC_C_AUTHN_WINNT, NULL, NULL, &gEngine);
  if (!NT_SUCCESS(status)) return status;
  RtlZeroMemory(&mCallout, sizeof(mCallout));
  mCallout.calloutKey = EXAMPLE_CALLOUT_KEY;
  mCallout.displayData.name = (wchar_t*)L"example connect redirect";
  mCallout.applicableLayer = FWPM_LAYER_ALE_CONNECT_REDIRECT_V4;
  status = FwpmCalloutAdd0(gEngine, &mCallout, NULL, NULL);
  if (!NT_SUCCESS(status)) return status;

  RtlZeroMemory(conditions, sizeof(conditions));
  conditions[0].fieldKey = FWPM_CONDITION_IP_PROTOCOL;
  conditions[0].matchType = FWP_MATCH_EQUAL;
  conditions[0].conditionValue.type = FWP_UINT8;
  conditions[0].conditionValue.uint8 = IPPROTO_TCP;
  conditions[1].fieldKey = FWPM_CONDITION_IP_REMOTE_PORT;
  conditions[1].matchType = FWP_MATCH_EQUAL;
  conditions[1].conditionValue.type = FWP_UINT16;
  conditions[1].conditionValue.uint16 = 80;
  RtlZeroMemory(&filter, sizeof(filter));
  filter.displayData.name = (wchar_t*)L"example: TCP port 80 to the local proxy";
  filter.layerKey = FWPM_LAYER_ALE_CONNECT_REDIRECT_V4;
  filter.weight.type = FWP_EMPTY;
  filter.numFilterConditions = 2;
  filter.filterCondition = conditions;
  filter.action.type = FWP_ACTION_CALLOUT_TERMINATING;
  filter.action.calloutKey = EXAMPLE_CALLOUT_KEY;
  return FwpmFilterAdd0(gEngine, &filter, NULL, NULL);
}

// ==== Part 2: the test =====================================================================
#include <gtest/gtest.h>

#include <vector>

#include "openwfp/gtest_verifier.h"  // VerifiedTest: the test fails on any verifier violation
#include "openwfp/host.h"     // DriverHost: DriverEntry / DriverUnload + leak report
#include "openwfp/openwfp.h"  // Runtime
#include "openwfp/sim.h"      // the simulated stack
#include "openwfp/winsock.h"  // WSAIoctl for the proxy side (after the WDK headers)

namespace {

using openwfp::Endpoint;
using openwfp::IpVersion;
using openwfp::Protocol;

class ExampleDriverTest : public openwfp::verify::VerifiedTest {
 protected:
  void SetUp() override {
    VerifiedTest::SetUp();  // a fresh engine (Runtime::reset(), verifier on) for every test
    gProxyPid = 777;
    gProxyPort = 8080;
    auto loaded = host.load(&ExampleDriverEntry, "example");
    ASSERT_TRUE(loaded) << loaded.error;
  }
  void TearDown() override {
    // Unload and fail on anything the driver left behind (pool, handles, devices).
    const auto leaks = host.unloadAll();
    for (const auto& leak : leaks) ADD_FAILURE() << leak.what;
    // Fail on every verifier violation of the test, unload included: a freed engine-owned
    // context, a pend with the write right set, a misaligned records buffer, a classify handle
    // never released, a redirect not applied (no localRedirectTargetPID), ...
    VerifiedTest::TearDown();
  }

  openwfp::host::DriverHost host;
};

TEST_F(ExampleDriverTest, S10_4_DocExampleRedirectsToTheProxyAndTheProxyReadsTheRecords) {
  openwfp::sim::Stack stack;  // classifies with the runtime's engine: the driver's callout runs

  // The local proxy (pid 777) listens on 127.0.0.1:8080.
  auto& proxy = stack.process(777, "/usr/sbin/example-proxy", 0);
  const int listener = proxy.socket(IpVersion::V4, Protocol::Tcp);
  ASSERT_EQ(proxy.bind(listener, *Endpoint::parse("127.0.0.1:8080")), 0);
  ASSERT_EQ(proxy.listen(listener), 0);

  // The server at the original destination, on a simulated remote host.
  auto& origin = stack.remoteHost("192.0.2.80");
  const int originListener = origin.socket(IpVersion::V4, Protocol::Tcp);
  ASSERT_EQ(origin.bind(originListener, *Endpoint::parse("192.0.2.80:80")), 0);
  ASSERT_EQ(origin.listen(originListener), 0);

  // An application connects to the original destination ...
  auto& curl = stack.process(4242, "/usr/bin/curl", 1000);
  const int s = curl.socket(IpVersion::V4, Protocol::Tcp);
  const openwfp::sim::ConnectResult r = curl.connect(s, *Endpoint::parse("192.0.2.80:80"));
  ASSERT_EQ(r.error, 0) << r.reason;
  // ... and the callout sent it to the proxy.
  EXPECT_TRUE(r.redirected);
  EXPECT_EQ(r.remote.str(), "127.0.0.1:8080");

  // The proxy accepts and asks where the connection was going (the context the callout set).
  const openwfp::sim::AcceptResult accepted = proxy.accept(listener);
  ASSERT_EQ(accepted.error, 0);
  SOCKADDR_STORAGE original;
  DWORD bytes = 0;
  ASSERT_EQ(WSAIoctl(accepted.fd, SIO_QUERY_WFP_CONNECTION_REDIRECT_CONTEXT, NULL, 0, &original,
                     sizeof(original), &bytes, NULL, NULL),
            0)
      << WSAGetLastError();
  ASSERT_EQ(bytes, sizeof(SOCKADDR_STORAGE));
  const SOCKADDR_IN* in = reinterpret_cast<const SOCKADDR_IN*>(&original);
  EXPECT_EQ(in->sin_family, AF_INET);
  EXPECT_EQ(RtlUshortByteSwap(in->sin_port), 80);

  // The redirect records: size probe, then the real call.
  ASSERT_EQ(WSAIoctl(accepted.fd, SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS, NULL, 0, NULL, 0,
                     &bytes, NULL, NULL),
            SOCKET_ERROR);
  ASSERT_EQ(WSAGetLastError(), ERROR_INSUFFICIENT_BUFFER);
  std::vector<unsigned char> records(bytes);
  ASSERT_EQ(WSAIoctl(accepted.fd, SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS, NULL, 0,
                     records.data(), static_cast<DWORD>(records.size()), &bytes, NULL, NULL),
            0);

  // The proxy's own connection to the original destination carries the records, so the callout
  // sees REDIRECTED_BY_SELF and lets it through: no redirect loop.
  const int upstream = proxy.socket(IpVersion::V4, Protocol::Tcp);
  ASSERT_EQ(WSAIoctl(upstream, SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS, records.data(),
                     static_cast<DWORD>(records.size()), NULL, 0, &bytes, NULL, NULL),
            0);
  const openwfp::sim::ConnectResult up = proxy.connect(upstream, *Endpoint::parse("192.0.2.80:80"));
  ASSERT_EQ(up.error, 0) << up.reason;
  EXPECT_FALSE(up.redirected);
  EXPECT_EQ(up.remote.str(), "192.0.2.80:80");
  EXPECT_EQ(origin.accept(originListener).error, 0);

  // Bytes flow through the proxy like through real sockets.
  ASSERT_EQ(curl.send(s, "GET / HTTP/1.1\r\n\r\n").error, 0);
  std::string request;
  ASSERT_EQ(proxy.recv(accepted.fd, request).error, 0);
  EXPECT_EQ(request, "GET / HTTP/1.1\r\n\r\n");

  // Another process may not read the records (SPEC S12.1): the application's own socket.
  EXPECT_EQ(WSAIoctl(s, SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS, NULL, 0, records.data(),
                     static_cast<DWORD>(records.size()), &bytes, NULL, NULL),
            SOCKET_ERROR);
  EXPECT_EQ(WSAGetLastError(), WSAEACCES);
}

TEST_F(ExampleDriverTest, S10_4_DocExampleLeavesOtherPortsAlone) {
  openwfp::sim::Stack stack;
  auto& server = stack.process(10, "/usr/sbin/sshd", 0);
  const int l = server.socket(IpVersion::V4, Protocol::Tcp);
  ASSERT_EQ(server.bind(l, *Endpoint::parse("127.0.0.1:22")), 0);
  ASSERT_EQ(server.listen(l), 0);
  auto& ssh = stack.process(11, "/usr/bin/ssh", 1000);
  const int s = ssh.socket(IpVersion::V4, Protocol::Tcp);
  const openwfp::sim::ConnectResult r = ssh.connect(s, *Endpoint::parse("127.0.0.1:22"));
  ASSERT_EQ(r.error, 0);
  EXPECT_FALSE(r.redirected);
  EXPECT_EQ(r.remote.str(), "127.0.0.1:22");
}

}  // namespace

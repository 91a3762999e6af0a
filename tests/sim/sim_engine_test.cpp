// The simulated stack driven by the real engine (Runtime::current().classifier()) and an
// in-test callout driver written against the WDK API: what the callout sees of a sim process,
// synchronous and pended classifies, bind redirect, the verify-before-accept records flow
// (S8.8), the proxy connection flag of SIO_SET (S9.4), engine-owned contexts (S5.6).
//
// This file includes the WDK-named headers, so no Linux socket header.
#include <fwpmk.h>
#include <fwpsk.h>
#include <ntddk.h>

#include <initguid.h>

DEFINE_GUID(SIMTEST_CONNECT_CALLOUT_KEY, 0x8a2f4c10, 0x6d3b, 0x4e21, 0x9b, 0x55, 0x1c, 0x7e, 0x20,
            0x3a, 0x4d, 0x01);
DEFINE_GUID(SIMTEST_BIND_CALLOUT_KEY, 0x8a2f4c10, 0x6d3b, 0x4e21, 0x9b, 0x55, 0x1c, 0x7e, 0x20,
            0x3a, 0x4d, 0x02);
DEFINE_GUID(SIMTEST_PROVIDER_KEY, 0x8a2f4c10, 0x6d3b, 0x4e21, 0x9b, 0x55, 0x1c, 0x7e, 0x20, 0x3a,
            0x4d, 0x03);

#include <gtest/gtest.h>

#include <atomic>
#include <cwchar>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "openwfp/host.h"
#include "openwfp/openwfp.h"
#include "openwfp/sim.h"
#include "openwfp/winsock.h"
#include "verifier/pool.h"
#include "verifier/verifier.h"

using namespace std::chrono_literals;
using openwfp::Endpoint;
using openwfp::IpVersion;
using openwfp::Protocol;
namespace sim = openwfp::sim;

namespace {

constexpr ULONG kTag = 0x74536957u;  // 'tSiW'

// ---- the in-test driver ---------------------------------------------------------------------

enum class Mode { Permit, Redirect, Pend, PendRedirect };

// What one connect classify saw.
struct Seen {
  UINT64 processId = 0;
  std::wstring processPath;
  UINT32 flags = 0;
  UINT16 localPort = 0;
  UINT16 remotePort = 0;
  UINT8 protocol = 0;
  FWPS_CONNECTION_REDIRECT_STATE state = FWPS_CONNECTION_NOT_REDIRECTED;
  std::thread::id thread;
};

struct Pended {
  UINT64 classifyHandle = 0;
  std::vector<unsigned char> records;  // PendRedirect: the connection's records
};

struct Driver {
  std::mutex mu;  // guards seen, pended
  std::vector<Seen> seen;
  std::vector<Pended> pended;
  std::atomic<Mode> mode{Mode::Permit};
  DWORD proxyPid = 777;
  UINT16 proxyPort = 8080;
  void* lastContext = nullptr;
  PDEVICE_OBJECT device = nullptr;
  HANDLE engine = nullptr;
  HANDLE redirectHandle = nullptr;
  UINT32 connectId = 0;
  UINT32 bindId = 0;
};
Driver* gDriver = nullptr;

// Redirects request to 127.0.0.1:proxyPort for proxyPid, with the original destination (a
// SOCKADDR_STORAGE from the pool) as context.
void redirectToProxy(FWPS_CONNECT_REQUEST0* request) {
  auto* original = static_cast<SOCKADDR_STORAGE*>(
      ExAllocatePool2(POOL_FLAG_NON_PAGED, sizeof(SOCKADDR_STORAGE), kTag));
  if (original != nullptr) {
    RtlCopyMemory(original, &request->remoteAddressAndPort, sizeof(SOCKADDR_STORAGE));
  }
  auto* destination = reinterpret_cast<SOCKADDR_IN*>(&request->remoteAddressAndPort);
  destination->sin_addr.s_addr = RtlUlongByteSwap(INADDR_LOOPBACK);
  destination->sin_port = RtlUshortByteSwap(gDriver->proxyPort);
  request->localRedirectTargetPID = gDriver->proxyPid;
  request->localRedirectHandle = gDriver->redirectHandle;
  request->localRedirectContext = original;
  request->localRedirectContextSize = original != nullptr ? sizeof(SOCKADDR_STORAGE) : 0;
  gDriver->lastContext = original;
}

void NTAPI ConnectClassify(const FWPS_INCOMING_VALUES0* inFixedValues,
                           const FWPS_INCOMING_METADATA_VALUES0* inMetaValues, void* layerData,
                           const void* classifyContext, const FWPS_FILTER3* filter,
                           UINT64 flowContext, FWPS_CLASSIFY_OUT0* classifyOut) {
  UNREFERENCED_PARAMETER(layerData);
  UNREFERENCED_PARAMETER(flowContext);
  Seen s;
  s.thread = std::this_thread::get_id();
  if (FWPS_IS_METADATA_FIELD_PRESENT(inMetaValues, FWPS_METADATA_FIELD_PROCESS_ID)) {
    s.processId = inMetaValues->processId;
  }
  if (FWPS_IS_METADATA_FIELD_PRESENT(inMetaValues, FWPS_METADATA_FIELD_PROCESS_PATH) &&
      inMetaValues->processPath != nullptr) {
    s.processPath = reinterpret_cast<const wchar_t*>(inMetaValues->processPath->data);
  }
  const FWPS_INCOMING_VALUE0* v = inFixedValues->incomingValue;
  s.flags = v[FWPS_FIELD_ALE_CONNECT_REDIRECT_V4_FLAGS].value.uint32;
  s.localPort = v[FWPS_FIELD_ALE_CONNECT_REDIRECT_V4_IP_LOCAL_PORT].value.uint16;
  s.remotePort = v[FWPS_FIELD_ALE_CONNECT_REDIRECT_V4_IP_REMOTE_PORT].value.uint16;
  s.protocol = v[FWPS_FIELD_ALE_CONNECT_REDIRECT_V4_IP_PROTOCOL].value.uint8;
  s.state = FwpsQueryConnectionRedirectState0(inMetaValues->redirectRecords,
                                              gDriver->redirectHandle, nullptr);
  {
    std::lock_guard lock(gDriver->mu);
    gDriver->seen.push_back(s);
  }
  const Mode mode = gDriver->mode.load();
  if ((classifyOut->rights & FWPS_RIGHT_ACTION_WRITE) == 0) return;
  if (mode == Mode::Permit || s.state == FWPS_CONNECTION_REDIRECTED_BY_SELF ||
      s.state == FWPS_CONNECTION_PREVIOUSLY_REDIRECTED_BY_SELF) {
    classifyOut->actionType = FWP_ACTION_PERMIT;
    return;
  }
  UINT64 handle = 0;
  FWPS_CONNECT_REQUEST0* request = nullptr;
  if (!NT_SUCCESS(FwpsAcquireClassifyHandle0(const_cast<void*>(classifyContext), 0, &handle))) {
    return;
  }
  if (!NT_SUCCESS(FwpsAcquireWritableLayerDataPointer0(handle, filter->filterId, 0,
                                                       reinterpret_cast<PVOID*>(&request),
                                                       classifyOut))) {
    FwpsReleaseClassifyHandle0(handle);
    return;
  }
  if (mode == Mode::Redirect) {
    redirectToProxy(request);
    FwpsApplyModifiedLayerData0(handle, request, 0);
    FwpsReleaseClassifyHandle0(handle);
    classifyOut->actionType = FWP_ACTION_PERMIT;
    return;
  }
  // Pend (and maybe redirect): the test completes the classify later from its own thread.
  if (!NT_SUCCESS(FwpsPendClassify0(handle, filter->filterId, 0, classifyOut))) {
    FwpsApplyModifiedLayerData0(handle, request, 0);
    FwpsReleaseClassifyHandle0(handle);
    return;
  }
  Pended p;
  p.classifyHandle = handle;
  if (mode == Mode::PendRedirect) redirectToProxy(request);
  FwpsApplyModifiedLayerData0(handle, request, 0);
  if (mode == Mode::PendRedirect) {
    SIZE_T need = 0;
    FwpsQueryConnectionSioFormatRedirectRecords0(inMetaValues->redirectRecords, nullptr, 0, &need);
    p.records.resize(need);
    SIZE_T got = 0;
    // A std::vector buffer is suitably aligned for the records (S8.4).
    FwpsQueryConnectionSioFormatRedirectRecords0(inMetaValues->redirectRecords, p.records.data(),
                                                 p.records.size(), &got);
    p.records.resize(got);
  }
  {
    std::lock_guard lock(gDriver->mu);
    gDriver->pended.push_back(std::move(p));
  }
  classifyOut->actionType = FWP_ACTION_BLOCK;
  classifyOut->rights &= ~FWPS_RIGHT_ACTION_WRITE;
  classifyOut->flags |= FWPS_CLASSIFY_OUT_FLAG_ABSORB;
}

// ALE_BIND_REDIRECT_V4: a bind to port 5000 is moved to 127.0.0.1:5001.
void NTAPI BindClassify(const FWPS_INCOMING_VALUES0* inFixedValues,
                        const FWPS_INCOMING_METADATA_VALUES0* inMetaValues, void* layerData,
                        const void* classifyContext, const FWPS_FILTER3* filter,
                        UINT64 flowContext, FWPS_CLASSIFY_OUT0* classifyOut) {
  UNREFERENCED_PARAMETER(inFixedValues);
  UNREFERENCED_PARAMETER(inMetaValues);
  UNREFERENCED_PARAMETER(layerData);
  UNREFERENCED_PARAMETER(flowContext);
  if ((classifyOut->rights & FWPS_RIGHT_ACTION_WRITE) == 0) return;
  UINT64 handle = 0;
  FWPS_BIND_REQUEST0* request = nullptr;
  if (!NT_SUCCESS(FwpsAcquireClassifyHandle0(const_cast<void*>(classifyContext), 0, &handle))) {
    return;
  }
  if (NT_SUCCESS(FwpsAcquireWritableLayerDataPointer0(handle, filter->filterId, 0,
                                                      reinterpret_cast<PVOID*>(&request),
                                                      classifyOut))) {
    auto* local = reinterpret_cast<SOCKADDR_IN*>(&request->localAddressAndPort);
    local->sin_addr.s_addr = RtlUlongByteSwap(INADDR_LOOPBACK);
    local->sin_port = RtlUshortByteSwap(5001);
    FwpsApplyModifiedLayerData0(handle, request, 0);
    classifyOut->actionType = FWP_ACTION_PERMIT;
  }
  FwpsReleaseClassifyHandle0(handle);
}

NTSTATUS NTAPI Notify(FWPS_CALLOUT_NOTIFY_TYPE, const GUID*, FWPS_FILTER3*) {
  return STATUS_SUCCESS;
}

void NTAPI Unload(PDRIVER_OBJECT) {
  FwpmEngineClose0(gDriver->engine);
  FwpsCalloutUnregisterById0(gDriver->connectId);
  FwpsCalloutUnregisterById0(gDriver->bindId);
  FwpsRedirectHandleDestroy0(gDriver->redirectHandle);
  IoDeleteDevice(gDriver->device);
}

NTSTATUS addCalloutAndFilter(const GUID& key, FWPS_CALLOUT_CLASSIFY_FN3 fn, const GUID& layer,
                             FWPM_FILTER_CONDITION0* condition, UINT32* id) {
  FWPS_CALLOUT3 s;
  RtlZeroMemory(&s, sizeof s);
  s.calloutKey = key;
  s.classifyFn = fn;
  s.notifyFn = Notify;
  NTSTATUS status = FwpsCalloutRegister3(gDriver->device, &s, id);
  if (!NT_SUCCESS(status)) return status;
  FWPM_CALLOUT0 m;
  RtlZeroMemory(&m, sizeof m);
  m.calloutKey = key;
  m.displayData.name = const_cast<wchar_t*>(L"sim engine test callout");
  m.applicableLayer = layer;
  status = FwpmCalloutAdd0(gDriver->engine, &m, nullptr, nullptr);
  if (!NT_SUCCESS(status)) return status;
  FWPM_FILTER0 f;
  RtlZeroMemory(&f, sizeof f);
  f.displayData.name = const_cast<wchar_t*>(L"sim engine test filter");
  f.layerKey = layer;
  f.weight.type = FWP_EMPTY;
  f.numFilterConditions = 1;
  f.filterCondition = condition;
  f.action.type = FWP_ACTION_CALLOUT_TERMINATING;
  f.action.calloutKey = key;
  return FwpmFilterAdd0(gDriver->engine, &f, nullptr, nullptr);
}

NTSTATUS DriverEntryForTest(PDRIVER_OBJECT driverObject, PUNICODE_STRING) {
  NTSTATUS status = IoCreateDevice(driverObject, 0, nullptr, FILE_DEVICE_NETWORK,
                                   FILE_DEVICE_SECURE_OPEN, FALSE, &gDriver->device);
  if (!NT_SUCCESS(status)) return status;
  driverObject->DriverUnload = Unload;
  status = FwpsRedirectHandleCreate0(&SIMTEST_PROVIDER_KEY, 0, &gDriver->redirectHandle);
  if (!NT_SUCCESS(status)) return status;
  status = FwpmEngineOpen0(nullptr, RPC_C_AUTHN_WINNT, nullptr, nullptr, &gDriver->engine);
  if (!NT_SUCCESS(status)) return status;
  // Connects: TCP and UDP to any port but 22 (left alone so tests can reach an unfiltered
  // listener). Binds: to port 5000.
  FWPM_FILTER_CONDITION0 notSsh;
  RtlZeroMemory(&notSsh, sizeof notSsh);
  notSsh.fieldKey = FWPM_CONDITION_IP_REMOTE_PORT;
  notSsh.matchType = FWP_MATCH_NOT_EQUAL;
  notSsh.conditionValue.type = FWP_UINT16;
  notSsh.conditionValue.uint16 = 22;
  status = addCalloutAndFilter(SIMTEST_CONNECT_CALLOUT_KEY, ConnectClassify,
                               FWPM_LAYER_ALE_CONNECT_REDIRECT_V4, &notSsh, &gDriver->connectId);
  if (!NT_SUCCESS(status)) return status;
  FWPM_FILTER_CONDITION0 port5000;
  RtlZeroMemory(&port5000, sizeof port5000);
  port5000.fieldKey = FWPM_CONDITION_IP_LOCAL_PORT;
  port5000.matchType = FWP_MATCH_EQUAL;
  port5000.conditionValue.type = FWP_UINT16;
  port5000.conditionValue.uint16 = 5000;
  return addCalloutAndFilter(SIMTEST_BIND_CALLOUT_KEY, BindClassify,
                             FWPM_LAYER_ALE_BIND_REDIRECT_V4, &port5000, &gDriver->bindId);
}

// ---- the tests ------------------------------------------------------------------------------

class SimEngine : public ::testing::Test {
 protected:
  virtual openwfp::RuntimeOptions options() { return {}; }
  void SetUp() override {
    openwfp::Runtime::reset(options());
    gDriver = &driver;
    auto loaded = host->load(&DriverEntryForTest, "simtest");
    ASSERT_TRUE(loaded) << loaded.error;
    stack = std::make_unique<sim::Stack>();  // the runtime's engine classifies
    listener = proxy().socket(IpVersion::V4, Protocol::Tcp);
    ASSERT_EQ(proxy().bind(listener, ep("127.0.0.1:8080")), 0);
    ASSERT_EQ(proxy().listen(listener), 0);
    originListener = origin().socket(IpVersion::V4, Protocol::Tcp);
    ASSERT_EQ(origin().bind(originListener, ep("192.0.2.80:80")), 0);
    ASSERT_EQ(origin().listen(originListener), 0);
  }
  void TearDown() override {
    completeAll(FWP_ACTION_BLOCK);
    stack.reset();
    for (const auto& leak : host->unloadAll()) ADD_FAILURE() << leak.what;
    host.reset();
    for (const auto& v : openwfp::Runtime::current().verifier().violations()) {
      ADD_FAILURE() << "verifier: " << v.message;
    }
    gDriver = nullptr;
  }

  static Endpoint ep(const char* text) { return *Endpoint::parse(text); }
  sim::Process& app() { return stack->process(4242, "/usr/bin/curl", 1000); }
  sim::Process& proxy() { return stack->process(777, "/usr/sbin/proxy", 0); }
  sim::Process& origin() { return stack->remoteHost("192.0.2.80"); }

  std::vector<Seen> seen() {
    std::lock_guard lock(driver.mu);
    return driver.seen;
  }
  bool waitPended(size_t n) {
    for (int i = 0; i < 2000; ++i) {
      {
        std::lock_guard lock(driver.mu);
        if (driver.pended.size() >= n) return true;
      }
      std::this_thread::sleep_for(5ms);
    }
    return false;
  }
  Pended takePended() {
    std::lock_guard lock(driver.mu);
    Pended p = std::move(driver.pended.front());
    driver.pended.erase(driver.pended.begin());
    return p;
  }
  // Completes a pended classify as the driver would (order: Complete, then Release).
  static void complete(const Pended& p, FWP_ACTION_TYPE action) {
    FWPS_CLASSIFY_OUT0 out;
    RtlZeroMemory(&out, sizeof out);
    out.actionType = action;
    out.rights = FWPS_RIGHT_ACTION_WRITE;
    if (action == FWP_ACTION_BLOCK) out.rights = 0;
    FwpsCompleteClassify0(p.classifyHandle, 0, &out);
    FwpsReleaseClassifyHandle0(p.classifyHandle);
  }
  void completeAll(FWP_ACTION_TYPE action) {
    while (true) {
      {
        std::lock_guard lock(driver.mu);
        if (driver.pended.empty()) return;
      }
      complete(takePended(), action);
    }
  }

  Driver driver;
  std::unique_ptr<openwfp::host::DriverHost> host = std::make_unique<openwfp::host::DriverHost>();
  std::unique_ptr<sim::Stack> stack;
  int listener = -1;
  int originListener = -1;
};

TEST_F(SimEngine, S4_1_CalloutSeesTheSimProcessAndTuple) {
  const int s = app().socket(IpVersion::V4, Protocol::Tcp);
  ASSERT_TRUE(app().connect(s, ep("192.0.2.80:80")).ok());
  const auto all = seen();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].processId, 4242u);
  EXPECT_EQ(all[0].processPath, L"/usr/bin/curl");
  EXPECT_EQ(all[0].remotePort, 80);
  EXPECT_EQ(all[0].localPort, 49152);
  EXPECT_EQ(all[0].protocol, IPPROTO_TCP);
  EXPECT_EQ(all[0].state, FWPS_CONNECTION_NOT_REDIRECTED);
  EXPECT_TRUE(origin().accept(originListener).ok());
}

TEST_F(SimEngine, S4_4_UnpendedEngineClassifyCompletesInsideTheConnectCall) {
  driver.mode = Mode::Redirect;
  const int s = app().socket(IpVersion::V4, Protocol::Tcp);
  sim::PendingConnect pc = app().connectAsync(s, ep("192.0.2.80:80"));
  ASSERT_TRUE(pc.ready()) << "nobody pended: done before connectAsync returned";
  EXPECT_EQ(pc.poll()->remote, ep("127.0.0.1:8080"));
  ASSERT_EQ(seen().size(), 1u);
  EXPECT_EQ(seen()[0].thread, std::this_thread::get_id());
}

TEST_F(SimEngine, S6_2_PendedCalloutBlocksTheConnectUntilItCompletes) {
  driver.mode = Mode::Pend;
  std::atomic<bool> returned{false};
  sim::ConnectResult result;
  std::thread t([&] {
    const int s = app().socket(IpVersion::V4, Protocol::Tcp);
    result = app().connect(s, ep("192.0.2.80:80"));
    returned = true;
  });
  ASSERT_TRUE(waitPended(1));
  std::this_thread::sleep_for(20ms);
  EXPECT_FALSE(returned.load());
  complete(takePended(), FWP_ACTION_PERMIT);
  t.join();
  EXPECT_TRUE(result.ok()) << result.error << " " << result.reason;
  EXPECT_EQ(result.remote, ep("192.0.2.80:80"));
  EXPECT_TRUE(origin().accept(originListener).ok());

  // Completed with BLOCK: the connect fails as a refused one (S13.3).
  const int s2 = app().socket(IpVersion::V4, Protocol::Tcp);
  sim::PendingConnect pc = app().connectAsync(s2, ep("192.0.2.80:80"));
  ASSERT_TRUE(waitPended(1));
  EXPECT_FALSE(pc.ready());
  complete(takePended(), FWP_ACTION_BLOCK);
  EXPECT_EQ(pc.wait().error, ECONNREFUSED);
}

TEST_F(SimEngine, S8_8_ProxySetsTheRecordsWhileTheOriginalClassifyIsStillPended) {
  // Verify before accept: the callout pends the application's connect and redirects it; the
  // proxy connects upstream with the records first, then the callout completes.
  driver.mode = Mode::PendRedirect;
  const int s = app().socket(IpVersion::V4, Protocol::Tcp);
  sim::PendingConnect appConnect = app().connectAsync(s, ep("192.0.2.80:80"));
  ASSERT_TRUE(waitPended(1));
  Pended p = takePended();
  ASSERT_FALSE(p.records.empty());

  const int up = proxy().socket(IpVersion::V4, Protocol::Tcp);
  ASSERT_EQ(openwfp_ioctl(up, SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS, p.records.data(),
                          p.records.size(), nullptr, 0, nullptr),
            0);
  const sim::ConnectResult upstream = proxy().connect(up, ep("192.0.2.80:80"));
  ASSERT_TRUE(upstream.ok()) << upstream.error << " " << upstream.reason;
  EXPECT_FALSE(upstream.redirected) << "no loop: the callout saw its own records";
  EXPECT_EQ(upstream.remote, ep("192.0.2.80:80"));
  const auto all = seen();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[1].processId, 777u);
  EXPECT_EQ(all[1].state, FWPS_CONNECTION_REDIRECTED_BY_SELF);
  EXPECT_NE(all[1].flags & FWP_CONDITION_FLAG_IS_PROXY_CONNECTION, 0u) << "S9.4";
  EXPECT_EQ(all[0].flags & FWP_CONDITION_FLAG_IS_PROXY_CONNECTION, 0u);
  EXPECT_TRUE(origin().accept(originListener).ok());

  EXPECT_FALSE(appConnect.ready());
  complete(p, FWP_ACTION_PERMIT);
  const sim::ConnectResult r = appConnect.wait();
  ASSERT_TRUE(r.ok()) << r.error << " " << r.reason;
  EXPECT_EQ(r.remote, ep("127.0.0.1:8080"));
  const sim::AcceptResult a = proxy().accept(listener);
  ASSERT_TRUE(a.ok());
  // The accepted socket's records are the ones the callout handed over.
  std::vector<unsigned char> records(p.records.size() + 64);
  size_t n = 0;
  ASSERT_EQ(openwfp_ioctl(a.fd, SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS, nullptr, 0,
                          records.data(), records.size(), &n),
            0);
  records.resize(n);
  EXPECT_EQ(records, p.records) << "S8.7: same bytes for the same connection";
}

TEST_F(SimEngine, S4_1_BindRedirectCalloutMovesTheLocalAddress) {
  const int fd = proxy().socket(IpVersion::V4, Protocol::Tcp);
  ASSERT_EQ(proxy().bind(fd, ep("0.0.0.0:5000")), 0);
  Endpoint local;
  ASSERT_EQ(proxy().getsockname(fd, local), 0);
  EXPECT_EQ(local, ep("127.0.0.1:5001"));
  const int other = proxy().socket(IpVersion::V4, Protocol::Tcp);
  ASSERT_EQ(proxy().bind(other, ep("127.0.0.1:6000")), 0);
  ASSERT_EQ(proxy().getsockname(other, local), 0);
  EXPECT_EQ(local, ep("127.0.0.1:6000")) << "no filter matched: unchanged";
}

TEST_F(SimEngine, S5_6_EngineOwnedContextIsFreedWhenTheConnectionEnds) {
  driver.mode = Mode::Redirect;
  const int s = app().socket(IpVersion::V4, Protocol::Tcp);
  ASSERT_TRUE(app().connect(s, ep("192.0.2.80:80")).ok());
  const int a = proxy().accept(listener).fd;
  auto& pool = openwfp::Runtime::current().pool();
  void* context = driver.lastContext;
  ASSERT_NE(context, nullptr);
  EXPECT_TRUE(pool.isEngineOwned(context));
  SOCKADDR_STORAGE original;
  size_t n = 0;
  ASSERT_EQ(openwfp_ioctl(a, SIO_QUERY_WFP_CONNECTION_REDIRECT_CONTEXT, nullptr, 0, &original,
                          sizeof original, &n),
            0);
  EXPECT_EQ(RtlUshortByteSwap(reinterpret_cast<SOCKADDR_IN*>(&original)->sin_port), 80);
  ASSERT_EQ(app().close(s), 0);
  EXPECT_TRUE(pool.isLive(context)) << "the accepted end is still open";
  ASSERT_EQ(proxy().close(a), 0);
  EXPECT_FALSE(pool.isLive(context)) << "freed when the last end closed";
}

TEST_F(SimEngine, S9_4_UnfilteredConnectsPassAndCarryNoRecords) {
  const int l = proxy().socket(IpVersion::V4, Protocol::Tcp);
  ASSERT_EQ(proxy().bind(l, ep("127.0.0.1:22")), 0);
  ASSERT_EQ(proxy().listen(l), 0);
  driver.mode = Mode::Redirect;
  const int s = app().socket(IpVersion::V4, Protocol::Tcp);
  const sim::ConnectResult r = app().connect(s, ep("127.0.0.1:22"));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r.redirected);
  EXPECT_TRUE(seen().empty()) << "the filter excludes port 22";
  const int a = proxy().accept(l).fd;
  char buf[256];
  size_t n = 0;
  errno = 0;
  EXPECT_EQ(openwfp_ioctl(a, SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS, nullptr, 0, buf,
                          sizeof buf, &n),
            -1);
  EXPECT_EQ(errno, ENOENT);
}

class SimEngineShortDeadline : public SimEngine {
 protected:
  openwfp::RuntimeOptions options() override {
    openwfp::RuntimeOptions o;
    o.pendDeadline = std::chrono::milliseconds(50);
    return o;
  }
};

TEST_F(SimEngineShortDeadline, S6_4_PendNeverCompletedFailsTheConnectWithEtimedout) {
  driver.mode = Mode::Pend;
  const int s = app().socket(IpVersion::V4, Protocol::Tcp);
  const sim::ConnectResult r = app().connect(s, ep("192.0.2.80:80"));
  EXPECT_EQ(r.error, ETIMEDOUT) << r.reason;
  EXPECT_TRUE(origin().accept(originListener).error == EAGAIN) << "nothing reached the server";
  auto& verifier = openwfp::Runtime::current().verifier();
  EXPECT_EQ(verifier.count(openwfp::verifier::Code::PendNeverCompleted), 1u);
  // The driver still owns its reference to the classify handle: it releases it.
  FwpsReleaseClassifyHandle0(takePended().classifyHandle);
  ASSERT_EQ(app().close(s), 0);
  verifier.clear();  // the expected report, checked above
}

}  // namespace

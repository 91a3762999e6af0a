// S5: classify handles, writable layer data, local redirects, context ownership, re-authorization
// and redirect entries (C ABI).
#include "redirect/history.h"
#include "support/wfp_harness.h"
#include "verifier/pool.h"

using namespace wfptest;
using openwfp::Action;
using openwfp::verifier::Code;

namespace {

constexpr UINT32 kDst = 0x0A000001;  // 10.0.0.1:80, the "original destination"
constexpr ULONG kTag = 0x52637478;  // "xtcR"
const GUID kCR4 = FWPM_LAYER_ALE_CONNECT_REDIRECT_V4;

class S5 : public Harness {};

}  // namespace

// ---- S5.1 -----------------------------------------------------------------------------------------

TEST_F(S5, S5_1_AcquireAndReleaseClassifyHandle) {
  NTSTATUS nullCtx = 0, badFlags = 0, ok = 0;
  UINT64 h = 0;
  addCalloutFilter(guid(1), kCR4, [&](auto, auto, const void* ctx, auto, FWPS_CLASSIFY_OUT0* out) {
    UINT64 tmp = 0;
    nullCtx = FwpsAcquireClassifyHandle0(nullptr, 0, &tmp);
    badFlags = FwpsAcquireClassifyHandle0(const_cast<void*>(ctx), 1, &tmp);
    ok = FwpsAcquireClassifyHandle0(const_cast<void*>(ctx), 0, &h);
    FwpsReleaseClassifyHandle0(h);
    out->actionType = FWP_ACTION_PERMIT;
  });
  connect(request(kDst, 80));
  EXPECT_EQ(nullCtx, STATUS_INVALID_PARAMETER);
  EXPECT_EQ(badFlags, STATUS_INVALID_PARAMETER);
  EXPECT_EQ(ok, STATUS_SUCCESS);
  EXPECT_NE(h, 0u);
  FwpsReleaseClassifyHandle0(h);  // released twice
  EXPECT_EQ(take(Code::UseAfterRelease), 1u);
}

TEST_F(S5, S5_1_HandleStillHeldWhenTheFlowEndsIsReported) {
  UINT64 kept = 0;
  addCalloutFilter(guid(9), kCR4, [&](auto, auto, const void* ctx, auto, FWPS_CLASSIFY_OUT0* out) {
    FwpsAcquireClassifyHandle0(const_cast<void*>(ctx), 0, &kept);  // never released
    out->actionType = FWP_ACTION_PERMIT;
  });
  auto v = connect(request(kDst, 80));
  EXPECT_EQ(take(Code::ClassifyHandleNotReleased), 0u);
  EXPECT_EQ(engine().unreleasedHandles("", /*report=*/false), 1u);
  rt().classifier().connectionClosed(v.history);
  EXPECT_EQ(take(Code::ClassifyHandleNotReleased), 1u);
  FwpsReleaseClassifyHandle0(kept);
  EXPECT_EQ(engine().unreleasedHandles("", false), 0u);
}

// ---- S5.2 -----------------------------------------------------------------------------------------

TEST_F(S5, S5_2_AcquireReturnsConnectRequestSetsBlockAndClearsTheRight) {
  FWPS_CLASSIFY_OUT0 after{};
  UINT32 remote = 0;
  UINT16 port = 0;
  addCalloutFilter(guid(2), kCR4, [&](auto, auto, const void* ctx, const FWPS_FILTER3* f,
                                      FWPS_CLASSIFY_OUT0* out) {
    UINT64 h = 0;
    ASSERT_EQ(FwpsAcquireClassifyHandle0(const_cast<void*>(ctx), 0, &h), STATUS_SUCCESS);
    void* data = nullptr;
    ASSERT_EQ(FwpsAcquireWritableLayerDataPointer0(h, f->filterId, 0, &data, out), STATUS_SUCCESS);
    after = *out;
    auto* req = static_cast<FWPS_CONNECT_REQUEST0*>(data);
    remote = v4Of(req->remoteAddressAndPort);
    port = portOf(req->remoteAddressAndPort);
    EXPECT_EQ(req->previousVersion, nullptr);
    FwpsApplyModifiedLayerData0(h, data, 0);
    FwpsReleaseClassifyHandle0(h);
    out->actionType = FWP_ACTION_PERMIT;
  });
  EXPECT_EQ(connect(request(kDst, 80)).action, Action::Permit);
  EXPECT_EQ(after.actionType, static_cast<FWP_ACTION_TYPE>(FWP_ACTION_BLOCK));
  EXPECT_EQ(after.rights & FWPS_RIGHT_ACTION_WRITE, 0u);
  EXPECT_EQ(remote, kDst);
  EXPECT_EQ(port, 80);
}

TEST_F(S5, S5_2_BindRedirectGetsBindRequestAndCanMoveTheLocalEndpoint) {
  addCalloutFilter(guid(3), FWPM_LAYER_ALE_BIND_REDIRECT_V4,
                   [&](auto, auto, const void* ctx, const FWPS_FILTER3* f, FWPS_CLASSIFY_OUT0* out) {
                     UINT64 h = 0;
                     ASSERT_EQ(FwpsAcquireClassifyHandle0(const_cast<void*>(ctx), 0, &h), STATUS_SUCCESS);
                     void* data = nullptr;
                     ASSERT_EQ(FwpsAcquireWritableLayerDataPointer0(h, f->filterId, 0, &data, out), STATUS_SUCCESS);
                     auto* req = static_cast<FWPS_BIND_REQUEST0*>(data);
                     EXPECT_EQ(portOf(req->localAddressAndPort), 8080);
                     setV4(req->localAddressAndPort, 0x7F000002, 18080);
                     FwpsApplyModifiedLayerData0(h, data, 0);
                     FwpsReleaseClassifyHandle0(h);
                     out->actionType = FWP_ACTION_PERMIT;
                   });
  openwfp::BindRequest b;
  b.local = Endpoint::v4(0x7F000001, 8080);
  auto v = bind(b);
  EXPECT_EQ(v.action, Action::Permit);
  EXPECT_TRUE(v.redirected);
  EXPECT_EQ(v.finalLocal, Endpoint::v4(0x7F000002, 18080));
}

TEST_F(S5, S5_2_WithoutTheWriteRightOrAtAuthConnectAcquireFails) {
  GUID high = guid(4), low = guid(5);
  addSubLayer(high, 900);
  addSubLayer(low, 100);
  FilterBuilder hard(kCR4);
  hard.subLayer(high).action(FWP_ACTION_PERMIT).flags(FWPM_FILTER_FLAG_CLEAR_ACTION_RIGHT);
  addFilter(hard);
  NTSTATUS noRight = 0, atAuth = 0;
  addCalloutFilter(guid(6), kCR4, [&](auto, auto, const void* ctx, const FWPS_FILTER3* f,
                                      FWPS_CLASSIFY_OUT0* out) {
    UINT64 h = 0;
    FwpsAcquireClassifyHandle0(const_cast<void*>(ctx), 0, &h);
    void* data = nullptr;
    noRight = FwpsAcquireWritableLayerDataPointer0(h, f->filterId, 0, &data, out);
    EXPECT_EQ(data, nullptr);
    FwpsReleaseClassifyHandle0(h);
    out->actionType = FWP_ACTION_PERMIT;
  }, &low);
  addCalloutFilter(guid(7), FWPM_LAYER_ALE_AUTH_CONNECT_V4,
                   [&](auto, auto, const void* ctx, const FWPS_FILTER3* f, FWPS_CLASSIFY_OUT0* out) {
                     UINT64 h = 0;
                     FwpsAcquireClassifyHandle0(const_cast<void*>(ctx), 0, &h);
                     void* data = nullptr;
                     atAuth = FwpsAcquireWritableLayerDataPointer0(h, f->filterId, 0, &data, out);
                     FwpsReleaseClassifyHandle0(h);
                     out->actionType = FWP_ACTION_PERMIT;
                   });
  connect(request(kDst, 80));
  EXPECT_EQ(noRight, STATUS_ACCESS_DENIED);
  EXPECT_EQ(atAuth, STATUS_FWP_INCOMPATIBLE_LAYER);
}

// ---- S5.3 -----------------------------------------------------------------------------------------

TEST_F(S5, S5_3_PreviousVersionChainsEarlierModificationsNewestFirst) {
  GUID s1 = guid(10), s2 = guid(11), s3 = guid(12);
  addSubLayer(s1, 900);
  addSubLayer(s2, 800);
  addSubLayer(s3, 700);
  auto modifyTo = [](UINT32 dst, UINT16 port) {
    return [=](auto, auto, const void* ctx, const FWPS_FILTER3* f, FWPS_CLASSIFY_OUT0* out) {
      if (!(out->rights & FWPS_RIGHT_ACTION_WRITE)) return;
      Redirect r;
      r.dst = dst;
      r.port = port;
      redirectInline(ctx, f, out, r);
    };
  };
  auto a = addCalloutFilter(guid(13), kCR4, modifyTo(0x0A000002, 81), &s1);
  auto b = addCalloutFilter(guid(14), kCR4, modifyTo(0x0A000003, 82), &s2);
  std::vector<std::pair<UINT64, UINT32>> chain;  // (modifierFilterId, remote)
  UINT32 current = 0;
  addCalloutFilter(guid(15), kCR4, [&](auto, auto, const void* ctx, const FWPS_FILTER3* f,
                                       FWPS_CLASSIFY_OUT0* out) {
    UINT64 h = 0;
    FwpsAcquireClassifyHandle0(const_cast<void*>(ctx), 0, &h);
    void* data = nullptr;
    ASSERT_EQ(FwpsAcquireWritableLayerDataPointer0(h, f->filterId, 0, &data, out), STATUS_SUCCESS);
    auto* req = static_cast<FWPS_CONNECT_REQUEST0*>(data);
    current = v4Of(req->remoteAddressAndPort);
    for (auto* p = req->previousVersion; p; p = p->previousVersion)
      chain.emplace_back(p->modifierFilterId, v4Of(p->remoteAddressAndPort));
    FwpsApplyModifiedLayerData0(h, data, 0);
    FwpsReleaseClassifyHandle0(h);
    out->actionType = FWP_ACTION_PERMIT;
  }, &s3);
  auto v = connect(request(kDst, 80));
  EXPECT_EQ(current, 0x0A000003u);
  ASSERT_EQ(chain.size(), 2u);
  EXPECT_EQ(chain[0], std::make_pair(b.filterId, 0x0A000003u));  // newest first
  EXPECT_EQ(chain[1], std::make_pair(a.filterId, 0x0A000002u));
  EXPECT_TRUE(v.redirected);
  EXPECT_EQ(v.finalRemote, Endpoint::v4(0x0A000003, 82));
}

// ---- S5.4 -----------------------------------------------------------------------------------------

TEST_F(S5, S5_4_OnlyWritableFieldsChangeOthersAreIgnoredAndReported) {
  addCalloutFilter(guid(20), kCR4, [&](auto, auto, const void* ctx, const FWPS_FILTER3* f,
                                       FWPS_CLASSIFY_OUT0* out) {
    UINT64 h = 0;
    FwpsAcquireClassifyHandle0(const_cast<void*>(ctx), 0, &h);
    void* data = nullptr;
    ASSERT_EQ(FwpsAcquireWritableLayerDataPointer0(h, f->filterId, 0, &data, out), STATUS_SUCCESS);
    auto* req = static_cast<FWPS_CONNECT_REQUEST0*>(data);
    setV4(req->remoteAddressAndPort, 0x0A000009, 8443);      // writable
    setV4(req->localAddressAndPort, 0x0A0000FE, 1);          // read-only at connect-redirect
    req->modifierFilterId = 999;                              // read-only
    FwpsApplyModifiedLayerData0(h, data, 0);
    FwpsReleaseClassifyHandle0(h);
    out->actionType = FWP_ACTION_PERMIT;
  });
  auto v = connect(request(kDst, 80));
  EXPECT_EQ(take(Code::ReadOnlyFieldChanged), 2u);
  EXPECT_TRUE(v.redirected);
  EXPECT_EQ(v.finalRemote, Endpoint::v4(0x0A000009, 8443));
  bool localKept = false;
  for (const auto& r : traces())
    if (r.layer == "ALE_AUTH_CONNECT_V4") localKept = r.local == "127.0.0.1:40000";
  EXPECT_TRUE(localKept);
}

TEST_F(S5, S5_4_AcquireWithoutApplyIsReported) {
  addCalloutFilter(guid(21), kCR4, [&](auto, auto, const void* ctx, const FWPS_FILTER3* f,
                                       FWPS_CLASSIFY_OUT0* out) {
    UINT64 h = 0;
    FwpsAcquireClassifyHandle0(const_cast<void*>(ctx), 0, &h);
    void* data = nullptr;
    FwpsAcquireWritableLayerDataPointer0(h, f->filterId, 0, &data, out);
    FwpsReleaseClassifyHandle0(h);
    out->actionType = FWP_ACTION_PERMIT;
  });
  auto v = connect(request(kDst, 80));
  EXPECT_FALSE(v.redirected);
  EXPECT_EQ(take(Code::AcquireWithoutApply), 1u);
}

// ---- S5.5 -----------------------------------------------------------------------------------------

TEST_F(S5, S5_5_LocalRedirectNeedsTargetPidAndRedirectHandle) {
  HANDLE rh = newRedirectHandle();
  Redirect r;  // to 127.0.0.1:9000
  addCalloutFilter(guid(30), kCR4, [&](auto, auto, const void* ctx, const FWPS_FILTER3* f,
                                       FWPS_CLASSIFY_OUT0* out) { redirectInline(ctx, f, out, r); });
  auto v = connect(request(kDst, 80));
  EXPECT_EQ(v.action, Action::Permit);
  EXPECT_FALSE(v.redirected);
  EXPECT_EQ(v.finalRemote, Endpoint::v4(kDst, 80));
  EXPECT_NE(v.reason.find("not applied"), std::string::npos) << v.reason;
  EXPECT_NE(v.reason.find("localRedirectTargetPID and localRedirectHandle"), std::string::npos);
  EXPECT_EQ(take(Code::RedirectNotApplied), 1u);  // S16.2: a verifier finding too

  r.targetPid = 555;  // handle still missing
  v = connect(request(kDst, 80));
  EXPECT_FALSE(v.redirected);
  EXPECT_NE(v.reason.find("localRedirectHandle is not set"), std::string::npos) << v.reason;
  EXPECT_EQ(take(Code::RedirectNotApplied), 1u);

  r.handle = rh;
  v = connect(request(kDst, 80));
  EXPECT_TRUE(v.redirected);
  EXPECT_EQ(v.finalRemote, Endpoint::v4(0x7F000001, 9000));
  EXPECT_EQ(v.redirectTargetPid, 555u);
  FwpsRedirectHandleDestroy0(rh);
}

TEST_F(S5, S5_5_NonLocalRedirectNeedsNoHandle) {
  Redirect r;
  r.dst = 0x0A000063;
  r.port = 3128;
  addCalloutFilter(guid(31), kCR4, [&](auto, auto, const void* ctx, const FWPS_FILTER3* f,
                                       FWPS_CLASSIFY_OUT0* out) { redirectInline(ctx, f, out, r); });
  auto v = connect(request(kDst, 80));
  EXPECT_TRUE(v.redirected);
  EXPECT_EQ(v.finalRemote, Endpoint::v4(0x0A000063, 3128));
}

// ---- S5.6 -----------------------------------------------------------------------------------------

TEST_F(S5, S5_6_EngineOwnsTheContextAfterApplyAndFreesItWhenTheFlowEnds) {
  HANDLE rh = newRedirectHandle();
  void* ctxMem = nullptr;
  addCalloutFilter(guid(40), kCR4, [&](auto, auto, const void* ctx, const FWPS_FILTER3* f,
                                       FWPS_CLASSIFY_OUT0* out) {
    ctxMem = ExAllocatePool2(POOL_FLAG_NON_PAGED, 16, kTag);
    std::memset(ctxMem, 0xAB, 16);
    Redirect r;
    r.targetPid = 77;
    r.handle = rh;
    r.context = ctxMem;
    r.contextSize = 16;
    redirectInline(ctx, f, out, r);
  });
  auto& pool = rt().pool();
  auto v = connect(request(kDst, 80));
  ASSERT_TRUE(v.redirected);
  ASSERT_TRUE(pool.isLive(ctxMem));
  std::vector<uint8_t> copy;
  ASSERT_TRUE(v.history->newestContext(copy));
  EXPECT_EQ(copy, std::vector<uint8_t>(16, 0xAB));
  ExFreePoolWithTag(ctxMem, kTag);  // the driver must not: the engine owns it
  EXPECT_EQ(take(Code::EngineOwnedContextFreed), 1u);
  EXPECT_TRUE(pool.isLive(ctxMem));
  rt().classifier().connectionClosed(v.history);
  EXPECT_FALSE(pool.isLive(ctxMem));
  FwpsRedirectHandleDestroy0(rh);
}

TEST_F(S5, S5_6_ContextIsFreedWhenTheClassifyEndsInBlock) {
  GUID high = guid(41), low = guid(42);
  addSubLayer(high, 900);
  addSubLayer(low, 100);
  HANDLE rh = newRedirectHandle();
  void* ctxMem = nullptr;
  addCalloutFilter(guid(43), kCR4, [&](auto, auto, const void* ctx, const FWPS_FILTER3* f,
                                       FWPS_CLASSIFY_OUT0* out) {
    ctxMem = ExAllocatePool2(POOL_FLAG_NON_PAGED, 8, kTag);
    Redirect r;
    r.targetPid = 77;
    r.handle = rh;
    r.context = ctxMem;
    r.contextSize = 8;
    redirectInline(ctx, f, out, r);
  }, &high);
  FilterBuilder block(kCR4);
  block.subLayer(low).action(FWP_ACTION_BLOCK);
  addFilter(block);
  auto v = connect(request(kDst, 80));
  EXPECT_EQ(v.action, Action::Block);
  EXPECT_FALSE(rt().pool().isLive(ctxMem));
  EXPECT_TRUE(v.history->empty());  // S5.8: the entry is withdrawn
  FwpsRedirectHandleDestroy0(rh);
}

// ---- S5.7 -----------------------------------------------------------------------------------------

TEST_F(S5, S5_7_PendedClassifyIsReauthorizedWhenALaterCalloutModifies) {
  GUID s1 = guid(50), s2 = guid(51);
  addSubLayer(s1, 900);
  addSubLayer(s2, 800);
  HANDLE ha = newRedirectHandle(), hb = newRedirectHandle();
  std::vector<UINT32> aFlags;
  addCalloutFilter(guid(52), kCR4, [&](const FWPS_INCOMING_VALUES0* v,
                                       const FWPS_INCOMING_METADATA_VALUES0* m, const void* ctx,
                                       const FWPS_FILTER3* f, FWPS_CLASSIFY_OUT0* out) {
    aFlags.push_back(v->incomingValue[FWPS_FIELD_ALE_CONNECT_REDIRECT_V4_FLAGS].value.uint32);
    if (FwpsQueryConnectionRedirectState0(m->redirectRecords, ha, nullptr) !=
        FWPS_CONNECTION_NOT_REDIRECTED) {
      out->actionType = FWP_ACTION_PERMIT;  // seen already: let it go
      return;
    }
    UINT64 h = 0;
    FwpsAcquireClassifyHandle0(const_cast<void*>(ctx), 0, &h);
    ASSERT_EQ(FwpsPendClassify0(h, f->filterId, 0, out), STATUS_SUCCESS);
    void* data = nullptr;
    ASSERT_EQ(FwpsAcquireWritableLayerDataPointer0(h, f->filterId, 0, &data, out), STATUS_SUCCESS);
    auto* req = static_cast<FWPS_CONNECT_REQUEST0*>(data);
    setV4(req->remoteAddressAndPort, 0x7F000001, 9001);
    req->localRedirectTargetPID = 1;
    req->localRedirectHandle = ha;
    FwpsApplyModifiedLayerData0(h, data, FWPS_CLASSIFY_FLAG_REAUTHORIZE_IF_MODIFIED_BY_OTHERS);
    FWPS_CLASSIFY_OUT0 done = *out;
    done.actionType = FWP_ACTION_PERMIT;
    FwpsCompleteClassify0(h, 0, &done);  // completes before classifyFn returns
    FwpsReleaseClassifyHandle0(h);
    out->actionType = FWP_ACTION_BLOCK;
    out->rights &= ~FWPS_RIGHT_ACTION_WRITE;
  }, &s1);
  int bCalls = 0;
  addCalloutFilter(guid(53), kCR4, [&](auto, const FWPS_INCOMING_METADATA_VALUES0* m,
                                       const void* ctx, const FWPS_FILTER3* f,
                                       FWPS_CLASSIFY_OUT0* out) {
    ++bCalls;
    if (FwpsQueryConnectionRedirectState0(m->redirectRecords, hb, nullptr) ==
        FWPS_CONNECTION_REDIRECTED_BY_SELF) {
      out->actionType = FWP_ACTION_PERMIT;
      return;
    }
    Redirect r;
    r.port = 9002;
    r.targetPid = 2;
    r.handle = hb;
    redirectInline(ctx, f, out, r);
  }, &s2);
  auto v = connect(request(kDst, 80));
  ASSERT_EQ(aFlags.size(), 2u) << "A is classified again after B modified";
  EXPECT_EQ(aFlags[0] & FWP_CONDITION_FLAG_IS_REAUTHORIZE, 0u);
  EXPECT_NE(aFlags[1] & FWP_CONDITION_FLAG_IS_REAUTHORIZE, 0u);
  EXPECT_EQ(bCalls, 2);
  EXPECT_EQ(v.action, Action::Permit);
  EXPECT_EQ(v.finalRemote, Endpoint::v4(0x7F000001, 9002));
  FwpsRedirectHandleDestroy0(ha);
  FwpsRedirectHandleDestroy0(hb);
}

TEST_F(S5, S5_7_ReauthorizeFlagInlineIsAViolation) {
  Redirect r;
  r.dst = 0x0A000002;
  r.applyFlags = FWPS_CLASSIFY_FLAG_REAUTHORIZE_IF_MODIFIED_BY_OTHERS;
  addCalloutFilter(guid(54), kCR4, [&](auto, auto, const void* ctx, const FWPS_FILTER3* f,
                                       FWPS_CLASSIFY_OUT0* out) { redirectInline(ctx, f, out, r); });
  auto v = connect(request(kDst, 80));
  EXPECT_TRUE(v.redirected);
  EXPECT_EQ(take(Code::ReauthorizeFlagInline), 1u);
}

TEST_F(S5, S5_7_ReauthorizationRoundsAreBounded) {
  GUID s1 = guid(55), s2 = guid(56);
  addSubLayer(s1, 900);
  addSubLayer(s2, 800);
  int aCalls = 0;
  UINT16 next = 1000;
  // A and B fight forever: A (pended) always re-redirects with the re-authorize flag, B always
  // modifies after it.
  addCalloutFilter(guid(57), kCR4, [&](auto, auto, const void* ctx, const FWPS_FILTER3* f,
                                       FWPS_CLASSIFY_OUT0* out) {
    ++aCalls;
    UINT64 h = 0;
    FwpsAcquireClassifyHandle0(const_cast<void*>(ctx), 0, &h);
    FwpsPendClassify0(h, f->filterId, 0, out);
    void* data = nullptr;
    FwpsAcquireWritableLayerDataPointer0(h, f->filterId, 0, &data, out);
    setV4(static_cast<FWPS_CONNECT_REQUEST0*>(data)->remoteAddressAndPort, 0x0A000002, next++);
    FwpsApplyModifiedLayerData0(h, data, FWPS_CLASSIFY_FLAG_REAUTHORIZE_IF_MODIFIED_BY_OTHERS);
    FWPS_CLASSIFY_OUT0 done = *out;
    done.actionType = FWP_ACTION_PERMIT;
    FwpsCompleteClassify0(h, 0, &done);
    FwpsReleaseClassifyHandle0(h);
    out->actionType = FWP_ACTION_BLOCK;
    out->rights = 0;
  }, &s1);
  addCalloutFilter(guid(58), kCR4, [&](auto, auto, const void* ctx, const FWPS_FILTER3* f,
                                       FWPS_CLASSIFY_OUT0* out) {
    Redirect r;
    r.dst = 0x0A000003;
    r.port = next++;
    redirectInline(ctx, f, out, r);
  }, &s2);
  auto v = connect(request(kDst, 80));
  EXPECT_EQ(v.action, Action::Block);
  EXPECT_NE(v.reason.find("re-authorization limit"), std::string::npos) << v.reason;
  EXPECT_EQ(aCalls, static_cast<int>(rt().options().reauthorizeLimit) + 1);
  EXPECT_EQ(take(Code::ReauthorizeLimit), 1u);
}

// ---- S5.8 -----------------------------------------------------------------------------------------

TEST_F(S5, S5_8_EntryAddedOnApplyReplacedLaterInTheSameClassify) {
  GUID s1 = guid(60), s2 = guid(61);
  addSubLayer(s1, 900);
  addSubLayer(s2, 800);
  HANDLE ha = newRedirectHandle(), hb = newRedirectHandle();
  FWPS_CONNECTION_REDIRECT_STATE seenByB = FWPS_CONNECTION_REDIRECT_STATE_MAX;
  addCalloutFilter(guid(62), kCR4, [&](auto, auto, const void* ctx, const FWPS_FILTER3* f,
                                       FWPS_CLASSIFY_OUT0* out) {
    Redirect r;
    r.port = 9001;
    r.targetPid = 1;
    r.handle = ha;
    redirectInline(ctx, f, out, r);
  }, &s1);
  addCalloutFilter(guid(63), kCR4, [&](auto, const FWPS_INCOMING_METADATA_VALUES0* m,
                                       const void* ctx, const FWPS_FILTER3* f,
                                       FWPS_CLASSIFY_OUT0* out) {
    seenByB = FwpsQueryConnectionRedirectState0(m->redirectRecords, hb, nullptr);
    Redirect r;
    r.port = 9002;
    r.targetPid = 2;
    r.handle = hb;
    redirectInline(ctx, f, out, r);
  }, &s2);
  auto v = connect(request(kDst, 80));
  EXPECT_EQ(seenByB, FWPS_CONNECTION_REDIRECTED_BY_OTHER);  // A's entry is visible at once
  auto entries = v.history->entries();
  ASSERT_EQ(entries.size(), 1u);  // replaced, not added
  EXPECT_EQ(entries[0].redirectHandle, reinterpret_cast<uintptr_t>(hb));
  EXPECT_EQ(entries[0].targetPid, 2u);
  EXPECT_EQ(entries[0].originalDestination, Endpoint::v4(kDst, 80));
  EXPECT_EQ(entries[0].redirectedTo, Endpoint::v4(0x7F000001, 9002));
  FwpsRedirectHandleDestroy0(ha);
  FwpsRedirectHandleDestroy0(hb);
}

TEST_F(S5, S5_8_AuthConnectSeesTheRedirectedTupleWithFlagAndMetadata) {
  HANDLE rh = newRedirectHandle();
  addCalloutFilter(guid(64), kCR4, [&](auto, auto, const void* ctx, const FWPS_FILTER3* f,
                                       FWPS_CLASSIFY_OUT0* out) {
    Redirect r;
    r.targetPid = 4321;
    r.handle = rh;
    redirectInline(ctx, f, out, r);
  });
  UINT32 remote = 0, flags = 0;
  UINT16 port = 0;
  DWORD pid = 0;
  UINT32 origAddr = 0;
  UINT16 origPort = 0;
  bool pidPresent = false, origPresent = false;
  addCalloutFilter(guid(65), FWPM_LAYER_ALE_AUTH_CONNECT_V4,
                   [&](const FWPS_INCOMING_VALUES0* v, const FWPS_INCOMING_METADATA_VALUES0* m,
                       auto, auto, FWPS_CLASSIFY_OUT0* out) {
                     remote = v->incomingValue[FWPS_FIELD_ALE_AUTH_CONNECT_V4_IP_REMOTE_ADDRESS].value.uint32;
                     port = v->incomingValue[FWPS_FIELD_ALE_AUTH_CONNECT_V4_IP_REMOTE_PORT].value.uint16;
                     flags = v->incomingValue[FWPS_FIELD_ALE_AUTH_CONNECT_V4_FLAGS].value.uint32;
                     pidPresent = FWPS_IS_METADATA_FIELD_PRESENT(m, FWPS_METADATA_FIELD_LOCAL_REDIRECT_TARGET_PID);
                     origPresent = FWPS_IS_METADATA_FIELD_PRESENT(m, FWPS_METADATA_FIELD_ORIGINAL_DESTINATION);
                     pid = m->localRedirectTargetPID;
                     if (m->originalDestination) {
                       origAddr = v4Of(*reinterpret_cast<const SOCKADDR_STORAGE*>(m->originalDestination));
                       origPort = portOf(*reinterpret_cast<const SOCKADDR_STORAGE*>(m->originalDestination));
                     }
                     out->actionType = FWP_ACTION_PERMIT;
                   });
  auto v = connect(request(kDst, 80));
  EXPECT_TRUE(v.redirected);
  EXPECT_EQ(remote, 0x7F000001u);
  EXPECT_EQ(port, 9000);
  EXPECT_NE(flags & FWP_CONDITION_FLAG_IS_CONNECTION_REDIRECTED, 0u);
  EXPECT_TRUE(pidPresent);
  EXPECT_EQ(pid, 4321u);
  EXPECT_TRUE(origPresent);
  EXPECT_EQ(origAddr, kDst);
  EXPECT_EQ(origPort, 80);
  FwpsRedirectHandleDestroy0(rh);
}

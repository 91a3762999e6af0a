// S7: redirect handles and FwpsQueryConnectionRedirectState0 over proxied connection chains.
#include "redirect/handles.h"
#include "support/wfp_harness.h"

using namespace wfptest;
using openwfp::Action;
using openwfp::verifier::Code;

namespace {

constexpr UINT32 kDst = 0x0A000001;
const GUID kCR4 = FWPM_LAYER_ALE_CONNECT_REDIRECT_V4;
const GUID kCR6 = FWPM_LAYER_ALE_CONNECT_REDIRECT_V6;

class S7 : public Harness {};

}  // namespace

TEST_F(S7, S7_1_CreateDestroyAndArgumentChecks) {
  GUID provider = guid(1);
  HANDLE a = nullptr, b = nullptr;
  EXPECT_EQ(FwpsRedirectHandleCreate0(nullptr, 0, &a), STATUS_INVALID_PARAMETER);
  EXPECT_EQ(FwpsRedirectHandleCreate0(&provider, 0, nullptr), STATUS_INVALID_PARAMETER);
  EXPECT_EQ(FwpsRedirectHandleCreate0(&provider, 1, &a), STATUS_INVALID_PARAMETER);
  ASSERT_EQ(FwpsRedirectHandleCreate0(&provider, 0, &a), STATUS_SUCCESS);
  ASSERT_EQ(FwpsRedirectHandleCreate0(&provider, 0, &b), STATUS_SUCCESS);
  EXPECT_NE(a, nullptr);
  EXPECT_NE(a, b);
  EXPECT_TRUE(rt().redirectHandles().valid(reinterpret_cast<uintptr_t>(a)));
  FwpsRedirectHandleDestroy0(a);
  EXPECT_FALSE(rt().redirectHandles().valid(reinterpret_cast<uintptr_t>(a)));
  FwpsRedirectHandleDestroy0(a);
  EXPECT_EQ(take(Code::UseAfterRelease), 1u);
  FwpsRedirectHandleDestroy0(b);
}

TEST_F(S7, S7_2_StatesAlongAProxiedChain) {
  HANDLE ha = newRedirectHandle(), hb = newRedirectHandle(), hc = newRedirectHandle();
  static int ctxA = 1, ctxB = 2;
  // Phase 1: A redirects every connection that is not redirected yet; phase 2: B; phase 3: probe.
  int phase = 1;
  struct Probe {
    FWPS_CONNECTION_REDIRECT_STATE a, b, c, none;
    void *ctxOfA, *ctxOfB, *ctxOfC;
  } probe{};
  addCalloutFilter(guid(2), kCR4, [&](auto, const FWPS_INCOMING_METADATA_VALUES0* m,
                                      const void* ctx, const FWPS_FILTER3* f,
                                      FWPS_CLASSIFY_OUT0* out) {
    if (phase == 3) {
      probe.a = FwpsQueryConnectionRedirectState0(m->redirectRecords, ha, &probe.ctxOfA);
      probe.b = FwpsQueryConnectionRedirectState0(m->redirectRecords, hb, &probe.ctxOfB);
      probe.c = FwpsQueryConnectionRedirectState0(m->redirectRecords, hc, &probe.ctxOfC);
      probe.none = FwpsQueryConnectionRedirectState0(nullptr, ha, nullptr);
      out->actionType = FWP_ACTION_PERMIT;
      return;
    }
    Redirect r;
    r.targetPid = static_cast<DWORD>(phase);
    r.handle = phase == 1 ? ha : hb;
    r.context = phase == 1 ? static_cast<void*>(&ctxA) : static_cast<void*>(&ctxB);
    r.contextSize = sizeof(int);
    redirectInline(ctx, f, out, r);
  });
  auto v1 = connect(request(kDst, 80));  // the application's connection, redirected by A
  ASSERT_TRUE(v1.redirected);
  phase = 2;
  auto r2 = request(kDst, 80);  // A's proxy connects out with the records of connection 1
  r2.proxiedRecords = v1.history;
  auto v2 = connect(r2);
  ASSERT_TRUE(v2.redirected);  // redirected again, by B
  phase = 3;
  auto r3 = request(kDst, 80);  // B's proxy connects out with the records of connection 2
  r3.proxiedRecords = v2.history;
  connect(r3);
  EXPECT_EQ(probe.a, FWPS_CONNECTION_PREVIOUSLY_REDIRECTED_BY_SELF);
  EXPECT_EQ(probe.ctxOfA, &ctxA);
  EXPECT_EQ(probe.b, FWPS_CONNECTION_REDIRECTED_BY_SELF);
  EXPECT_EQ(probe.ctxOfB, &ctxB);
  EXPECT_EQ(probe.c, FWPS_CONNECTION_REDIRECTED_BY_OTHER);
  EXPECT_EQ(probe.ctxOfC, nullptr);
  EXPECT_EQ(probe.none, FWPS_CONNECTION_NOT_REDIRECTED);
  for (HANDLE h : {ha, hb, hc}) FwpsRedirectHandleDestroy0(h);
}

TEST_F(S7, S7_2_FreshConnectionIsNotRedirected) {
  HANDLE ha = newRedirectHandle();
  FWPS_CONNECTION_REDIRECT_STATE s = FWPS_CONNECTION_REDIRECT_STATE_MAX;
  void* ctxOut = reinterpret_cast<void*>(1);
  addCalloutFilter(guid(3), kCR4, [&](auto, const FWPS_INCOMING_METADATA_VALUES0* m, auto, auto,
                                      FWPS_CLASSIFY_OUT0* out) {
    s = FwpsQueryConnectionRedirectState0(m->redirectRecords, ha, &ctxOut);
    out->actionType = FWP_ACTION_PERMIT;
  });
  connect(request(kDst, 80));
  EXPECT_EQ(s, FWPS_CONNECTION_NOT_REDIRECTED);
  EXPECT_EQ(ctxOut, nullptr);
  FwpsRedirectHandleDestroy0(ha);
}

// S7.3: identity is the handle. The application connects over IPv4 and is redirected to a
// dual-stack proxy, whose outbound connection goes over IPv6 with the records attached.
namespace {
struct DualStack {
  FWPS_CONNECTION_REDIRECT_STATE seenAtV6 = FWPS_CONNECTION_REDIRECT_STATE_MAX;
  bool redirectedAgain = false;
};
}  // namespace

static DualStack runDualStack(S7* t, HANDLE v4Handle, HANDLE v6Handle) {
  DualStack out;
  auto body = [&out](HANDLE h, bool v6) {
    return [&out, h, v6](auto, const FWPS_INCOMING_METADATA_VALUES0* m, const void* ctx,
                         const FWPS_FILTER3* f, FWPS_CLASSIFY_OUT0* o) {
      auto state = FwpsQueryConnectionRedirectState0(m->redirectRecords, h, nullptr);
      if (v6) out.seenAtV6 = state;
      if (state == FWPS_CONNECTION_REDIRECTED_BY_SELF ||
          state == FWPS_CONNECTION_PREVIOUSLY_REDIRECTED_BY_SELF) {
        o->actionType = FWP_ACTION_PERMIT;  // my own proxy: leave it alone
        return;
      }
      if (v6) {
        out.redirectedAgain = true;  // the loop bug: the proxy's connection redirected again
        o->actionType = FWP_ACTION_PERMIT;
        return;
      }
      Redirect r;
      r.targetPid = 10;
      r.handle = h;
      redirectInline(ctx, f, o, r);
    };
  };
  t->addCalloutFilterPublic(guid(10), kCR4, body(v4Handle, false));
  t->addCalloutFilterPublic(guid(11), kCR6, body(v6Handle, true));
  auto v1 = t->connectPublic(Harness::requestPublic(kDst, 80));
  EXPECT_TRUE(v1.redirected);
  std::array<uint8_t, 16> original{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  auto r2 = Harness::request6Public(original, 80);
  r2.proxiedRecords = v1.history;
  t->connectPublic(r2);
  return out;
}

TEST_F(S7, S7_3_OneHandleForV4AndV6SeesItsDualStackProxyAsSelf) {
  HANDLE h = newRedirectHandle();
  auto r = runDualStack(this, h, h);
  EXPECT_EQ(r.seenAtV6, FWPS_CONNECTION_REDIRECTED_BY_SELF);
  EXPECT_FALSE(r.redirectedAgain);
  FwpsRedirectHandleDestroy0(h);
}

TEST_F(S7, S7_3_TwoHandlesSeeTheProxyAsOtherTheKnownLoopBug) {
  HANDLE h4 = newRedirectHandle(), h6 = newRedirectHandle();
  auto r = runDualStack(this, h4, h6);
  EXPECT_EQ(r.seenAtV6, FWPS_CONNECTION_REDIRECTED_BY_OTHER);
  EXPECT_TRUE(r.redirectedAgain);
  FwpsRedirectHandleDestroy0(h4);
  FwpsRedirectHandleDestroy0(h6);
}

// S15.4: FwpsPendOperation0 / FwpsCompleteOperation0 at ALE_AUTH_CONNECT, and flow contexts
// (FwpsFlowAssociateContext0 / FwpsFlowRemoveContext0, flowDeleteFn at flow end), C ABI.
#include <thread>

#include "support/wfp_harness.h"

using namespace wfptest;
using openwfp::Action;
using openwfp::verifier::Code;

namespace {

constexpr UINT32 kDst = 0x0A000001;
const GUID kAC4 = FWPM_LAYER_ALE_AUTH_CONNECT_V4;
const GUID kCR4 = FWPM_LAYER_ALE_CONNECT_REDIRECT_V4;

UINT32 flagsOf(const FWPS_INCOMING_VALUES0* v) {
  return v->incomingValue[FWPS_FIELD_ALE_AUTH_CONNECT_V4_FLAGS].value.uint32;
}

// What the pending callout saw in each round.
struct Rounds {
  std::mutex mu;
  std::vector<UINT32> flags;           // FLAGS of each call
  std::vector<NTSTATUS> pendStatus;    // FwpsPendOperation0 of each call
  std::vector<bool> hadCompletionHandle;
  HANDLE context = nullptr;            // of the first (pended) call
};

class S15_4 : public Harness {
 protected:
  // Pends the operation in the first round; in a re-authorization round FwpsPendOperation0
  // fails and the callout answers `reauthAnswer`.
  ClassifyBody pendOnce(Rounds& r, FWP_ACTION_TYPE reauthAnswer, bool absorb = true) {
    return [&r, reauthAnswer, absorb](const FWPS_INCOMING_VALUES0* v,
                                      const FWPS_INCOMING_METADATA_VALUES0* m, const void*,
                                      const FWPS_FILTER3*, FWPS_CLASSIFY_OUT0* out) {
      HANDLE ctx = reinterpret_cast<HANDLE>(1);
      NTSTATUS st = FwpsPendOperation0(m->completionHandle, &ctx);
      std::lock_guard lock(r.mu);
      r.flags.push_back(flagsOf(v));
      r.pendStatus.push_back(st);
      r.hadCompletionHandle.push_back(
          FWPS_IS_METADATA_FIELD_PRESENT(m, FWPS_METADATA_FIELD_COMPLETION_HANDLE));
      if (st == STATUS_SUCCESS) {
        r.context = ctx;
        out->actionType = FWP_ACTION_BLOCK;
        if (absorb) out->flags |= FWPS_CLASSIFY_OUT_FLAG_ABSORB;
      } else {
        EXPECT_EQ(ctx, nullptr) << "completionContext is cleared on failure";
        out->actionType = reauthAnswer;
      }
    };
  }
  std::vector<UINT32> flags(Rounds& r) {
    std::lock_guard lock(r.mu);
    return r.flags;
  }
};

class S15_4Deadline : public S15_4 {
 protected:
  openwfp::RuntimeOptions options() override {
    openwfp::RuntimeOptions o;
    o.pendDeadline = std::chrono::milliseconds(50);
    return o;
  }
};

}  // namespace

// ---- FwpsPendOperation0 / FwpsCompleteOperation0 ----------------------------------------------

TEST_F(S15_4, S15_4_PendedOperationWaitsAndIsReauthorizedAfterComplete) {
  Rounds r;
  addCalloutFilter(guid(1), kAC4, pendOnce(r, FWP_ACTION_PERMIT));
  Pending result;
  rt().classifier().classify(openwfp::StackHook::Connect, request(kDst, 80), result.callback());
  EXPECT_EQ(result.calls, 0) << "the connect waits while the operation is pended";
  ASSERT_EQ(flags(r).size(), 1u);
  EXPECT_TRUE(r.hadCompletionHandle[0]) << "ALE_AUTH_CONNECT carries a completion handle";
  EXPECT_EQ(r.pendStatus[0], STATUS_SUCCESS);
  EXPECT_FALSE(r.flags[0] & FWP_CONDITION_FLAG_IS_REAUTHORIZE);
  ASSERT_NE(r.context, nullptr);
  std::thread completer([&] { FwpsCompleteOperation0(r.context, nullptr); });
  completer.join();
  ASSERT_TRUE(result.wait()) << "FwpsCompleteOperation0 did not resume the connect";
  EXPECT_EQ(result.verdict->action, Action::Permit);
  auto f = flags(r);
  ASSERT_EQ(f.size(), 2u) << "classified again after the completion";
  EXPECT_TRUE(f[1] & FWP_CONDITION_FLAG_IS_REAUTHORIZE);
  EXPECT_EQ(r.pendStatus[1], STATUS_FWP_CANNOT_PEND) << "no pend in a re-authorization";
  EXPECT_EQ(result.calls, 1);
}

TEST_F(S15_4, S15_4_ReauthorizationCanStillBlock) {
  Rounds r;
  addCalloutFilter(guid(2), kAC4, pendOnce(r, FWP_ACTION_BLOCK));
  Pending result;
  rt().classifier().classify(openwfp::StackHook::Connect, request(kDst, 80), result.callback());
  ASSERT_NE(r.context, nullptr);
  FwpsCompleteOperation0(r.context, nullptr);
  ASSERT_TRUE(result.wait());
  EXPECT_EQ(result.verdict->action, Action::Block);
  EXPECT_EQ(flags(r).size(), 2u);
}

TEST_F(S15_4, S15_4_CompleteFromInsideClassifyFnReauthorizesAtOnce) {
  std::atomic<int> calls{0};
  addCalloutFilter(guid(3), kAC4, [&](auto, const FWPS_INCOMING_METADATA_VALUES0* m, auto, auto,
                                      FWPS_CLASSIFY_OUT0* out) {
    if (calls++ == 0) {
      HANDLE ctx = nullptr;
      ASSERT_EQ(FwpsPendOperation0(m->completionHandle, &ctx), STATUS_SUCCESS);
      FwpsCompleteOperation0(ctx, nullptr);
      out->actionType = FWP_ACTION_BLOCK;
      out->flags |= FWPS_CLASSIFY_OUT_FLAG_ABSORB;
    } else {
      out->actionType = FWP_ACTION_PERMIT;
    }
  });
  EXPECT_EQ(connect(request(kDst, 80)).action, Action::Permit);
  EXPECT_EQ(calls.load(), 2);
}

TEST_F(S15_4, S15_4_RedirectLayersOfferNoCompletionHandle) {
  NTSTATUS st = STATUS_SUCCESS;
  bool present = true;
  HANDLE ctx = reinterpret_cast<HANDLE>(1);
  addCalloutFilter(guid(4), kCR4, [&](auto, const FWPS_INCOMING_METADATA_VALUES0* m, auto, auto,
                                      FWPS_CLASSIFY_OUT0* out) {
    present = FWPS_IS_METADATA_FIELD_PRESENT(m, FWPS_METADATA_FIELD_COMPLETION_HANDLE);
    st = FwpsPendOperation0(m->completionHandle, &ctx);
    out->actionType = FWP_ACTION_PERMIT;
  });
  EXPECT_EQ(connect(request(kDst, 80)).action, Action::Permit);
  EXPECT_FALSE(present);
  EXPECT_EQ(st, STATUS_FWP_CANNOT_PEND);
  EXPECT_EQ(ctx, nullptr);
  EXPECT_EQ(take(Code::InvalidArgument), 1u) << "the verifier says the layer cannot pend";
  auto v = rt().verifier().violations();
  ASSERT_FALSE(v.empty());
  EXPECT_NE(v.back().message.find("FwpsPendClassify0"), std::string::npos) << v.back().message;
}

TEST_F(S15_4, S15_4_BadArgumentsAndStaleContextsAreReported) {
  HANDLE ctx = reinterpret_cast<HANDLE>(1);
  EXPECT_EQ(FwpsPendOperation0(nullptr, &ctx), STATUS_FWP_NULL_POINTER);
  EXPECT_EQ(ctx, nullptr);
  EXPECT_EQ(take(Code::InvalidArgument), 1u);
  Rounds r;
  addCalloutFilter(guid(5), kAC4, pendOnce(r, FWP_ACTION_PERMIT));
  Pending result;
  rt().classifier().classify(openwfp::StackHook::Connect, request(kDst, 80), result.callback());
  ASSERT_NE(r.context, nullptr);
  FwpsCompleteOperation0(r.context, nullptr);
  ASSERT_TRUE(result.wait());
  FwpsCompleteOperation0(r.context, nullptr);  // the classify has ended
  EXPECT_EQ(take(Code::UseAfterRelease), 1u);
  FwpsCompleteOperation0(reinterpret_cast<HANDLE>(0x5151), nullptr);
  EXPECT_EQ(take(Code::UseAfterRelease), 1u);
}

TEST_F(S15_4, S15_4_PendWithoutAbsorbIsReported) {
  Rounds r;
  addCalloutFilter(guid(6), kAC4, pendOnce(r, FWP_ACTION_PERMIT, /*absorb=*/false));
  Pending result;
  rt().classifier().classify(openwfp::StackHook::Connect, request(kDst, 80), result.callback());
  EXPECT_EQ(take(Code::PendWithoutBlock), 1u);
  ASSERT_NE(r.context, nullptr);
  FwpsCompleteOperation0(r.context, nullptr);
  ASSERT_TRUE(result.wait());
  EXPECT_EQ(result.verdict->action, Action::Permit);
}

TEST_F(S15_4Deadline, S15_4_NeverCompletedOperationIsBlockedAtTheDeadline) {
  Rounds r;
  addCalloutFilter(guid(7), kAC4, pendOnce(r, FWP_ACTION_PERMIT));
  Pending result;
  rt().classifier().classify(openwfp::StackHook::Connect, request(kDst, 80), result.callback());
  ASSERT_TRUE(result.wait(std::chrono::seconds(5))) << "the deadline did not end the pend";
  EXPECT_EQ(result.verdict->action, Action::Block);
  EXPECT_TRUE(result.verdict->timedOut);
  EXPECT_EQ(take(Code::PendNeverCompleted), 1u);
  FwpsCompleteOperation0(r.context, nullptr);  // too late: reported, no second verdict
  EXPECT_EQ(take(Code::UseAfterRelease), 1u);
  EXPECT_EQ(result.calls, 1);
}

TEST_F(S15_4, S15_4_PendedOperationKeepsTheCalloutRegistered) {
  Rounds r;
  auto cf = addCalloutFilter(guid(8), kAC4, pendOnce(r, FWP_ACTION_PERMIT));
  Pending result;
  rt().classifier().classify(openwfp::StackHook::Connect, request(kDst, 80), result.callback());
  EXPECT_EQ(FwpsCalloutUnregisterById0(cf.calloutId), STATUS_DEVICE_BUSY);
  FwpsCompleteOperation0(r.context, nullptr);
  ASSERT_TRUE(result.wait());
  EXPECT_EQ(FwpsCalloutUnregisterById0(cf.calloutId), STATUS_SUCCESS);
}

// ---- flow contexts ------------------------------------------------------------------------------

namespace {

// Associates `context` with the classified flow at ALE_AUTH_CONNECT_V4 and answers `answer`.
ClassifyBody associating(UINT64 context, FWP_ACTION_TYPE answer, UINT64* flowId, NTSTATUS* status) {
  return [=](auto, const FWPS_INCOMING_METADATA_VALUES0* m, auto, const FWPS_FILTER3* f,
             FWPS_CLASSIFY_OUT0* out) {
    EXPECT_TRUE(FWPS_IS_METADATA_FIELD_PRESENT(m, FWPS_METADATA_FIELD_FLOW_HANDLE));
    *flowId = m->flowHandle;
    *status = FwpsFlowAssociateContext0(m->flowHandle, FWPS_LAYER_ALE_AUTH_CONNECT_V4,
                                        f->action.calloutId, context);
    out->actionType = answer;
  };
}

}  // namespace

TEST_F(S15_4, S15_4_FlowDeleteRunsOnceWhenTheFlowEnds) {
  UINT64 flow = 0;
  NTSTATUS st = STATUS_UNSUCCESSFUL;
  auto cf = addCalloutFilter(guid(10), kAC4, associating(0xC0FFEE, FWP_ACTION_PERMIT, &flow, &st));
  ConnectVerdict v = connect(request(kDst, 80));
  ASSERT_EQ(v.action, Action::Permit);
  ASSERT_EQ(st, STATUS_SUCCESS);
  EXPECT_NE(flow, 0u);
  auto s = script(cf.calloutId);
  EXPECT_TRUE(s->flowDeleted().empty()) << "the flow is still open";
  EXPECT_EQ(FwpsCalloutUnregisterById0(cf.calloutId), STATUS_DEVICE_BUSY);
  rt().classifier().connectionClosed(v.history);
  auto d = s->flowDeleted();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].layerId, FWPS_LAYER_ALE_AUTH_CONNECT_V4);
  EXPECT_EQ(d[0].calloutId, cf.calloutId);
  EXPECT_EQ(d[0].flowContext, 0xC0FFEEu);
  rt().classifier().connectionClosed(v.history);  // reported twice: still once
  EXPECT_EQ(s->flowDeleted().size(), 1u);
  EXPECT_EQ(FwpsCalloutUnregisterById0(cf.calloutId), STATUS_SUCCESS)
      << "the flow's end released the callout";
}

TEST_F(S15_4, S15_4_FlowDeleteRunsWhenTheConnectIsBlocked) {
  UINT64 flow = 0;
  NTSTATUS st = STATUS_UNSUCCESSFUL;
  auto cf = addCalloutFilter(guid(11), kAC4, associating(0xB10C, FWP_ACTION_BLOCK, &flow, &st));
  EXPECT_EQ(connect(request(kDst, 80)).action, Action::Block);
  ASSERT_EQ(st, STATUS_SUCCESS);
  auto d = script(cf.calloutId)->flowDeleted();
  ASSERT_EQ(d.size(), 1u) << "a blocked connect's flow never lives";
  EXPECT_EQ(d[0].flowContext, 0xB10Cu);
}

TEST_F(S15_4, S15_4_RemoveContextCallsFlowDeleteOnce) {
  UINT64 flow = 0;
  NTSTATUS st = STATUS_UNSUCCESSFUL;
  auto cf = addCalloutFilter(guid(12), kAC4, associating(0x77, FWP_ACTION_PERMIT, &flow, &st));
  ConnectVerdict v = connect(request(kDst, 80));
  ASSERT_EQ(st, STATUS_SUCCESS);
  auto s = script(cf.calloutId);
  EXPECT_EQ(FwpsFlowRemoveContext0(flow, FWPS_LAYER_ALE_AUTH_CONNECT_V4, cf.calloutId), STATUS_SUCCESS);
  ASSERT_EQ(s->flowDeleted().size(), 1u) << "removal calls flowDeleteFn synchronously";
  EXPECT_EQ(s->flowDeleted()[0].flowContext, 0x77u);
  EXPECT_EQ(FwpsFlowRemoveContext0(flow, FWPS_LAYER_ALE_AUTH_CONNECT_V4, cf.calloutId),
            STATUS_UNSUCCESSFUL);
  rt().classifier().connectionClosed(v.history);
  EXPECT_EQ(s->flowDeleted().size(), 1u) << "a removed context is not deleted again";
}

TEST_F(S15_4, S15_4_AssociateChecksItsArguments) {
  UINT64 flow = 0;
  NTSTATUS st = STATUS_UNSUCCESSFUL;
  auto cf = addCalloutFilter(guid(13), kAC4, associating(0x1, FWP_ACTION_PERMIT, &flow, &st));
  ConnectVerdict v = connect(request(kDst, 80));
  ASSERT_EQ(st, STATUS_SUCCESS);
  const UINT16 layer = FWPS_LAYER_ALE_AUTH_CONNECT_V4;
  EXPECT_EQ(FwpsFlowAssociateContext0(flow, layer, cf.calloutId, 0), STATUS_INVALID_PARAMETER);
  EXPECT_EQ(FwpsFlowAssociateContext0(flow, layer, cf.calloutId, 0x2), STATUS_OBJECT_NAME_EXISTS);
  EXPECT_EQ(FwpsFlowAssociateContext0(flow, layer, 0xFFFF, 0x2), STATUS_INVALID_PARAMETER);
  // A callout registered without flowDeleteFn cannot carry flow contexts.
  FWPS_CALLOUT3 c{};
  c.calloutKey = guid(14);
  c.classifyFn = scriptedClassify3;
  UINT32 noDelete = 0;
  ASSERT_EQ(FwpsCalloutRegister3(device, &c, &noDelete), STATUS_SUCCESS);
  EXPECT_EQ(FwpsFlowAssociateContext0(flow, layer, noDelete, 0x3), STATUS_INVALID_PARAMETER);
  EXPECT_EQ(FwpsCalloutUnregisterById0(noDelete), STATUS_SUCCESS);
  rt().classifier().connectionClosed(v.history);
  auto d = script(cf.calloutId)->flowDeleted();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].flowContext, 0x1u) << "the first context stays (OBJECT_NAME_EXISTS changed nothing)";
}

// S6: pending and completing classifies (C ABI).
#include <algorithm>
#include <random>
#include <thread>

#include "support/wfp_harness.h"
#include "verifier/pool.h"

using namespace wfptest;
using openwfp::Action;
using openwfp::verifier::Code;

namespace {

constexpr UINT32 kDst = 0x0A000001;
const GUID kCR4 = FWPM_LAYER_ALE_CONNECT_REDIRECT_V4;

class S6 : public Harness {
 protected:
  // A callout that pends every classify and records its classify handle.
  struct Pender {
    std::mutex mu;
    std::vector<UINT64> handles;
    UINT64 filterId = 0;
    int calls = 0;
  };
  ClassifyBody pender(Pender& p, bool returnBlock = true) {
    return [&p, returnBlock](auto, auto, const void* ctx, const FWPS_FILTER3* f,
                             FWPS_CLASSIFY_OUT0* out) {
      UINT64 h = 0;
      ASSERT_EQ(FwpsAcquireClassifyHandle0(const_cast<void*>(ctx), 0, &h), STATUS_SUCCESS);
      ASSERT_EQ(FwpsPendClassify0(h, f->filterId, 0, out), STATUS_SUCCESS);
      {
        std::lock_guard lock(p.mu);
        p.handles.push_back(h);
        p.filterId = f->filterId;
        ++p.calls;
      }
      if (returnBlock) {
        out->actionType = FWP_ACTION_BLOCK;
        out->rights &= ~FWPS_RIGHT_ACTION_WRITE;
      } else {
        out->actionType = FWP_ACTION_PERMIT;
      }
    };
  }
  static FWPS_CLASSIFY_OUT0 decision(FWP_ACTION_TYPE a) {
    FWPS_CLASSIFY_OUT0 o{};
    o.actionType = a;
    return o;
  }
};

class S6Deadline : public S6 {
 protected:
  openwfp::RuntimeOptions options() override {
    openwfp::RuntimeOptions o;
    o.pendDeadline = std::chrono::milliseconds(50);
    return o;
  }
};

}  // namespace

// ---- S6.1 -----------------------------------------------------------------------------------------

TEST_F(S6, S6_1_PendLeavesTheConnectBlockedAndHoldsTheHandle) {
  Pender p;
  addCalloutFilter(guid(1), kCR4, pender(p));
  Pending result;
  rt().classifier().classify(openwfp::StackHook::Connect, request(kDst, 80), result.callback());
  EXPECT_EQ(result.calls, 0) << "the connect must stay blocked";
  ASSERT_EQ(p.handles.size(), 1u);
  UINT64 h = p.handles[0];
  FwpsReleaseClassifyHandle0(h);  // the pend keeps its own reference (S6.1)
  FWPS_CLASSIFY_OUT0 o = decision(FWP_ACTION_PERMIT);
  FwpsCompleteClassify0(h, 0, &o);  // complete after release: reported, still no crash
  EXPECT_EQ(take(Code::UseAfterRelease), 1u);
  ASSERT_TRUE(result.wait());
  EXPECT_EQ(result.verdict->action, Action::Permit);
}

TEST_F(S6, S6_1_PendAtAuthConnectIsCannotPend) {
  NTSTATUS st = 0;
  addCalloutFilter(guid(2), FWPM_LAYER_ALE_AUTH_CONNECT_V4,
                   [&](auto, auto, const void* ctx, const FWPS_FILTER3* f, FWPS_CLASSIFY_OUT0* out) {
                     UINT64 h = 0;
                     FwpsAcquireClassifyHandle0(const_cast<void*>(ctx), 0, &h);
                     st = FwpsPendClassify0(h, f->filterId, 0, out);
                     FwpsReleaseClassifyHandle0(h);
                     out->actionType = FWP_ACTION_PERMIT;
                   });
  EXPECT_EQ(connect(request(kDst, 80)).action, Action::Permit);
  EXPECT_EQ(st, STATUS_FWP_CANNOT_PEND);
}

TEST_F(S6, S6_1_PendAtBindRedirectWorks) {
  Pender p;
  addCalloutFilter(guid(3), FWPM_LAYER_ALE_BIND_REDIRECT_V4, pender(p));
  Pending result;
  openwfp::BindRequest b;
  b.local = Endpoint::v4(0x7F000001, 8080);
  rt().classifier().classify(openwfp::StackHook::Bind, b, result.bindCallback());
  EXPECT_EQ(result.calls, 0);
  ASSERT_EQ(p.handles.size(), 1u);
  FWPS_CLASSIFY_OUT0 o = decision(FWP_ACTION_BLOCK);
  FwpsCompleteClassify0(p.handles[0], 0, &o);
  FwpsReleaseClassifyHandle0(p.handles[0]);
  ASSERT_TRUE(result.wait());
  EXPECT_EQ(result.bind->action, Action::Block);
}

TEST_F(S6, S6_1_PendMustReturnBlockWithTheWriteRightCleared) {
  Pender p;
  addCalloutFilter(guid(4), kCR4, pender(p, /*returnBlock=*/false));
  Pending result;
  rt().classifier().classify(openwfp::StackHook::Connect, request(kDst, 80), result.callback());
  EXPECT_EQ(take(Code::PendWithoutBlock), 1u);
  ASSERT_EQ(p.handles.size(), 1u);
  FWPS_CLASSIFY_OUT0 o = decision(FWP_ACTION_PERMIT);
  FwpsCompleteClassify0(p.handles[0], 0, &o);
  FwpsReleaseClassifyHandle0(p.handles[0]);
  ASSERT_TRUE(result.wait());
}

TEST_F(S6, S6_1_UnregisterWhilePendedIsDeviceBusy) {
  Pender p;
  GUID key = guid(5);
  addCalloutFilter(key, kCR4, pender(p));
  Pending result;
  rt().classifier().classify(openwfp::StackHook::Connect, request(kDst, 80), result.callback());
  EXPECT_EQ(FwpsCalloutUnregisterByKey0(&key), STATUS_DEVICE_BUSY);
  FWPS_CLASSIFY_OUT0 o = decision(FWP_ACTION_PERMIT);
  FwpsCompleteClassify0(p.handles[0], 0, &o);
  FwpsReleaseClassifyHandle0(p.handles[0]);
  ASSERT_TRUE(result.wait());
  EXPECT_EQ(FwpsCalloutUnregisterByKey0(&key), STATUS_SUCCESS);
}

// ---- S6.2 -----------------------------------------------------------------------------------------

TEST_F(S6, S6_2_CompleteFromAnotherThreadResumesWithTheRemainingFilters) {
  GUID high = guid(10), low = guid(11);
  addSubLayer(high, 900);
  addSubLayer(low, 100);
  Pender p;
  addCalloutFilter(guid(12), kCR4, pender(p), &high);
  std::atomic<int> lowerCalls{0};
  std::atomic<FWP_ACTION_TYPE> lowerSaw{0};
  addCalloutFilter(guid(13), kCR4, [&](auto, auto, auto, auto, FWPS_CLASSIFY_OUT0* out) {
    ++lowerCalls;
    lowerSaw = out->actionType;
    out->actionType = FWP_ACTION_PERMIT;
  }, &low);
  Pending result;
  rt().classifier().classify(openwfp::StackHook::Connect, request(kDst, 80), result.callback());
  EXPECT_EQ(lowerCalls.load(), 0) << "arbitration is suspended at the pended filter";
  std::thread completer([&] {
    FWPS_CLASSIFY_OUT0 o = decision(FWP_ACTION_PERMIT);
    FwpsCompleteClassify0(p.handles[0], 0, &o);
    FwpsReleaseClassifyHandle0(p.handles[0]);
  });
  completer.join();
  ASSERT_TRUE(result.wait());
  EXPECT_EQ(result.verdict->action, Action::Permit);
  EXPECT_EQ(lowerCalls.load(), 1);
  EXPECT_EQ(lowerSaw.load(), static_cast<FWP_ACTION_TYPE>(FWP_ACTION_PERMIT));  // the completion
}

TEST_F(S6, S6_2_TheCompletedClassifyOutIsCopied) {
  Pender p;
  addCalloutFilter(guid(14), kCR4, pender(p));
  Pending result;
  rt().classifier().classify(openwfp::StackHook::Connect, request(kDst, 80), result.callback());
  {
    FWPS_CLASSIFY_OUT0 o = decision(FWP_ACTION_BLOCK);
    FwpsCompleteClassify0(p.handles[0], 0, &o);
    o.actionType = FWP_ACTION_PERMIT;  // changing the caller's copy afterwards has no effect
  }
  FwpsReleaseClassifyHandle0(p.handles[0]);
  ASSERT_TRUE(result.wait());
  EXPECT_EQ(result.verdict->action, Action::Block);
}

TEST_F(S6, S6_2_NullClassifyOutReauthorizes) {
  std::vector<UINT32> flags;
  UINT64 handle = 0;
  addCalloutFilter(guid(15), kCR4, [&](const FWPS_INCOMING_VALUES0* v, auto, const void* ctx,
                                       const FWPS_FILTER3* f, FWPS_CLASSIFY_OUT0* out) {
    flags.push_back(v->incomingValue[FWPS_FIELD_ALE_CONNECT_REDIRECT_V4_FLAGS].value.uint32);
    if (flags.size() > 1) {
      out->actionType = FWP_ACTION_PERMIT;
      return;
    }
    FwpsAcquireClassifyHandle0(const_cast<void*>(ctx), 0, &handle);
    FwpsPendClassify0(handle, f->filterId, 0, out);
    out->actionType = FWP_ACTION_BLOCK;
    out->rights = 0;
  });
  Pending result;
  rt().classifier().classify(openwfp::StackHook::Connect, request(kDst, 80), result.callback());
  EXPECT_EQ(result.calls, 0);
  FwpsCompleteClassify0(handle, 0, nullptr);
  FwpsReleaseClassifyHandle0(handle);
  ASSERT_TRUE(result.wait());
  EXPECT_EQ(result.verdict->action, Action::Permit);
  ASSERT_EQ(flags.size(), 2u);
  EXPECT_NE(flags[1] & FWP_CONDITION_FLAG_IS_REAUTHORIZE, 0u);
}

TEST_F(S6, S6_2_ApplyCompleteReleaseAsynchronouslyRedirects) {
  HANDLE rh = newRedirectHandle();
  Pender p;
  addCalloutFilter(guid(16), kCR4, pender(p));
  Pending result;
  rt().classifier().classify(openwfp::StackHook::Connect, request(kDst, 80), result.callback());
  UINT64 h = p.handles[0];
  std::thread worker([&] {
    FWPS_CLASSIFY_OUT0 o{};
    o.rights = FWPS_RIGHT_ACTION_WRITE;
    void* data = nullptr;
    ASSERT_EQ(FwpsAcquireWritableLayerDataPointer0(h, p.filterId, 0, &data, &o), STATUS_SUCCESS);
    auto* req = static_cast<FWPS_CONNECT_REQUEST0*>(data);
    setV4(req->remoteAddressAndPort, 0x7F000001, 9000);
    req->localRedirectTargetPID = 99;
    req->localRedirectHandle = rh;
    FwpsApplyModifiedLayerData0(h, data, 0);
    o.actionType = FWP_ACTION_PERMIT;
    FwpsCompleteClassify0(h, 0, &o);
    FwpsReleaseClassifyHandle0(h);
  });
  worker.join();
  ASSERT_TRUE(result.wait());
  EXPECT_TRUE(result.verdict->redirected);
  EXPECT_EQ(result.verdict->finalRemote, Endpoint::v4(0x7F000001, 9000));
  EXPECT_EQ(result.verdict->redirectTargetPid, 99u);
  FwpsRedirectHandleDestroy0(rh);
}

// ---- S6.3 -----------------------------------------------------------------------------------------

TEST_F(S6, S6_3_TenThousandPendedCompletedInAnyOrder) {
  Pender p;
  addCalloutFilter(guid(20), kCR4, pender(p));
  constexpr int kN = 10000;
  std::vector<std::unique_ptr<Pending>> results(kN);
  for (int i = 0; i < kN; ++i) {
    results[i] = std::make_unique<Pending>();
    auto r = request(0x0A000000u + static_cast<UINT32>(i), static_cast<UINT16>(1 + i % 60000));
    rt().classifier().classify(openwfp::StackHook::Connect, r, results[i]->callback());
  }
  ASSERT_EQ(p.handles.size(), static_cast<size_t>(kN));
  // Map handle -> request index through the order of pends (one pend per connect, in order).
  std::vector<int> order(kN);
  for (int i = 0; i < kN; ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), std::mt19937(7));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int k = t; k < kN; k += 4) {
        int i = order[k];
        FWPS_CLASSIFY_OUT0 o = decision(i % 2 ? FWP_ACTION_PERMIT : FWP_ACTION_BLOCK);
        FwpsCompleteClassify0(p.handles[i], 0, &o);
        FwpsReleaseClassifyHandle0(p.handles[i]);
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kN; ++i) {
    ASSERT_TRUE(results[i]->wait(std::chrono::seconds(1))) << i;
    EXPECT_EQ(results[i]->calls, 1);
    EXPECT_EQ(results[i]->verdict->action, i % 2 ? Action::Permit : Action::Block) << i;
  }
}

// ---- S6.4 -----------------------------------------------------------------------------------------

TEST_F(S6Deadline, S6_4_NeverCompletedPendIsBlockedAtTheDeadline) {
  HANDLE rh = newRedirectHandle();
  void* ctxMem = nullptr;
  UINT64 handle = 0;
  addCalloutFilter(guid(30), kCR4, [&](auto, auto, const void* ctx, const FWPS_FILTER3* f,
                                       FWPS_CLASSIFY_OUT0* out) {
    FwpsAcquireClassifyHandle0(const_cast<void*>(ctx), 0, &handle);
    FwpsPendClassify0(handle, f->filterId, 0, out);
    void* data = nullptr;
    FwpsAcquireWritableLayerDataPointer0(handle, f->filterId, 0, &data, out);
    auto* req = static_cast<FWPS_CONNECT_REQUEST0*>(data);
    ctxMem = ExAllocatePool2(POOL_FLAG_NON_PAGED, 32, 0x52637478);
    setV4(req->remoteAddressAndPort, 0x7F000001, 9000);
    req->localRedirectTargetPID = 5;
    req->localRedirectHandle = rh;
    req->localRedirectContext = ctxMem;
    req->localRedirectContextSize = 32;
    FwpsApplyModifiedLayerData0(handle, data, 0);
    out->actionType = FWP_ACTION_BLOCK;
    out->rights = 0;
    // ... and the driver forgets to complete.
  });
  Pending result;
  auto t0 = std::chrono::steady_clock::now();
  rt().classifier().classify(openwfp::StackHook::Connect, request(kDst, 80), result.callback());
  ASSERT_TRUE(result.wait(std::chrono::seconds(5)));
  auto elapsed = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(elapsed, std::chrono::milliseconds(40));
  EXPECT_EQ(result.verdict->action, Action::Block);
  EXPECT_TRUE(result.verdict->timedOut);
  EXPECT_EQ(take(Code::PendNeverCompleted), 1u);
  EXPECT_FALSE(rt().pool().isLive(ctxMem)) << "the engine-owned context leaked";
  EXPECT_TRUE(result.verdict->history->empty());
  // The driver's own handle is still held: releasing it works; completing now is reported.
  FWPS_CLASSIFY_OUT0 o = decision(FWP_ACTION_PERMIT);
  FwpsCompleteClassify0(handle, 0, &o);
  EXPECT_EQ(take(Code::DoubleComplete), 1u);
  FwpsReleaseClassifyHandle0(handle);
  EXPECT_EQ(engine().unreleasedHandles("", false), 0u);
  FwpsRedirectHandleDestroy0(rh);
}

// ---- S6.5 -----------------------------------------------------------------------------------------

TEST_F(S6, S6_5_DoubleCompleteAndUseAfterReleaseAreReportedWithoutCrashing) {
  Pender p;
  addCalloutFilter(guid(40), kCR4, pender(p));
  Pending result;
  rt().classifier().classify(openwfp::StackHook::Connect, request(kDst, 80), result.callback());
  UINT64 h = p.handles[0];
  FWPS_CLASSIFY_OUT0 o = decision(FWP_ACTION_PERMIT);
  FwpsCompleteClassify0(h, 0, &o);
  ASSERT_TRUE(result.wait());
  FwpsCompleteClassify0(h, 0, &o);  // twice
  EXPECT_EQ(take(Code::DoubleComplete), 1u);
  FwpsReleaseClassifyHandle0(h);
  FwpsCompleteClassify0(h, 0, &o);  // after release
  void* data = nullptr;
  EXPECT_NE(FwpsAcquireWritableLayerDataPointer0(h, p.filterId, 0, &data, &o), STATUS_SUCCESS);
  EXPECT_EQ(FwpsPendClassify0(h, p.filterId, 0, &o), STATUS_INVALID_HANDLE);
  FwpsReleaseClassifyHandle0(h);
  EXPECT_EQ(take(Code::UseAfterRelease), 4u);
  EXPECT_EQ(result.calls, 1);
}

TEST_F(S6, S6_5_StaleHandleAfterClassifyEndedIsReported) {
  UINT64 kept = 0;
  addCalloutFilter(guid(41), kCR4, [&](auto, auto, const void* ctx, auto, FWPS_CLASSIFY_OUT0* out) {
    FwpsAcquireClassifyHandle0(const_cast<void*>(ctx), 0, &kept);
    FwpsReleaseClassifyHandle0(kept);
    out->actionType = FWP_ACTION_PERMIT;
  });
  connect(request(kDst, 80));
  FWPS_CLASSIFY_OUT0 o = decision(FWP_ACTION_PERMIT);
  FwpsCompleteClassify0(kept, 0, &o);
  EXPECT_EQ(take(Code::UseAfterRelease), 1u);
}

// S8: FwpsQueryConnectionSioFormatRedirectRecords0, every sub-clause.
#include <thread>

#include "runtime/records_api.h"
#include "redirect/records.h"
#include "support/wfp_harness.h"

using namespace wfptest;
using openwfp::Action;
using openwfp::verifier::Code;

namespace {

constexpr UINT32 kDst = 0x0A000001;
const GUID kCR4 = FWPM_LAYER_ALE_CONNECT_REDIRECT_V4;

class S8 : public Harness {
 protected:
  // Registers a callout that redirects to a local proxy (handle `rh`) and then runs `probe` with
  // the records handle, inside classifyFn.
  void redirectThen(HANDLE rh, std::function<void(HANDLE records)> probe) {
    addCalloutFilter(guid(1), kCR4, [rh, probe](auto, const FWPS_INCOMING_METADATA_VALUES0* m,
                                                const void* ctx, const FWPS_FILTER3* f,
                                                FWPS_CLASSIFY_OUT0* out) {
      Redirect r;
      r.targetPid = 300;
      r.handle = rh;
      redirectInline(ctx, f, out, r);
      probe(m->redirectRecords);
    });
  }
};

struct alignas(16) Buffer {
  uint8_t bytes[512];
};

}  // namespace

TEST_F(S8, S8_1_NullHandleIsNotFound) {
  Buffer b;
  SIZE_T n = 77;
  EXPECT_EQ(FwpsQueryConnectionSioFormatRedirectRecords0(nullptr, b.bytes, sizeof b.bytes, &n),
            STATUS_NOT_FOUND);
  EXPECT_EQ(n, 0u);
  EXPECT_EQ(FwpsQueryConnectionSioFormatRedirectRecords0(nullptr, nullptr, 0, nullptr),
            STATUS_NOT_FOUND);
}

TEST_F(S8, S8_2_SuccessWritesTheSealedRecords) {
  HANDLE rh = newRedirectHandle();
  NTSTATUS st = 0;
  SIZE_T n = 0;
  std::vector<uint8_t> got;
  redirectThen(rh, [&](HANDLE records) {
    Buffer b;
    st = FwpsQueryConnectionSioFormatRedirectRecords0(records, b.bytes, sizeof b.bytes, &n);
    got.assign(b.bytes, b.bytes + n);
  });
  auto v = connect(request(kDst, 80));
  EXPECT_EQ(st, STATUS_SUCCESS);
  EXPECT_EQ(n, openwfp::redirect::RecordsSealer::sizeFor(1));
  EXPECT_EQ(got, openwfp::runtime::seal(*v.history));
  FwpsRedirectHandleDestroy0(rh);
}

TEST_F(S8, S8_3_SizeProbeAndShortBufferReturnTheRequiredSizeAndWriteNothing) {
  HANDLE rh = newRedirectHandle();
  NTSTATUS probe = 0, shortSt = 0, exact = 0;
  SIZE_T need = 0, shortN = 0, exactN = 0;
  bool untouched = true;
  redirectThen(rh, [&](HANDLE records) {
    probe = FwpsQueryConnectionSioFormatRedirectRecords0(records, nullptr, 0, &need);
    Buffer b;
    std::memset(b.bytes, 0x5A, sizeof b.bytes);
    shortSt = FwpsQueryConnectionSioFormatRedirectRecords0(records, b.bytes, need - 1, &shortN);
    for (uint8_t x : b.bytes) untouched = untouched && x == 0x5A;
    exact = FwpsQueryConnectionSioFormatRedirectRecords0(records, b.bytes, need, &exactN);
  });
  connect(request(kDst, 80));
  EXPECT_EQ(probe, STATUS_BUFFER_TOO_SMALL);
  EXPECT_GT(need, 0u);
  EXPECT_EQ(shortSt, STATUS_BUFFER_TOO_SMALL);
  EXPECT_EQ(shortN, need);
  EXPECT_TRUE(untouched);
  EXPECT_EQ(exact, STATUS_SUCCESS);
  EXPECT_EQ(exactN, need);
  FwpsRedirectHandleDestroy0(rh);
}

TEST_F(S8, S8_4_MisalignedBufferIsRejectedAndReported) {
  HANDLE rh = newRedirectHandle();
  NTSTATUS st = 0;
  bool untouched = true;
  SIZE_T n = 5;
  redirectThen(rh, [&](HANDLE records) {
    Buffer b;
    std::memset(b.bytes, 0x5A, sizeof b.bytes);
    st = FwpsQueryConnectionSioFormatRedirectRecords0(records, b.bytes + 1, sizeof b.bytes - 1, &n);
    for (uint8_t x : b.bytes) untouched = untouched && x == 0x5A;
  });
  connect(request(kDst, 80));
  EXPECT_EQ(st, STATUS_DATATYPE_MISALIGNMENT);
  EXPECT_TRUE(untouched);
  EXPECT_EQ(n, 0u);
  EXPECT_EQ(take(Code::MisalignedSioBuffer), 1u);
  FwpsRedirectHandleDestroy0(rh);
}

TEST_F(S8, S8_5_BytesTransferredMayBeNullEverywhere) {
  HANDLE rh = newRedirectHandle();
  std::vector<NTSTATUS> st;
  redirectThen(rh, [&](HANDLE records) {
    Buffer b;
    st.push_back(FwpsQueryConnectionSioFormatRedirectRecords0(records, nullptr, 0, nullptr));
    st.push_back(FwpsQueryConnectionSioFormatRedirectRecords0(records, b.bytes, 3, nullptr));
    st.push_back(FwpsQueryConnectionSioFormatRedirectRecords0(records, b.bytes + 1, 300, nullptr));
    st.push_back(FwpsQueryConnectionSioFormatRedirectRecords0(records, b.bytes, sizeof b.bytes, nullptr));
  });
  auto v = connect(request(kDst, 80));
  ASSERT_EQ(st.size(), 4u);
  EXPECT_EQ(st[0], STATUS_BUFFER_TOO_SMALL);
  EXPECT_EQ(st[1], STATUS_BUFFER_TOO_SMALL);
  EXPECT_EQ(st[2], STATUS_DATATYPE_MISALIGNMENT);
  EXPECT_EQ(st[3], STATUS_SUCCESS);
  EXPECT_EQ(take(Code::MisalignedSioBuffer), 1u);
  EXPECT_EQ(FwpsQueryConnectionSioFormatRedirectRecords0(nullptr, nullptr, 0, nullptr), STATUS_NOT_FOUND);
  FwpsRedirectHandleDestroy0(rh);
}

TEST_F(S8, S8_6_HandleValidDuringClassifyAndWhilePendedThenStale) {
  UINT64 ch = 0;
  HANDLE records = nullptr;
  UINT64 filterId = 0;
  addCalloutFilter(guid(2), kCR4, [&](auto, const FWPS_INCOMING_METADATA_VALUES0* m,
                                      const void* ctx, const FWPS_FILTER3* f,
                                      FWPS_CLASSIFY_OUT0* out) {
    EXPECT_TRUE(FWPS_IS_METADATA_FIELD_PRESENT(m, FWPS_METADATA_FIELD_REDIRECT_RECORD_HANDLE));
    records = m->redirectRecords;
    filterId = f->filterId;
    FwpsAcquireClassifyHandle0(const_cast<void*>(ctx), 0, &ch);
    FwpsPendClassify0(ch, f->filterId, 0, out);
    out->actionType = FWP_ACTION_BLOCK;
    out->rights = 0;
  });
  Pending result;
  rt().classifier().classify(openwfp::StackHook::Connect, request(kDst, 80), result.callback());
  ASSERT_NE(records, nullptr);
  Buffer b;
  SIZE_T n = 0;
  EXPECT_EQ(FwpsQueryConnectionSioFormatRedirectRecords0(records, b.bytes, sizeof b.bytes, &n),
            STATUS_SUCCESS) << "valid while pended";
  FWPS_CLASSIFY_OUT0 o{};
  o.actionType = FWP_ACTION_PERMIT;
  FwpsCompleteClassify0(ch, 0, &o);
  FwpsReleaseClassifyHandle0(ch);
  ASSERT_TRUE(result.wait());
  EXPECT_EQ(FwpsQueryConnectionSioFormatRedirectRecords0(records, b.bytes, sizeof b.bytes, &n),
            STATUS_INVALID_HANDLE);
  EXPECT_EQ(n, 0u);
  EXPECT_EQ(take(Code::UseAfterRelease), 1u);
  EXPECT_EQ(FwpsQueryConnectionRedirectState0(records, nullptr, nullptr), FWPS_CONNECTION_NOT_REDIRECTED);
  EXPECT_EQ(take(Code::UseAfterRelease), 1u);
}

TEST_F(S8, S8_7_BytesOpenAsTheLiveHistoryAndEqualWhatTheProxySideSeals) {
  HANDLE rh = newRedirectHandle();
  std::vector<uint8_t> bytes;
  redirectThen(rh, [&](HANDLE records) {
    Buffer b;
    SIZE_T n = 0;
    ASSERT_EQ(FwpsQueryConnectionSioFormatRedirectRecords0(records, b.bytes, sizeof b.bytes, &n), STATUS_SUCCESS);
    bytes.assign(b.bytes, b.bytes + n);
  });
  auto v = connect(request(kDst, 80));
  ASSERT_FALSE(bytes.empty());
  EXPECT_LE(bytes.size(), 400u);
  auto opened = openwfp::runtime::open(bytes);
  ASSERT_EQ(opened.error, openwfp::redirect::OpenError::None);
  EXPECT_EQ(opened.history.get(), v.history.get());
  EXPECT_TRUE(opened.live);
  EXPECT_EQ(openwfp::runtime::seal(*v.history), bytes);  // what SIO_QUERY returns
  bytes[bytes.size() / 2] ^= 1;  // altered records are refused (S12.2)
  EXPECT_EQ(openwfp::runtime::open(bytes).history, nullptr);
  rt().classifier().connectionClosed(v.history);
  EXPECT_FALSE(openwfp::runtime::isLive(*v.history));
  FwpsRedirectHandleDestroy0(rh);
}

// The verify-before-accept flow: while the original classify is pended, the proxy attaches the
// records to its outbound socket; the redirector sees that connection as its own.
TEST_F(S8, S8_8_ProxyConnectionWhileOriginalIsPendedIsRedirectedBySelf) {
  HANDLE rh = newRedirectHandle();
  UINT64 ch = 0;
  std::vector<uint8_t> records;
  std::vector<FWPS_CONNECTION_REDIRECT_STATE> states;
  addCalloutFilter(guid(3), kCR4, [&](auto, const FWPS_INCOMING_METADATA_VALUES0* m,
                                      const void* ctx, const FWPS_FILTER3* f,
                                      FWPS_CLASSIFY_OUT0* out) {
    auto state = FwpsQueryConnectionRedirectState0(m->redirectRecords, rh, nullptr);
    states.push_back(state);
    if (state == FWPS_CONNECTION_REDIRECTED_BY_SELF) {
      out->actionType = FWP_ACTION_PERMIT;
      return;
    }
    FwpsAcquireClassifyHandle0(const_cast<void*>(ctx), 0, &ch);
    FwpsPendClassify0(ch, f->filterId, 0, out);
    void* data = nullptr;
    FwpsAcquireWritableLayerDataPointer0(ch, f->filterId, 0, &data, out);
    auto* req = static_cast<FWPS_CONNECT_REQUEST0*>(data);
    setV4(req->remoteAddressAndPort, 0x7F000001, 9000);
    req->localRedirectTargetPID = 300;
    req->localRedirectHandle = rh;
    FwpsApplyModifiedLayerData0(ch, data, 0);
    Buffer b;
    SIZE_T n = 0;
    ASSERT_EQ(FwpsQueryConnectionSioFormatRedirectRecords0(m->redirectRecords, b.bytes, sizeof b.bytes, &n),
              STATUS_SUCCESS);
    records.assign(b.bytes, b.bytes + n);
    out->actionType = FWP_ACTION_BLOCK;
    out->rights = 0;
  });
  Pending original;
  rt().classifier().classify(openwfp::StackHook::Connect, request(kDst, 80), original.callback());
  ASSERT_EQ(original.calls, 0);
  // The proxy: SIO_SET the records on its outbound socket and connect to the original target.
  auto opened = openwfp::runtime::open(records);
  ASSERT_TRUE(opened.history);
  auto outbound = request(kDst, 80);
  outbound.process.pid = 300;
  outbound.proxiedRecords = opened.history;
  auto v2 = connect(outbound);
  EXPECT_EQ(v2.action, Action::Permit);
  EXPECT_FALSE(v2.redirected) << "no loop: the proxy's own connection is not redirected again";
  ASSERT_EQ(states.size(), 2u);
  EXPECT_EQ(states[0], FWPS_CONNECTION_NOT_REDIRECTED);
  EXPECT_EQ(states[1], FWPS_CONNECTION_REDIRECTED_BY_SELF);
  FWPS_CLASSIFY_OUT0 o{};
  o.actionType = FWP_ACTION_PERMIT;
  FwpsCompleteClassify0(ch, 0, &o);
  FwpsReleaseClassifyHandle0(ch);
  ASSERT_TRUE(original.wait());
  EXPECT_TRUE(original.verdict->redirected);
  EXPECT_EQ(original.verdict->finalRemote, Endpoint::v4(0x7F000001, 9000));
  FwpsRedirectHandleDestroy0(rh);
}

TEST_F(S8, S8_9_ConcurrentQueriesFromEightThreads) {
  HANDLE rh = newRedirectHandle();
  UINT64 ch = 0;
  HANDLE records = nullptr;
  addCalloutFilter(guid(4), kCR4, [&](auto, const FWPS_INCOMING_METADATA_VALUES0* m,
                                      const void* ctx, const FWPS_FILTER3* f,
                                      FWPS_CLASSIFY_OUT0* out) {
    records = m->redirectRecords;
    FwpsAcquireClassifyHandle0(const_cast<void*>(ctx), 0, &ch);
    FwpsPendClassify0(ch, f->filterId, 0, out);
    void* data = nullptr;
    FwpsAcquireWritableLayerDataPointer0(ch, f->filterId, 0, &data, out);
    auto* req = static_cast<FWPS_CONNECT_REQUEST0*>(data);
    setV4(req->remoteAddressAndPort, 0x7F000001, 9000);
    req->localRedirectTargetPID = 1;
    req->localRedirectHandle = rh;
    FwpsApplyModifiedLayerData0(ch, data, 0);
    out->actionType = FWP_ACTION_BLOCK;
    out->rights = 0;
  });
  Pending result;
  rt().classifier().classify(openwfp::StackHook::Connect, request(kDst, 80), result.callback());
  Buffer ref;
  SIZE_T refN = 0;
  ASSERT_EQ(FwpsQueryConnectionSioFormatRedirectRecords0(records, ref.bytes, sizeof ref.bytes, &refN), STATUS_SUCCESS);
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        Buffer b;
        SIZE_T n = 0;
        SIZE_T need = 0;
        if (FwpsQueryConnectionSioFormatRedirectRecords0(records, nullptr, 0, &need) != STATUS_BUFFER_TOO_SMALL ||
            FwpsQueryConnectionSioFormatRedirectRecords0(records, b.bytes, need, &n) != STATUS_SUCCESS ||
            n != refN || std::memcmp(b.bytes, ref.bytes, n) != 0)
          ++bad;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(bad.load(), 0);
  FWPS_CLASSIFY_OUT0 o{};
  o.actionType = FWP_ACTION_PERMIT;
  FwpsCompleteClassify0(ch, 0, &o);
  FwpsReleaseClassifyHandle0(ch);
  ASSERT_TRUE(result.wait());
  FwpsRedirectHandleDestroy0(rh);
}

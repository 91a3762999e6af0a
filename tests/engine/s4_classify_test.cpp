// S4: layers, incoming values/metadata, arbitration, indexed matching, synchronous completion
// and tracing.
#include <random>

#include "engine/filter_index.h"
#include "support/wfp_harness.h"

using namespace wfptest;
using openwfp::Action;

namespace {

constexpr UINT32 kDst = 0x0A000001;

class S4 : public Harness {
 protected:
  UINT32 calloutIn(const GUID& key, const GUID& layer, const GUID* sub, FWP_ACTION_TYPE type,
                   ClassifyBody body, UINT64* filterId = nullptr, UINT32 flags = 0,
                   int weight = -1) {
    UINT32 id = registerCallout(key, std::move(body));
    addCallout(key, layer);
    FilterBuilder b(layer);
    b.callout(type, key).flags(flags);
    if (sub) b.subLayer(*sub);
    if (weight >= 0) b.weight64(static_cast<UINT64>(weight));
    UINT64 fid = addFilter(b);
    if (filterId) *filterId = fid;
    return id;
  }
  void staticIn(const GUID* sub, FWP_ACTION_TYPE type, UINT32 flags = 0, int weight = -1) {
    FilterBuilder b(FWPM_LAYER_ALE_CONNECT_REDIRECT_V4);
    b.action(type).flags(flags);
    if (sub) b.subLayer(*sub);
    if (weight >= 0) b.weight64(static_cast<UINT64>(weight));
    addFilter(b);
  }
};

struct Seen {
  UINT16 layerId = 0;
  UINT32 valueCount = 0;
  std::vector<FWPS_INCOMING_VALUE0> values;
  std::vector<std::vector<UINT8>> blobs;  // copies of byte blobs / arrays per index
  FWPS_INCOMING_METADATA_VALUES0 meta{};
  const void* context = nullptr;
  UINT64 filterId = 0;
  UINT32 rights = 0;
  FWP_ACTION_TYPE action = 0;
  int calls = 0;
};

ClassifyBody record(Seen& s, FWP_ACTION_TYPE result = FWP_ACTION_PERMIT) {
  return [&s, result](const FWPS_INCOMING_VALUES0* v, const FWPS_INCOMING_METADATA_VALUES0* m,
                      const void* ctx, const FWPS_FILTER3* f, FWPS_CLASSIFY_OUT0* out) {
    ++s.calls;
    s.layerId = v->layerId;
    s.valueCount = v->valueCount;
    s.values.assign(v->incomingValue, v->incomingValue + v->valueCount);
    s.blobs.assign(v->valueCount, {});
    for (UINT32 i = 0; i < v->valueCount; ++i) {
      const FWP_VALUE0& x = v->incomingValue[i].value;
      if (x.type == FWP_BYTE_BLOB_TYPE && x.byteBlob)
        s.blobs[i].assign(x.byteBlob->data, x.byteBlob->data + x.byteBlob->size);
      if (x.type == FWP_BYTE_ARRAY16_TYPE && x.byteArray16)
        s.blobs[i].assign(x.byteArray16->byteArray16, x.byteArray16->byteArray16 + 16);
    }
    s.meta = *m;
    s.context = ctx;
    s.filterId = f->filterId;
    s.rights = out->rights;
    s.action = out->actionType;
    out->actionType = result;
  };
}

std::vector<UINT8> appIdBytes(const wchar_t* path) {
  FWP_BYTE_BLOB* b = nullptr;
  EXPECT_EQ(FwpmGetAppIdFromFileName0(path, &b), STATUS_SUCCESS);
  std::vector<UINT8> out(b->data, b->data + b->size);
  FwpmFreeMemory0(reinterpret_cast<void**>(&b));
  return out;
}

}  // namespace

// ---- S4.1 layers, incoming values, metadata -------------------------------------------------------

TEST_F(S4, S4_1_ConnectRedirectV4ValuesAndMetadata) {
  Seen s;
  UINT64 fid = 0;
  calloutIn(guid(1), FWPM_LAYER_ALE_CONNECT_REDIRECT_V4, nullptr, FWP_ACTION_CALLOUT_TERMINATING,
            record(s), &fid);
  connect(request(kDst, 80));
  ASSERT_EQ(s.calls, 1);
  EXPECT_EQ(s.layerId, FWPS_LAYER_ALE_CONNECT_REDIRECT_V4);
  EXPECT_EQ(s.valueCount, static_cast<UINT32>(FWPS_FIELD_ALE_CONNECT_REDIRECT_V4_MAX));
  auto& v = s.values;
  EXPECT_EQ(v[FWPS_FIELD_ALE_CONNECT_REDIRECT_V4_IP_REMOTE_ADDRESS].value.type, FWP_UINT32);
  EXPECT_EQ(v[FWPS_FIELD_ALE_CONNECT_REDIRECT_V4_IP_REMOTE_ADDRESS].value.uint32, kDst);
  EXPECT_EQ(v[FWPS_FIELD_ALE_CONNECT_REDIRECT_V4_IP_REMOTE_PORT].value.uint16, 80);
  EXPECT_EQ(v[FWPS_FIELD_ALE_CONNECT_REDIRECT_V4_IP_LOCAL_ADDRESS].value.uint32, 0x7F000001u);
  EXPECT_EQ(v[FWPS_FIELD_ALE_CONNECT_REDIRECT_V4_IP_LOCAL_PORT].value.uint16, 40000);
  EXPECT_EQ(v[FWPS_FIELD_ALE_CONNECT_REDIRECT_V4_IP_PROTOCOL].value.uint8, 6);
  EXPECT_EQ(v[FWPS_FIELD_ALE_CONNECT_REDIRECT_V4_ALE_USER_ID].value.type, FWP_UINT32);
  EXPECT_EQ(v[FWPS_FIELD_ALE_CONNECT_REDIRECT_V4_ALE_USER_ID].value.uint32, 1000u);
  EXPECT_EQ(v[FWPS_FIELD_ALE_CONNECT_REDIRECT_V4_FLAGS].value.type, FWP_UINT32);
  EXPECT_EQ(v[FWPS_FIELD_ALE_CONNECT_REDIRECT_V4_FLAGS].value.uint32, 0u);
  EXPECT_EQ(v[FWPS_FIELD_ALE_CONNECT_REDIRECT_V4_IP_DESTINATION_ADDRESS_TYPE].value.uint8, 1);  // unicast
  EXPECT_EQ(s.blobs[FWPS_FIELD_ALE_CONNECT_REDIRECT_V4_ALE_APP_ID], appIdBytes(L"/usr/bin/curl"));
  EXPECT_TRUE(FWPS_IS_METADATA_FIELD_PRESENT(&s.meta, FWPS_METADATA_FIELD_PROCESS_ID));
  EXPECT_EQ(s.meta.processId, 4242u);
  EXPECT_TRUE(FWPS_IS_METADATA_FIELD_PRESENT(&s.meta, FWPS_METADATA_FIELD_PROCESS_PATH));
  EXPECT_TRUE(FWPS_IS_METADATA_FIELD_PRESENT(&s.meta, FWPS_METADATA_FIELD_REDIRECT_RECORD_HANDLE));
  EXPECT_NE(s.meta.redirectRecords, nullptr);
  EXPECT_FALSE(FWPS_IS_METADATA_FIELD_PRESENT(&s.meta, FWPS_METADATA_FIELD_TOKEN));
  EXPECT_FALSE(FWPS_IS_METADATA_FIELD_PRESENT(&s.meta, FWPS_METADATA_FIELD_LOCAL_REDIRECT_TARGET_PID));
  EXPECT_NE(s.context, nullptr);
  EXPECT_EQ(s.filterId, fid);
}

TEST_F(S4, S4_1_AuthConnectV6ValuesAndNoRecordsHandle) {
  Seen s;
  calloutIn(guid(2), FWPM_LAYER_ALE_AUTH_CONNECT_V6, nullptr, FWP_ACTION_CALLOUT_TERMINATING, record(s));
  std::array<uint8_t, 16> dst{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9};
  connect(request6(dst, 443));
  ASSERT_EQ(s.calls, 1);
  EXPECT_EQ(s.layerId, FWPS_LAYER_ALE_AUTH_CONNECT_V6);
  EXPECT_EQ(s.valueCount, static_cast<UINT32>(FWPS_FIELD_ALE_AUTH_CONNECT_V6_MAX));
  EXPECT_EQ(s.values[FWPS_FIELD_ALE_AUTH_CONNECT_V6_IP_REMOTE_ADDRESS].value.type, FWP_BYTE_ARRAY16_TYPE);
  EXPECT_EQ(s.blobs[FWPS_FIELD_ALE_AUTH_CONNECT_V6_IP_REMOTE_ADDRESS],
            std::vector<UINT8>(dst.begin(), dst.end()));
  EXPECT_EQ(s.values[FWPS_FIELD_ALE_AUTH_CONNECT_V6_IP_REMOTE_PORT].value.uint16, 443);
  EXPECT_EQ(s.values[FWPS_FIELD_ALE_AUTH_CONNECT_V6_IP_PROTOCOL].value.uint8, 6);
  EXPECT_EQ(s.values[FWPS_FIELD_ALE_AUTH_CONNECT_V6_FLAGS].value.type, FWP_UINT32);
  EXPECT_FALSE(FWPS_IS_METADATA_FIELD_PRESENT(&s.meta, FWPS_METADATA_FIELD_REDIRECT_RECORD_HANDLE));
  EXPECT_TRUE(FWPS_IS_METADATA_FIELD_PRESENT(&s.meta, FWPS_METADATA_FIELD_PROCESS_ID));
  EXPECT_NE(s.context, nullptr);
}

TEST_F(S4, S4_1_BindRedirectV4AndV6Values) {
  Seen s4, s6;
  calloutIn(guid(3), FWPM_LAYER_ALE_BIND_REDIRECT_V4, nullptr, FWP_ACTION_CALLOUT_TERMINATING, record(s4));
  calloutIn(guid(4), FWPM_LAYER_ALE_BIND_REDIRECT_V6, nullptr, FWP_ACTION_CALLOUT_TERMINATING, record(s6));
  openwfp::BindRequest b;
  b.process.pid = 7;
  b.process.uid = 0;
  b.process.imagePath = "/usr/sbin/nginx";
  b.protocol = openwfp::Protocol::Udp;
  b.local = Endpoint::v4(0x7F000001, 5353);
  EXPECT_EQ(bind(b).action, Action::Permit);
  ASSERT_EQ(s4.calls, 1);
  EXPECT_EQ(s4.layerId, FWPS_LAYER_ALE_BIND_REDIRECT_V4);
  EXPECT_EQ(s4.valueCount, static_cast<UINT32>(FWPS_FIELD_ALE_BIND_REDIRECT_V4_MAX));
  EXPECT_EQ(s4.values[FWPS_FIELD_ALE_BIND_REDIRECT_V4_IP_LOCAL_ADDRESS].value.uint32, 0x7F000001u);
  EXPECT_EQ(s4.values[FWPS_FIELD_ALE_BIND_REDIRECT_V4_IP_LOCAL_PORT].value.uint16, 5353);
  EXPECT_EQ(s4.values[FWPS_FIELD_ALE_BIND_REDIRECT_V4_IP_PROTOCOL].value.uint8, 17);
  EXPECT_EQ(s4.blobs[FWPS_FIELD_ALE_BIND_REDIRECT_V4_ALE_APP_ID], appIdBytes(L"/usr/sbin/nginx"));
  EXPECT_FALSE(FWPS_IS_METADATA_FIELD_PRESENT(&s4.meta, FWPS_METADATA_FIELD_REDIRECT_RECORD_HANDLE));
  std::array<uint8_t, 16> any{};
  b.local = Endpoint::v6(any, 53);
  EXPECT_EQ(bind(b).action, Action::Permit);
  ASSERT_EQ(s6.calls, 1);
  EXPECT_EQ(s6.layerId, FWPS_LAYER_ALE_BIND_REDIRECT_V6);
  EXPECT_EQ(s6.values[FWPS_FIELD_ALE_BIND_REDIRECT_V6_IP_LOCAL_ADDRESS].value.type, FWP_BYTE_ARRAY16_TYPE);
  EXPECT_EQ(s6.values[FWPS_FIELD_ALE_BIND_REDIRECT_V6_FLAGS].value.uint32 & FWP_CONDITION_FLAG_IS_WILDCARD_BIND,
            static_cast<UINT32>(FWP_CONDITION_FLAG_IS_WILDCARD_BIND));
}

TEST_F(S4, S4_1_ConnectRunsRedirectThenAuthForTheSameTuple) {
  Seen redirect, auth;
  calloutIn(guid(5), FWPM_LAYER_ALE_CONNECT_REDIRECT_V4, nullptr, FWP_ACTION_CALLOUT_TERMINATING, record(redirect));
  calloutIn(guid(6), FWPM_LAYER_ALE_AUTH_CONNECT_V4, nullptr, FWP_ACTION_CALLOUT_TERMINATING, record(auth));
  auto v = connect(request(kDst, 80));
  EXPECT_EQ(v.action, Action::Permit);
  EXPECT_EQ(redirect.calls, 1);
  EXPECT_EQ(auth.calls, 1);
  EXPECT_EQ(auth.values[FWPS_FIELD_ALE_AUTH_CONNECT_V4_IP_REMOTE_ADDRESS].value.uint32, kDst);
  EXPECT_EQ(auth.values[FWPS_FIELD_ALE_AUTH_CONNECT_V4_FLAGS].value.uint32 &
                FWP_CONDITION_FLAG_IS_CONNECTION_REDIRECTED,
            0u);
  EXPECT_TRUE(v.history != nullptr);
  EXPECT_EQ(v.finalRemote, Endpoint::v4(kDst, 80));
}

TEST_F(S4, S4_1_V4MappedRemoteStaysAtTheV6Layer) {
  Seen v4, v6;
  calloutIn(guid(7), FWPM_LAYER_ALE_CONNECT_REDIRECT_V4, nullptr, FWP_ACTION_CALLOUT_TERMINATING, record(v4));
  calloutIn(guid(8), FWPM_LAYER_ALE_CONNECT_REDIRECT_V6, nullptr, FWP_ACTION_CALLOUT_TERMINATING, record(v6));
  std::array<uint8_t, 16> mapped{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 10, 0, 0, 1};
  connect(request6(mapped, 80));
  EXPECT_EQ(v4.calls, 0);
  ASSERT_EQ(v6.calls, 1);
  EXPECT_EQ(v6.blobs[FWPS_FIELD_ALE_CONNECT_REDIRECT_V6_IP_REMOTE_ADDRESS],
            std::vector<UINT8>(mapped.begin(), mapped.end()));
}

TEST_F(S4, S4_1_ProxiedConnectionCarriesProxyFlagAtBothLayers) {
  Seen redirect, auth;
  calloutIn(guid(9), FWPM_LAYER_ALE_CONNECT_REDIRECT_V4, nullptr, FWP_ACTION_CALLOUT_TERMINATING, record(redirect));
  calloutIn(guid(10), FWPM_LAYER_ALE_AUTH_CONNECT_V4, nullptr, FWP_ACTION_CALLOUT_TERMINATING, record(auth));
  auto r = request(kDst, 80);
  r.proxiedRecords = openwfp::redirect::History::create();
  connect(r);
  EXPECT_TRUE(redirect.values[FWPS_FIELD_ALE_CONNECT_REDIRECT_V4_FLAGS].value.uint32 &
              FWP_CONDITION_FLAG_IS_PROXY_CONNECTION);
  EXPECT_TRUE(auth.values[FWPS_FIELD_ALE_AUTH_CONNECT_V4_FLAGS].value.uint32 &
              FWP_CONDITION_FLAG_IS_PROXY_CONNECTION);
}

// ---- S4.2 arbitration ---------------------------------------------------------------------------

TEST_F(S4, S4_2_SublayersRunInDescendingWeight) {
  GUID low = guid(20), high = guid(21);
  addSubLayer(low, 10);
  addSubLayer(high, 1000);
  std::vector<int> order;
  auto tag = [&](int n) {
    return [&order, n](auto, auto, auto, auto, FWPS_CLASSIFY_OUT0* o) {
      order.push_back(n);
      o->actionType = FWP_ACTION_CONTINUE;
    };
  };
  calloutIn(guid(22), FWPM_LAYER_ALE_CONNECT_REDIRECT_V4, &low, FWP_ACTION_CALLOUT_INSPECTION, tag(1));
  calloutIn(guid(23), FWPM_LAYER_ALE_CONNECT_REDIRECT_V4, &high, FWP_ACTION_CALLOUT_INSPECTION, tag(2));
  connect(request(kDst, 80));
  EXPECT_EQ(order, (std::vector<int>{2, 1}));
}

TEST_F(S4, S4_2_InsideASublayerHighestWeightFirstUntilPermitOrBlock) {
  GUID sub = guid(24);
  addSubLayer(sub, 5);
  std::vector<int> order;
  auto act = [&](int n, FWP_ACTION_TYPE a) {
    return [&order, n, a](auto, auto, auto, auto, FWPS_CLASSIFY_OUT0* o) {
      order.push_back(n);
      o->actionType = a;
    };
  };
  calloutIn(guid(25), FWPM_LAYER_ALE_CONNECT_REDIRECT_V4, &sub, FWP_ACTION_CALLOUT_UNKNOWN,
            act(1, FWP_ACTION_CONTINUE), nullptr, 0, 300);
  calloutIn(guid(26), FWPM_LAYER_ALE_CONNECT_REDIRECT_V4, &sub, FWP_ACTION_CALLOUT_TERMINATING,
            act(2, FWP_ACTION_PERMIT), nullptr, 0, 200);
  calloutIn(guid(27), FWPM_LAYER_ALE_CONNECT_REDIRECT_V4, &sub, FWP_ACTION_CALLOUT_TERMINATING,
            act(3, FWP_ACTION_BLOCK), nullptr, 0, 100);
  EXPECT_EQ(connect(request(kDst, 80)).action, Action::Permit);
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
}

TEST_F(S4, S4_2_EverySublayerIsEvaluatedEvenAfterABlock) {
  GUID high = guid(28), low = guid(29);
  addSubLayer(high, 900);
  addSubLayer(low, 100);
  staticIn(&high, FWP_ACTION_BLOCK);
  Seen s;
  calloutIn(guid(30), FWPM_LAYER_ALE_CONNECT_REDIRECT_V4, &low, FWP_ACTION_CALLOUT_TERMINATING,
            record(s, FWP_ACTION_PERMIT));
  EXPECT_EQ(connect(request(kDst, 80)).action, Action::Block);
  EXPECT_EQ(s.calls, 1);
  EXPECT_EQ(s.action, static_cast<FWP_ACTION_TYPE>(FWP_ACTION_BLOCK));  // arbitration so far
  EXPECT_EQ(s.rights & FWPS_RIGHT_ACTION_WRITE, 0u);  // a static block is hard
}

TEST_F(S4, S4_2_BlockOverridesASoftPermitAcrossSublayers) {
  GUID high = guid(31), low = guid(32);
  addSubLayer(high, 900);
  addSubLayer(low, 100);
  staticIn(&high, FWP_ACTION_PERMIT);
  staticIn(&low, FWP_ACTION_BLOCK);
  EXPECT_EQ(connect(request(kDst, 80)).action, Action::Block);
}

TEST_F(S4, S4_2_PermitNeverOverridesAnEarlierBlock) {
  GUID high = guid(33), low = guid(34);
  addSubLayer(high, 900);
  addSubLayer(low, 100);
  calloutIn(guid(35), FWPM_LAYER_ALE_CONNECT_REDIRECT_V4, &high, FWP_ACTION_CALLOUT_TERMINATING,
            [](auto, auto, auto, auto, FWPS_CLASSIFY_OUT0* o) { o->actionType = FWP_ACTION_BLOCK; });
  staticIn(&low, FWP_ACTION_PERMIT, FWPM_FILTER_FLAG_CLEAR_ACTION_RIGHT);
  EXPECT_EQ(connect(request(kDst, 80)).action, Action::Block);
}

TEST_F(S4, S4_2_HardStaticPermitIsNotOverriddenByAStaticBlock) {
  GUID high = guid(36), low = guid(37);
  addSubLayer(high, 900);
  addSubLayer(low, 100);
  staticIn(&high, FWP_ACTION_PERMIT, FWPM_FILTER_FLAG_CLEAR_ACTION_RIGHT);
  staticIn(&low, FWP_ACTION_BLOCK);
  EXPECT_EQ(connect(request(kDst, 80)).action, Action::Permit);
}

TEST_F(S4, S4_2_CalloutPermitIsHardWhenItClearsTheWriteRight) {
  GUID high = guid(38), low = guid(39);
  addSubLayer(high, 900);
  addSubLayer(low, 100);
  calloutIn(guid(40), FWPM_LAYER_ALE_CONNECT_REDIRECT_V4, &high, FWP_ACTION_CALLOUT_TERMINATING,
            [](auto, auto, auto, auto, FWPS_CLASSIFY_OUT0* o) {
              o->actionType = FWP_ACTION_PERMIT;
              o->rights &= ~FWPS_RIGHT_ACTION_WRITE;
            });
  staticIn(&low, FWP_ACTION_BLOCK);
  EXPECT_EQ(connect(request(kDst, 80)).action, Action::Permit);
}

TEST_F(S4, S4_2_SoftCalloutPermitIsOverriddenByALaterBlock) {
  GUID high = guid(41), low = guid(42);
  addSubLayer(high, 900);
  addSubLayer(low, 100);
  calloutIn(guid(43), FWPM_LAYER_ALE_CONNECT_REDIRECT_V4, &high, FWP_ACTION_CALLOUT_TERMINATING,
            [](auto, auto, auto, auto, FWPS_CLASSIFY_OUT0* o) { o->actionType = FWP_ACTION_PERMIT; });
  staticIn(&low, FWP_ACTION_BLOCK);
  EXPECT_EQ(connect(request(kDst, 80)).action, Action::Block);
}

TEST_F(S4, S4_2_VetoOverridesAHardPermitAndIsReported) {
  GUID high = guid(44), low = guid(45);
  addSubLayer(high, 900);
  addSubLayer(low, 100);
  staticIn(&high, FWP_ACTION_PERMIT, FWPM_FILTER_FLAG_CLEAR_ACTION_RIGHT);
  Seen s;
  calloutIn(guid(46), FWPM_LAYER_ALE_CONNECT_REDIRECT_V4, &low, FWP_ACTION_CALLOUT_TERMINATING,
            record(s, FWP_ACTION_BLOCK));
  auto v = connect(request(kDst, 80));
  EXPECT_EQ(v.action, Action::Block);
  EXPECT_EQ(s.rights, 0u);
  EXPECT_EQ(s.action, static_cast<FWP_ACTION_TYPE>(FWP_ACTION_PERMIT));
  EXPECT_NE(v.reason.find("vetoed"), std::string::npos) << v.reason;
  bool traced = false;
  for (const auto& r : traces())
    for (const auto& st : r.filters) traced = traced || st.note.find("VETO") != std::string::npos;
  EXPECT_TRUE(traced);
}

TEST_F(S4, S4_2_TerminatingCalloutReturningContinueCountsAsBlock) {
  calloutIn(guid(47), FWPM_LAYER_ALE_CONNECT_REDIRECT_V4, nullptr, FWP_ACTION_CALLOUT_TERMINATING,
            [](auto, auto, auto, auto, FWPS_CLASSIFY_OUT0* o) { o->actionType = FWP_ACTION_CONTINUE; });
  EXPECT_EQ(connect(request(kDst, 80)).action, Action::Block);
}

TEST_F(S4, S4_2_InspectionCalloutCountsAsContinue) {
  GUID sub = guid(48);
  addSubLayer(sub, 5);
  calloutIn(guid(49), FWPM_LAYER_ALE_CONNECT_REDIRECT_V4, &sub, FWP_ACTION_CALLOUT_INSPECTION,
            [](auto, auto, auto, auto, FWPS_CLASSIFY_OUT0* o) { o->actionType = FWP_ACTION_BLOCK; },
            nullptr, 0, 100);
  Seen s;
  calloutIn(guid(50), FWPM_LAYER_ALE_CONNECT_REDIRECT_V4, &sub, FWP_ACTION_CALLOUT_TERMINATING,
            record(s, FWP_ACTION_PERMIT), nullptr, 0, 50);
  EXPECT_EQ(connect(request(kDst, 80)).action, Action::Permit);
  EXPECT_EQ(s.calls, 1);  // the inspection result did not decide the sublayer
}

TEST_F(S4, S4_2_ClassifyOutStartsWithWriteRightAndArbitrationSoFar) {
  GUID high = guid(51), low = guid(52);
  addSubLayer(high, 900);
  addSubLayer(low, 100);
  Seen first, second;
  calloutIn(guid(53), FWPM_LAYER_ALE_CONNECT_REDIRECT_V4, &high, FWP_ACTION_CALLOUT_TERMINATING,
            record(first, FWP_ACTION_PERMIT));
  calloutIn(guid(54), FWPM_LAYER_ALE_CONNECT_REDIRECT_V4, &low, FWP_ACTION_CALLOUT_TERMINATING,
            record(second, FWP_ACTION_PERMIT));
  connect(request(kDst, 80));
  EXPECT_EQ(first.rights, static_cast<UINT32>(FWPS_RIGHT_ACTION_WRITE));
  EXPECT_EQ(first.action, static_cast<FWP_ACTION_TYPE>(FWP_ACTION_CONTINUE));
  EXPECT_EQ(second.rights, static_cast<UINT32>(FWPS_RIGHT_ACTION_WRITE));  // soft permit so far
  EXPECT_EQ(second.action, static_cast<FWP_ACTION_TYPE>(FWP_ACTION_PERMIT));
}

TEST_F(S4, S4_2_NothingMatchedPermitsUnmodified) {
  FilterBuilder other(FWPM_LAYER_ALE_CONNECT_REDIRECT_V4);
  other.action(FWP_ACTION_BLOCK).remotePort(9999);
  addFilter(other);
  auto v = connect(request(kDst, 80));
  EXPECT_EQ(v.action, Action::Permit);
  EXPECT_FALSE(v.redirected);
  EXPECT_EQ(v.finalRemote, Endpoint::v4(kDst, 80));
}

// ---- S4.3 indexed matching ----------------------------------------------------------------------

namespace {

openwfp::engine::FilterSpec randomSpec(std::mt19937& rng, const openwfp::engine::Guid& layer) {
  using namespace openwfp::engine;
  FilterSpec s;
  s.display.hasName = true;
  s.display.name = L"r";
  s.layerKey = layer;
  s.action = rng() % 2 ? ActionType::Permit : ActionType::Block;
  auto addr = [&] { return 0x0A000000u | (rng() % 64); };
  int shape = static_cast<int>(rng() % 8);
  if (shape == 0 || shape == 1) {
    s.conditions.push_back({Field::RemoteAddress, MatchType::Equal, Value::u32(addr()), {}});
  }
  if (shape == 2) {
    static const uint32_t masks[] = {0xFF000000u, 0xFFFFFF00u, 0xFFFFFFF0u, 0xFFFFFFFFu};
    uint32_t m = masks[rng() % 4];
    s.conditions.push_back({Field::RemoteAddress, MatchType::Equal, Value::v4Mask(addr() & m, m), {}});
  }
  if (shape == 3) {  // ORed addresses
    s.conditions.push_back({Field::RemoteAddress, MatchType::Equal, Value::u32(addr()), {}});
    s.conditions.push_back({Field::RemoteAddress, MatchType::Equal, Value::v4Mask(addr() & 0xFFFFFFF8u, 0xFFFFFFF8u), {}});
  }
  if (shape == 4) {
    s.conditions.push_back({Field::RemoteAddress, MatchType::Greater, Value::u32(addr()), {}});
  }
  if (shape != 6 && rng() % 2)
    s.conditions.push_back({Field::RemotePort, MatchType::Equal, Value::u16(static_cast<uint16_t>(80 + rng() % 4)), {}});
  if (shape == 5)
    s.conditions.push_back({Field::RemotePort, MatchType::Range, Value::u16(80), Value::u16(81)});
  if (rng() % 4 == 0)
    s.conditions.push_back({Field::Protocol, MatchType::Equal, Value::u8(rng() % 2 ? 6 : 17), {}});
  if (rng() % 5 == 0)
    s.conditions.push_back({Field::LocalPort, MatchType::Equal, Value::u16(static_cast<uint16_t>(1000 + rng() % 3)), {}});
  if (rng() % 3 == 0) {
    s.weight.type = DataType::Uint64;
    s.weight.value = rng() % 5;
  }
  return s;
}

}  // namespace

TEST_F(S4, S4_3_IndexedMatchEqualsAFullScan) {
  using namespace openwfp::engine;
  std::mt19937 rng(12345);
  const Guid layer = layerInfo(LayerId::ConnectRedirectV4).key;
  uint64_t session = engine().openSession(false);
  ASSERT_EQ(engine().beginTransaction(session, false), Status::Success);
  for (int i = 0; i < 3000; ++i) ASSERT_EQ(engine().addFilter(session, randomSpec(rng, layer), nullptr), Status::Success);
  ASSERT_EQ(engine().commitTransaction(session), Status::Success);
  auto snap = engine().snapshot(LayerId::ConnectRedirectV4);
  ASSERT_EQ(snap->size(), 3000u);
  EXPECT_LT(snap->wildcardCount(), 3000u);
  for (int q = 0; q < 2000; ++q) {
    ClassifyValues v;
    v.setEndpoints(Endpoint::v4(0x7F000001, static_cast<uint16_t>(1000 + rng() % 4)),
                   Endpoint::v4(0x0A000000u | (rng() % 70), static_cast<uint16_t>(79 + rng() % 5)));
    v.protocol = rng() % 2 ? 6 : 17;
    std::vector<const SnapshotFilter*> indexed;
    snap->match(v, indexed);
    std::vector<const SnapshotFilter*> scan;
    for (const auto* f : snap->all())
      if (groupsMatch(snap->filterOf(*f).groups, snap->layer(), v)) scan.push_back(f);
    ASSERT_EQ(indexed, scan) << "query " << q;
  }
}

TEST_F(S4, S4_3_TypicalPolicyIsFullyIndexed) {
  using namespace openwfp::engine;
  const Guid layer = layerInfo(LayerId::ConnectRedirectV4).key;
  uint64_t session = engine().openSession(false);
  ASSERT_EQ(engine().beginTransaction(session, false), Status::Success);
  for (uint32_t i = 0; i < 10000; ++i) {
    FilterSpec s;
    s.display.hasName = true;
    s.display.name = L"policy";
    s.layerKey = layer;
    s.action = ActionType::Block;
    s.conditions.push_back({Field::RemoteAddress, MatchType::Equal, Value::u32(0x0B000000u + i), {}});
    s.conditions.push_back({Field::RemotePort, MatchType::Equal, Value::u16(static_cast<uint16_t>(1000 + i % 50000)), {}});
    ASSERT_EQ(engine().addFilter(session, std::move(s), nullptr), Status::Success);
  }
  ASSERT_EQ(engine().commitTransaction(session), Status::Success);
  auto snap = engine().snapshot(LayerId::ConnectRedirectV4);
  EXPECT_EQ(snap->wildcardCount(), 0u);
  ClassifyValues v;
  v.setEndpoints(Endpoint::v4(0x7F000001, 1), Endpoint::v4(0x0B000000u + 4321, 1000 + 4321));
  std::vector<const SnapshotFilter*> out;
  snap->match(v, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(connect(request(0x0B000000u + 4321, 1000 + 4321)).action, Action::Block);
  EXPECT_EQ(connect(request(0x0B000000u + 4321, 999)).action, Action::Permit);
}

// ---- S4.4 synchronous completion ----------------------------------------------------------------

TEST_F(S4, S4_4_DoneRunsBeforeClassifyConnectReturnsWhenNobodyPends) {
  calloutIn(guid(60), FWPM_LAYER_ALE_CONNECT_REDIRECT_V4, nullptr, FWP_ACTION_CALLOUT_TERMINATING,
            [](auto, auto, auto, auto, FWPS_CLASSIFY_OUT0* o) { o->actionType = FWP_ACTION_PERMIT; });
  bool done = false;
  int calls = 0;
  rt().classifier().classify(openwfp::StackHook::Connect, request(kDst, 80),
                             [&](const ConnectVerdict&) {
                               done = true;
                               ++calls;
                             });
  EXPECT_TRUE(done);
  EXPECT_EQ(calls, 1);
  bool bound = false;
  openwfp::BindRequest b;
  b.local = Endpoint::v4(0, 0);
  rt().classifier().classify(openwfp::StackHook::Bind, b,
                             [&](const openwfp::BindVerdict&) { bound = true; });
  EXPECT_TRUE(bound);
}

// ---- S4.5 trace ---------------------------------------------------------------------------------

TEST_F(S4, S4_5_EveryClassifyIsTracedWithFiltersResultsAndVerdict) {
  rt().tracer().clear();
  UINT64 fid = 0;
  calloutIn(guid(61), FWPM_LAYER_ALE_CONNECT_REDIRECT_V4, nullptr, FWP_ACTION_CALLOUT_TERMINATING,
            [](auto, auto, auto, auto, FWPS_CLASSIFY_OUT0* o) { o->actionType = FWP_ACTION_PERMIT; }, &fid);
  FilterBuilder block(FWPM_LAYER_ALE_AUTH_CONNECT_V4);
  block.action(FWP_ACTION_BLOCK).remotePort(80).name(L"no http");
  UINT64 bid = addFilter(block);
  auto v = connect(request(kDst, 80));
  EXPECT_EQ(v.action, Action::Block);
  auto recs = traces();
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[0].layer, "ALE_CONNECT_REDIRECT_V4");
  EXPECT_EQ(recs[0].pid, 4242u);
  EXPECT_EQ(recs[0].app, "/usr/bin/curl");
  EXPECT_EQ(recs[0].remote, "10.0.0.1:80");
  EXPECT_EQ(recs[0].verdict, "PERMIT");
  ASSERT_EQ(recs[0].filters.size(), 1u);
  EXPECT_EQ(recs[0].filters[0].filterId, fid);
  EXPECT_EQ(recs[0].filters[0].kind, "callout");
  EXPECT_EQ(recs[0].filters[0].result, "PERMIT");
  EXPECT_EQ(recs[1].layer, "ALE_AUTH_CONNECT_V4");
  EXPECT_EQ(recs[1].verdict, "BLOCK");
  ASSERT_EQ(recs[1].filters.size(), 1u);
  EXPECT_EQ(recs[1].filters[0].filterId, bid);
  EXPECT_EQ(recs[1].filters[0].filterName, "no http");
  EXPECT_FALSE(recs[1].toJsonLine().empty());
  EXPECT_NE(recs[1].toText().find("BLOCK"), std::string::npos);
}

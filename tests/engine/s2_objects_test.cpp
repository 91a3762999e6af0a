// S2: management objects, transactions, errors, conditions and weights through the C ABI.
#include <chrono>
#include <thread>

#include "support/wfp_harness.h"

using namespace wfptest;
using openwfp::Action;

namespace {

constexpr UINT32 kDst = 0x0A000001;  // 10.0.0.1 (classified only; nothing is sent)

class S2 : public Harness {};

FWPM_PROVIDER0 provider(const GUID& key) {
  FWPM_PROVIDER0 p{};
  p.providerKey = key;
  p.displayData.name = const_cast<wchar_t*>(L"test provider");
  return p;
}

UINT64 filterCount(HANDLE engine, const GUID* layer = nullptr) {
  FWPM_FILTER_ENUM_TEMPLATE0 t{};
  if (layer) t.layerKey = *layer;
  t.actionMask = 0xFFFFFFFF;
  HANDLE e = nullptr;
  EXPECT_EQ(FwpmFilterCreateEnumHandle0(engine, layer ? &t : nullptr, &e), STATUS_SUCCESS);
  UINT64 total = 0;
  for (;;) {
    FWPM_FILTER0** entries = nullptr;
    UINT32 n = 0;
    EXPECT_EQ(FwpmFilterEnum0(engine, e, 2, &entries, &n), STATUS_SUCCESS);
    if (n == 0) break;
    for (UINT32 i = 0; i < n; ++i) EXPECT_NE(entries[i]->filterId, 0u);
    total += n;
    FwpmFreeMemory0(reinterpret_cast<void**>(&entries));
    EXPECT_EQ(entries, nullptr);
  }
  EXPECT_EQ(FwpmFilterDestroyEnumHandle0(engine, e), STATUS_SUCCESS);
  return total;
}

}  // namespace

// ---- S2.1 objects -------------------------------------------------------------------------------

TEST_F(S2, S2_1_EngineOpenRejectsRemoteServerAndNullHandle) {
  HANDLE h = nullptr;
  EXPECT_EQ(FwpmEngineOpen0(L"remote", RPC_C_AUTHN_WINNT, nullptr, nullptr, &h),
            STATUS_INVALID_PARAMETER);
  EXPECT_NE(FwpmEngineOpen0(nullptr, RPC_C_AUTHN_DEFAULT, nullptr, nullptr, nullptr), STATUS_SUCCESS);
  ASSERT_EQ(FwpmEngineOpen0(nullptr, RPC_C_AUTHN_DEFAULT, nullptr, nullptr, &h), STATUS_SUCCESS);
  EXPECT_NE(h, nullptr);
  EXPECT_EQ(FwpmEngineClose0(h), STATUS_SUCCESS);
  EXPECT_EQ(FwpmEngineClose0(h), STATUS_INVALID_HANDLE);
}

TEST_F(S2, S2_1_AddAndDeleteEveryObjectKind) {
  GUID prov = guid(1), sub = guid(2), co = guid(3), fk = guid(4);
  auto p = provider(prov);
  ASSERT_EQ(FwpmProviderAdd0(engineHandle, &p, nullptr), STATUS_SUCCESS);
  FWPM_SUBLAYER0 s{};
  s.subLayerKey = sub;
  s.displayData.name = const_cast<wchar_t*>(L"sub");
  s.providerKey = &prov;
  s.weight = 7;
  ASSERT_EQ(FwpmSubLayerAdd0(engineHandle, &s, nullptr), STATUS_SUCCESS);
  FWPM_CALLOUT0 c{};
  c.calloutKey = co;
  c.displayData.name = const_cast<wchar_t*>(L"callout");
  c.applicableLayer = FWPM_LAYER_ALE_CONNECT_REDIRECT_V4;
  UINT32 calloutId = 0;
  ASSERT_EQ(FwpmCalloutAdd0(engineHandle, &c, nullptr, &calloutId), STATUS_SUCCESS);
  EXPECT_NE(calloutId, 0u);

  FilterBuilder b(FWPM_LAYER_ALE_CONNECT_REDIRECT_V4);
  b.key(fk).subLayer(sub).provider(prov).callout(FWP_ACTION_CALLOUT_TERMINATING, co);
  UINT64 id = 0;
  ASSERT_EQ(FwpmFilterAdd0(engineHandle, b.get(), nullptr, &id), STATUS_SUCCESS);
  EXPECT_NE(id, 0u);

  FWPM_FILTER0* got = nullptr;
  ASSERT_EQ(FwpmFilterGetByKey0(engineHandle, &fk, &got), STATUS_SUCCESS);
  EXPECT_EQ(got->filterId, id);
  EXPECT_TRUE(sameGuid(got->subLayerKey, sub));
  ASSERT_NE(got->providerKey, nullptr);
  EXPECT_TRUE(sameGuid(*got->providerKey, prov));
  EXPECT_EQ(got->action.type, static_cast<FWP_ACTION_TYPE>(FWP_ACTION_CALLOUT_TERMINATING));
  EXPECT_TRUE(sameGuid(got->action.calloutKey, co));
  EXPECT_EQ(std::wstring(got->displayData.name), L"test filter");
  FwpmFreeMemory0(reinterpret_cast<void**>(&got));
  EXPECT_EQ(got, nullptr);

  // Deletion order: filter, callout, sublayer, provider.
  EXPECT_EQ(FwpmFilterDeleteByKey0(engineHandle, &fk), STATUS_SUCCESS);
  EXPECT_EQ(FwpmFilterGetById0(engineHandle, id, &got), STATUS_FWP_FILTER_NOT_FOUND);
  EXPECT_EQ(FwpmCalloutDeleteByKey0(engineHandle, &co), STATUS_SUCCESS);
  EXPECT_EQ(FwpmSubLayerDeleteByKey0(engineHandle, &sub), STATUS_SUCCESS);
  EXPECT_EQ(FwpmProviderDeleteByKey0(engineHandle, &prov), STATUS_SUCCESS);
}

TEST_F(S2, S2_1_DeleteFilterByIdAndCalloutById) {
  GUID co = guid(30);
  FWPM_CALLOUT0 c{};
  c.calloutKey = co;
  c.displayData.name = const_cast<wchar_t*>(L"callout");
  c.applicableLayer = FWPM_LAYER_ALE_AUTH_CONNECT_V4;
  UINT32 cid = 0;
  ASSERT_EQ(FwpmCalloutAdd0(engineHandle, &c, nullptr, &cid), STATUS_SUCCESS);
  FilterBuilder b(FWPM_LAYER_ALE_AUTH_CONNECT_V4);
  b.action(FWP_ACTION_BLOCK).remotePort(81);
  UINT64 id = addFilter(b);
  EXPECT_EQ(connect(request(kDst, 81)).action, Action::Block);
  EXPECT_EQ(FwpmFilterDeleteById0(engineHandle, id), STATUS_SUCCESS);
  EXPECT_EQ(connect(request(kDst, 81)).action, Action::Permit);
  EXPECT_EQ(FwpmFilterDeleteById0(engineHandle, id), STATUS_FWP_FILTER_NOT_FOUND);
  EXPECT_EQ(FwpmCalloutDeleteById0(engineHandle, cid), STATUS_SUCCESS);
  EXPECT_EQ(FwpmCalloutDeleteById0(engineHandle, cid), STATUS_FWP_CALLOUT_NOT_FOUND);
}

TEST_F(S2, S2_1_EnumerationListsFiltersByLayerInBatches) {
  for (int i = 0; i < 5; ++i) {
    FilterBuilder b(FWPM_LAYER_ALE_CONNECT_REDIRECT_V4);
    b.remotePort(static_cast<UINT16>(100 + i));
    addFilter(b);
  }
  for (int i = 0; i < 3; ++i) {
    FilterBuilder b(FWPM_LAYER_ALE_AUTH_CONNECT_V6);
    b.remotePort(static_cast<UINT16>(200 + i));
    addFilter(b);
  }
  GUID v4 = FWPM_LAYER_ALE_CONNECT_REDIRECT_V4, v6 = FWPM_LAYER_ALE_AUTH_CONNECT_V6;
  EXPECT_EQ(filterCount(engineHandle), 8u);
  EXPECT_EQ(filterCount(engineHandle, &v4), 5u);
  EXPECT_EQ(filterCount(engineHandle, &v6), 3u);
}

TEST_F(S2, S2_1_EnumHandleIsBoundToItsSession) {
  HANDLE e = nullptr;
  ASSERT_EQ(FwpmFilterCreateEnumHandle0(engineHandle, nullptr, &e), STATUS_SUCCESS);
  HANDLE other = nullptr;
  ASSERT_EQ(FwpmEngineOpen0(nullptr, RPC_C_AUTHN_WINNT, nullptr, nullptr, &other), STATUS_SUCCESS);
  FWPM_FILTER0** entries = nullptr;
  UINT32 n = 0;
  EXPECT_EQ(FwpmFilterEnum0(other, e, 10, &entries, &n), STATUS_INVALID_HANDLE);
  EXPECT_EQ(FwpmFilterDestroyEnumHandle0(engineHandle, e), STATUS_SUCCESS);
  EXPECT_EQ(FwpmFilterDestroyEnumHandle0(engineHandle, e), STATUS_INVALID_HANDLE);
  FwpmEngineClose0(other);
}

TEST_F(S2, S2_1_DynamicSessionDeletesItsObjectsOnClose) {
  FWPM_SESSION0 session{};
  session.flags = FWPM_SESSION_FLAG_DYNAMIC;
  HANDLE dyn = nullptr;
  ASSERT_EQ(FwpmEngineOpen0(nullptr, RPC_C_AUTHN_WINNT, nullptr, &session, &dyn), STATUS_SUCCESS);
  GUID sub = guid(40);
  FWPM_SUBLAYER0 s{};
  s.subLayerKey = sub;
  s.displayData.name = const_cast<wchar_t*>(L"dyn");
  ASSERT_EQ(FwpmSubLayerAdd0(dyn, &s, nullptr), STATUS_SUCCESS);
  FilterBuilder b(FWPM_LAYER_ALE_AUTH_CONNECT_V4);
  b.subLayer(sub).action(FWP_ACTION_BLOCK);
  UINT64 id = 0;
  ASSERT_EQ(FwpmFilterAdd0(dyn, b.get(), nullptr, &id), STATUS_SUCCESS);
  EXPECT_EQ(connect(request(kDst, 80)).action, Action::Block);
  ASSERT_EQ(FwpmEngineClose0(dyn), STATUS_SUCCESS);
  EXPECT_EQ(connect(request(kDst, 80)).action, Action::Permit);
  FWPM_FILTER0* got = nullptr;
  EXPECT_EQ(FwpmFilterGetById0(engineHandle, id, &got), STATUS_FWP_FILTER_NOT_FOUND);
  EXPECT_EQ(FwpmSubLayerDeleteByKey0(engineHandle, &sub), STATUS_FWP_SUBLAYER_NOT_FOUND);
}

// ---- S2.2 transactions --------------------------------------------------------------------------

TEST_F(S2, S2_2_ChangesOfATransactionAppearOnlyAtCommit) {
  ASSERT_EQ(FwpmTransactionBegin0(engineHandle, 0), STATUS_SUCCESS);
  FilterBuilder b(FWPM_LAYER_ALE_AUTH_CONNECT_V4);
  b.action(FWP_ACTION_BLOCK).remotePort(443);
  addFilter(b);
  EXPECT_EQ(connect(request(kDst, 443)).action, Action::Permit) << "visible before commit";
  ASSERT_EQ(FwpmTransactionCommit0(engineHandle), STATUS_SUCCESS);
  EXPECT_EQ(connect(request(kDst, 443)).action, Action::Block);
}

TEST_F(S2, S2_2_AbortDiscardsEverything) {
  FilterBuilder keep(FWPM_LAYER_ALE_AUTH_CONNECT_V4);
  keep.action(FWP_ACTION_BLOCK).remotePort(22);
  UINT64 kept = addFilter(keep);
  ASSERT_EQ(FwpmTransactionBegin0(engineHandle, 0), STATUS_SUCCESS);
  FilterBuilder b(FWPM_LAYER_ALE_AUTH_CONNECT_V4);
  b.action(FWP_ACTION_BLOCK).remotePort(443);
  UINT64 added = addFilter(b);
  EXPECT_EQ(FwpmFilterDeleteById0(engineHandle, kept), STATUS_SUCCESS);
  GUID sub = guid(50);
  addSubLayer(sub, 5);
  ASSERT_EQ(FwpmTransactionAbort0(engineHandle), STATUS_SUCCESS);
  EXPECT_EQ(connect(request(kDst, 443)).action, Action::Permit);
  EXPECT_EQ(connect(request(kDst, 22)).action, Action::Block);
  FWPM_FILTER0* got = nullptr;
  EXPECT_EQ(FwpmFilterGetById0(engineHandle, added, &got), STATUS_FWP_FILTER_NOT_FOUND);
  ASSERT_EQ(FwpmFilterGetById0(engineHandle, kept, &got), STATUS_SUCCESS);
  FwpmFreeMemory0(reinterpret_cast<void**>(&got));
  EXPECT_EQ(FwpmSubLayerDeleteByKey0(engineHandle, &sub), STATUS_FWP_SUBLAYER_NOT_FOUND);
}

TEST_F(S2, S2_2_ReadOnlyTransactionRejectsChanges) {
  ASSERT_EQ(FwpmTransactionBegin0(engineHandle, FWPM_TXN_READ_ONLY), STATUS_SUCCESS);
  FilterBuilder b(FWPM_LAYER_ALE_AUTH_CONNECT_V4);
  EXPECT_EQ(FwpmFilterAdd0(engineHandle, b.get(), nullptr, nullptr), STATUS_FWP_INCOMPATIBLE_TXN);
  EXPECT_EQ(FwpmTransactionCommit0(engineHandle), STATUS_SUCCESS);
}

// A classify never sees half a transaction: each transaction adds (or deletes) two filters in
// two sublayers; every concurrent classify matches either none or both.
TEST_F(S2, S2_2_ConcurrentClassifyNeverSeesHalfATransaction) {
  GUID subA = guid(60), subB = guid(61);
  addSubLayer(subA, 10);
  addSubLayer(subB, 20);
  std::atomic<bool> stop{false};
  std::atomic<int> torn{0}, seenBoth{0}, seenNone{0};
  std::thread reader([&] {
    while (!stop) {
      openwfp::engine::ClassifyRequest r;
      r.layer = openwfp::engine::LayerId::AuthConnectV4;
      r.values.setEndpoints(Endpoint::v4(0x7F000001, 1), Endpoint::v4(kDst, 8080));
      r.values.protocol = 6;
      engine().start(std::move(r), [&](openwfp::engine::Classify& c) {
        size_t n = c.record().filters.size();
        if (n == 2) ++seenBoth;
        else if (n == 0) ++seenNone;
        else ++torn;
      });
    }
  });
  // Let the reader run before the first transaction (on a loaded machine it may otherwise not be
  // scheduled until all transactions are done, and the test would prove nothing).
  for (int spins = 0; seenBoth + seenNone + torn == 0 && spins < 5000; ++spins)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  for (int i = 0; i < 200; ++i) {
    ASSERT_EQ(FwpmTransactionBegin0(engineHandle, 0), STATUS_SUCCESS);
    FilterBuilder a(FWPM_LAYER_ALE_AUTH_CONNECT_V4), b(FWPM_LAYER_ALE_AUTH_CONNECT_V4);
    a.subLayer(subA).remotePort(8080);
    b.subLayer(subB).remotePort(8080);
    UINT64 ia = addFilter(a), ib = addFilter(b);
    ASSERT_EQ(FwpmTransactionCommit0(engineHandle), STATUS_SUCCESS);
    ASSERT_EQ(FwpmTransactionBegin0(engineHandle, 0), STATUS_SUCCESS);
    EXPECT_EQ(FwpmFilterDeleteById0(engineHandle, ia), STATUS_SUCCESS);
    EXPECT_EQ(FwpmFilterDeleteById0(engineHandle, ib), STATUS_SUCCESS);
    ASSERT_EQ(FwpmTransactionCommit0(engineHandle), STATUS_SUCCESS);
  }
  stop = true;
  reader.join();
  rt().tracer().clear();
  EXPECT_EQ(torn.load(), 0);
  EXPECT_GT(seenBoth.load() + seenNone.load(), 0);
}

TEST_F(S2, S2_2_TransactionStateErrors) {
  EXPECT_EQ(FwpmTransactionCommit0(engineHandle), STATUS_FWP_NO_TXN_IN_PROGRESS);
  EXPECT_EQ(FwpmTransactionAbort0(engineHandle), STATUS_FWP_NO_TXN_IN_PROGRESS);
  ASSERT_EQ(FwpmTransactionBegin0(engineHandle, 0), STATUS_SUCCESS);
  EXPECT_EQ(FwpmTransactionBegin0(engineHandle, 0), STATUS_FWP_TXN_IN_PROGRESS);
  EXPECT_EQ(FwpmTransactionCommit0(engineHandle), STATUS_SUCCESS);
}

// ---- S2.3 errors --------------------------------------------------------------------------------

TEST_F(S2, S2_3_AlreadyExistsForEveryObjectKind) {
  GUID prov = guid(70), sub = guid(71), co = guid(72), fk = guid(73);
  auto p = provider(prov);
  ASSERT_EQ(FwpmProviderAdd0(engineHandle, &p, nullptr), STATUS_SUCCESS);
  EXPECT_EQ(FwpmProviderAdd0(engineHandle, &p, nullptr), STATUS_FWP_ALREADY_EXISTS);
  addSubLayer(sub, 1);
  FWPM_SUBLAYER0 s{};
  s.subLayerKey = sub;
  s.displayData.name = const_cast<wchar_t*>(L"again");
  EXPECT_EQ(FwpmSubLayerAdd0(engineHandle, &s, nullptr), STATUS_FWP_ALREADY_EXISTS);
  s.subLayerKey = FWPM_SUBLAYER_UNIVERSAL;
  EXPECT_EQ(FwpmSubLayerAdd0(engineHandle, &s, nullptr), STATUS_FWP_ALREADY_EXISTS);
  addCallout(co, FWPM_LAYER_ALE_CONNECT_REDIRECT_V4);
  FWPM_CALLOUT0 c{};
  c.calloutKey = co;
  c.displayData.name = const_cast<wchar_t*>(L"again");
  c.applicableLayer = FWPM_LAYER_ALE_CONNECT_REDIRECT_V4;
  EXPECT_EQ(FwpmCalloutAdd0(engineHandle, &c, nullptr, nullptr), STATUS_FWP_ALREADY_EXISTS);
  FilterBuilder b(FWPM_LAYER_ALE_CONNECT_REDIRECT_V4);
  b.key(fk);
  ASSERT_EQ(FwpmFilterAdd0(engineHandle, b.get(), nullptr, nullptr), STATUS_SUCCESS);
  EXPECT_EQ(FwpmFilterAdd0(engineHandle, b.get(), nullptr, nullptr), STATUS_FWP_ALREADY_EXISTS);
}

TEST_F(S2, S2_3_NotFoundCodes) {
  GUID unknown = guid(99);
  FilterBuilder badLayer(unknown);
  EXPECT_EQ(FwpmFilterAdd0(engineHandle, badLayer.get(), nullptr, nullptr), STATUS_FWP_LAYER_NOT_FOUND);
  FilterBuilder badSub(FWPM_LAYER_ALE_AUTH_CONNECT_V4);
  badSub.subLayer(unknown);
  EXPECT_EQ(FwpmFilterAdd0(engineHandle, badSub.get(), nullptr, nullptr), STATUS_FWP_SUBLAYER_NOT_FOUND);
  FilterBuilder badCallout(FWPM_LAYER_ALE_AUTH_CONNECT_V4);
  badCallout.callout(FWP_ACTION_CALLOUT_TERMINATING, unknown);
  EXPECT_EQ(FwpmFilterAdd0(engineHandle, badCallout.get(), nullptr, nullptr), STATUS_FWP_CALLOUT_NOT_FOUND);
  FilterBuilder badProvider(FWPM_LAYER_ALE_AUTH_CONNECT_V4);
  badProvider.provider(unknown);
  EXPECT_EQ(FwpmFilterAdd0(engineHandle, badProvider.get(), nullptr, nullptr), STATUS_FWP_PROVIDER_NOT_FOUND);
  FWPM_CALLOUT0 c{};
  c.calloutKey = guid(98);
  c.displayData.name = const_cast<wchar_t*>(L"c");
  c.applicableLayer = unknown;
  EXPECT_EQ(FwpmCalloutAdd0(engineHandle, &c, nullptr, nullptr), STATUS_FWP_LAYER_NOT_FOUND);
  FWPM_SUBLAYER0 s{};
  s.subLayerKey = guid(97);
  s.displayData.name = const_cast<wchar_t*>(L"s");
  s.providerKey = &unknown;
  EXPECT_EQ(FwpmSubLayerAdd0(engineHandle, &s, nullptr), STATUS_FWP_PROVIDER_NOT_FOUND);
  EXPECT_EQ(FwpmFilterDeleteByKey0(engineHandle, &unknown), STATUS_FWP_FILTER_NOT_FOUND);
  EXPECT_EQ(FwpmCalloutDeleteByKey0(engineHandle, &unknown), STATUS_FWP_CALLOUT_NOT_FOUND);
  EXPECT_EQ(FwpmSubLayerDeleteByKey0(engineHandle, &unknown), STATUS_FWP_SUBLAYER_NOT_FOUND);
  EXPECT_EQ(FwpmProviderDeleteByKey0(engineHandle, &unknown), STATUS_FWP_PROVIDER_NOT_FOUND);
}

TEST_F(S2, S2_3_InUseWhileReferencedByFilters) {
  GUID prov = guid(80), sub = guid(81), co = guid(82);
  auto p = provider(prov);
  ASSERT_EQ(FwpmProviderAdd0(engineHandle, &p, nullptr), STATUS_SUCCESS);
  addSubLayer(sub, 3);
  addCallout(co, FWPM_LAYER_ALE_CONNECT_REDIRECT_V4);
  FilterBuilder b(FWPM_LAYER_ALE_CONNECT_REDIRECT_V4);
  b.subLayer(sub).provider(prov).callout(FWP_ACTION_CALLOUT_INSPECTION, co);
  UINT64 id = addFilter(b);
  EXPECT_EQ(FwpmSubLayerDeleteByKey0(engineHandle, &sub), STATUS_FWP_IN_USE);
  EXPECT_EQ(FwpmCalloutDeleteByKey0(engineHandle, &co), STATUS_FWP_IN_USE);
  EXPECT_EQ(FwpmProviderDeleteByKey0(engineHandle, &prov), STATUS_FWP_IN_USE);
  EXPECT_EQ(FwpmSubLayerDeleteByKey0(engineHandle, &FWPM_SUBLAYER_UNIVERSAL), STATUS_FWP_BUILTIN_OBJECT);
  ASSERT_EQ(FwpmFilterDeleteById0(engineHandle, id), STATUS_SUCCESS);
  EXPECT_EQ(FwpmSubLayerDeleteByKey0(engineHandle, &sub), STATUS_SUCCESS);
  EXPECT_EQ(FwpmCalloutDeleteByKey0(engineHandle, &co), STATUS_SUCCESS);
  EXPECT_EQ(FwpmProviderDeleteByKey0(engineHandle, &prov), STATUS_SUCCESS);
}

TEST_F(S2, S2_3_BadPointersAndArguments) {
  EXPECT_EQ(FwpmFilterAdd0(engineHandle, nullptr, nullptr, nullptr), STATUS_FWP_NULL_POINTER);
  EXPECT_EQ(FwpmSubLayerAdd0(engineHandle, nullptr, nullptr), STATUS_FWP_NULL_POINTER);
  EXPECT_EQ(FwpmCalloutAdd0(engineHandle, nullptr, nullptr, nullptr), STATUS_FWP_NULL_POINTER);
  EXPECT_EQ(FwpmProviderAdd0(engineHandle, nullptr, nullptr), STATUS_FWP_NULL_POINTER);
  EXPECT_EQ(FwpmFilterDeleteByKey0(engineHandle, nullptr), STATUS_FWP_NULL_POINTER);
  FilterBuilder conds(FWPM_LAYER_ALE_AUTH_CONNECT_V4);
  FWPM_FILTER0* f = conds.get();
  f->numFilterConditions = 2;  // with a NULL array
  EXPECT_EQ(FwpmFilterAdd0(engineHandle, f, nullptr, nullptr), STATUS_FWP_NULL_POINTER);
  FilterBuilder noName(FWPM_LAYER_ALE_AUTH_CONNECT_V4);
  noName.noName();
  EXPECT_EQ(FwpmFilterAdd0(engineHandle, noName.get(), nullptr, nullptr), STATUS_FWP_NULL_DISPLAY_NAME);
  FilterBuilder badAction(FWPM_LAYER_ALE_AUTH_CONNECT_V4);
  badAction.action(FWP_ACTION_CONTINUE);
  EXPECT_EQ(FwpmFilterAdd0(engineHandle, badAction.get(), nullptr, nullptr), STATUS_FWP_INVALID_ACTION_TYPE);
  FilterBuilder nullValue(FWPM_LAYER_ALE_AUTH_CONNECT_V4);
  FWP_CONDITION_VALUE0 v{};
  v.type = FWP_V4_ADDR_MASK;  // pointer left NULL
  nullValue.raw(FWPM_CONDITION_IP_REMOTE_ADDRESS, FWP_MATCH_EQUAL, v);
  EXPECT_EQ(FwpmFilterAdd0(engineHandle, nullValue.get(), nullptr, nullptr), STATUS_FWP_NULL_POINTER);
  GUID co = guid(90);
  addCallout(co, FWPM_LAYER_ALE_CONNECT_REDIRECT_V4);
  FilterBuilder wrongLayer(FWPM_LAYER_ALE_AUTH_CONNECT_V4);
  wrongLayer.callout(FWP_ACTION_CALLOUT_TERMINATING, co);
  EXPECT_EQ(FwpmFilterAdd0(engineHandle, wrongLayer.get(), nullptr, nullptr), STATUS_FWP_INCOMPATIBLE_LAYER);
}

TEST_F(S2, S2_3_ConditionErrors) {
  FilterBuilder unknownField(FWPM_LAYER_ALE_CONNECT_REDIRECT_V4);
  FWP_CONDITION_VALUE0 v{};
  v.type = FWP_UINT32;
  unknownField.raw(guid(123), FWP_MATCH_EQUAL, v);
  EXPECT_EQ(FwpmFilterAdd0(engineHandle, unknownField.get(), nullptr, nullptr), STATUS_FWP_CONDITION_NOT_FOUND);
  FilterBuilder notAtLayer(FWPM_LAYER_ALE_BIND_REDIRECT_V4);
  notAtLayer.remotePort(80);  // no remote port at bind-redirect
  EXPECT_EQ(FwpmFilterAdd0(engineHandle, notAtLayer.get(), nullptr, nullptr), STATUS_FWP_CONDITION_NOT_FOUND);
  FilterBuilder wrongType(FWPM_LAYER_ALE_CONNECT_REDIRECT_V4);
  FWP_CONDITION_VALUE0 u8{};
  u8.type = FWP_UINT8;
  wrongType.raw(FWPM_CONDITION_IP_REMOTE_PORT, FWP_MATCH_EQUAL, u8);
  EXPECT_EQ(FwpmFilterAdd0(engineHandle, wrongType.get(), nullptr, nullptr), STATUS_FWP_TYPE_MISMATCH);
  FilterBuilder wrongMatch(FWPM_LAYER_ALE_CONNECT_REDIRECT_V4);
  wrongMatch.remotePort(80, FWP_MATCH_FLAGS_ALL_SET);
  EXPECT_EQ(FwpmFilterAdd0(engineHandle, wrongMatch.get(), nullptr, nullptr), STATUS_FWP_MATCH_TYPE_MISMATCH);
  FilterBuilder badMask(FWPM_LAYER_ALE_CONNECT_REDIRECT_V4);
  badMask.remoteV4Mask(0x0A000000, 0xFF00FF00);
  EXPECT_EQ(FwpmFilterAdd0(engineHandle, badMask.get(), nullptr, nullptr), STATUS_FWP_INVALID_NET_MASK);
  FilterBuilder v6OnV4(FWPM_LAYER_ALE_CONNECT_REDIRECT_V4);
  v6OnV4.remoteV6({}, FWP_MATCH_EQUAL);
  EXPECT_EQ(FwpmFilterAdd0(engineHandle, v6OnV4.get(), nullptr, nullptr), STATUS_FWP_TYPE_MISMATCH);
  FilterBuilder badRange(FWPM_LAYER_ALE_CONNECT_REDIRECT_V4);
  badRange.remotePortRange(90, 80);
  EXPECT_EQ(FwpmFilterAdd0(engineHandle, badRange.get(), nullptr, nullptr), STATUS_FWP_INVALID_RANGE);
}

// ---- S2.4 conditions ----------------------------------------------------------------------------

class S2Cond : public Harness {
 protected:
  // One BLOCK filter at AUTH_CONNECT_V4 built by `f`; returns whether `r` is blocked.
  bool blocks(const std::function<void(FilterBuilder&)>& f, const ConnectRequest& r) {
    FilterBuilder b(FWPM_LAYER_ALE_AUTH_CONNECT_V4);
    b.action(FWP_ACTION_BLOCK);
    f(b);
    UINT64 id = addFilter(b);
    bool blocked = connect(r).action == Action::Block;
    EXPECT_EQ(FwpmFilterDeleteById0(engineHandle, id), STATUS_SUCCESS);
    return blocked;
  }
};

TEST_F(S2Cond, S2_4_RemoteAddressV4ExactAndMask) {
  auto r = request(0x0A010203, 80);  // 10.1.2.3
  EXPECT_TRUE(blocks([](auto& b) { b.remoteV4(0x0A010203); }, r));
  EXPECT_FALSE(blocks([](auto& b) { b.remoteV4(0x0A010204); }, r));
  EXPECT_TRUE(blocks([](auto& b) { b.remoteV4Mask(0x0A010000, 0xFFFF0000); }, r));
  EXPECT_FALSE(blocks([](auto& b) { b.remoteV4Mask(0x0A020000, 0xFFFF0000); }, r));
  EXPECT_TRUE(blocks([](auto& b) { b.remoteV4Mask(0x0A020000, 0xFFFF0000, FWP_MATCH_NOT_EQUAL); }, r));
  EXPECT_TRUE(blocks([](auto& b) { b.remoteV4(0x0A000000, FWP_MATCH_GREATER); }, r));
  EXPECT_FALSE(blocks([](auto& b) { b.remoteV4(0x0A000000, FWP_MATCH_LESS); }, r));
}

TEST_F(S2Cond, S2_4_LocalAddressCondition) {
  auto r = request(kDst, 80);  // local 127.0.0.1
  EXPECT_TRUE(blocks([](auto& b) { b.localV4(0x7F000001); }, r));
  EXPECT_FALSE(blocks([](auto& b) { b.localV4(0x7F000002); }, r));
}

TEST_F(S2Cond, S2_4_PortsWithComparisonsAndRange) {
  auto r = request(kDst, 8080);
  EXPECT_TRUE(blocks([](auto& b) { b.remotePort(8080); }, r));
  EXPECT_TRUE(blocks([](auto& b) { b.remotePort(80, FWP_MATCH_NOT_EQUAL); }, r));
  EXPECT_TRUE(blocks([](auto& b) { b.remotePort(8000, FWP_MATCH_GREATER); }, r));
  EXPECT_FALSE(blocks([](auto& b) { b.remotePort(8080, FWP_MATCH_GREATER); }, r));
  EXPECT_TRUE(blocks([](auto& b) { b.remotePort(8080, FWP_MATCH_GREATER_OR_EQUAL); }, r));
  EXPECT_TRUE(blocks([](auto& b) { b.remotePort(8080, FWP_MATCH_LESS_OR_EQUAL); }, r));
  EXPECT_FALSE(blocks([](auto& b) { b.remotePort(8080, FWP_MATCH_LESS); }, r));
  EXPECT_TRUE(blocks([](auto& b) { b.remotePortRange(8000, 9000); }, r));
  EXPECT_FALSE(blocks([](auto& b) { b.remotePortRange(1, 1024); }, r));
  EXPECT_TRUE(blocks([](auto& b) { b.localPort(40000); }, r));
}

TEST_F(S2Cond, S2_4_ProtocolUserAndFlags) {
  auto tcp = request(kDst, 53);
  auto udp = request(kDst, 53, true);
  EXPECT_TRUE(blocks([](auto& b) { b.protocol(17); }, udp));
  EXPECT_FALSE(blocks([](auto& b) { b.protocol(17); }, tcp));
  EXPECT_TRUE(blocks([](auto& b) { b.userId(1000); }, tcp));
  EXPECT_FALSE(blocks([](auto& b) { b.userId(0); }, tcp));
  auto loop = request(0x7F000002, 80);  // loopback destination: IS_LOOPBACK set
  EXPECT_TRUE(blocks([](auto& b) { b.flagsCondition(FWP_CONDITION_FLAG_IS_LOOPBACK, FWP_MATCH_FLAGS_ALL_SET); }, loop));
  EXPECT_FALSE(blocks([](auto& b) { b.flagsCondition(FWP_CONDITION_FLAG_IS_LOOPBACK, FWP_MATCH_FLAGS_ALL_SET); }, tcp));
  EXPECT_TRUE(blocks([](auto& b) {
    b.flagsCondition(FWP_CONDITION_FLAG_IS_LOOPBACK | FWP_CONDITION_FLAG_IS_PROXY_CONNECTION,
                     FWP_MATCH_FLAGS_ANY_SET);
  }, loop));
  EXPECT_TRUE(blocks([](auto& b) { b.flagsCondition(FWP_CONDITION_FLAG_IS_LOOPBACK, FWP_MATCH_FLAGS_NONE_SET); }, tcp));
  EXPECT_FALSE(blocks([](auto& b) { b.flagsCondition(FWP_CONDITION_FLAG_IS_LOOPBACK, FWP_MATCH_FLAGS_NONE_SET); }, loop));
}

TEST_F(S2Cond, S2_4_AppIdEqualAndPrefix) {
  auto r = request(kDst, 80);  // /usr/bin/curl
  EXPECT_TRUE(blocks([](auto& b) { b.appId(L"/usr/bin/curl"); }, r));
  EXPECT_FALSE(blocks([](auto& b) { b.appId(L"/usr/bin/wget"); }, r));
  EXPECT_TRUE(blocks([](auto& b) { b.appId(L"/usr/bin/wget", FWP_MATCH_NOT_EQUAL); }, r));
  EXPECT_TRUE(blocks([](auto& b) { b.appId(L"/usr/bin/", FWP_MATCH_PREFIX); }, r));
  EXPECT_FALSE(blocks([](auto& b) { b.appId(L"/opt/", FWP_MATCH_PREFIX); }, r));
}

TEST_F(S2Cond, S2_4_SameFieldOredDifferentFieldsAnded) {
  auto r = request(0x0A000005, 443);
  EXPECT_TRUE(blocks([](auto& b) { b.remotePort(80).remotePort(443); }, r));       // OR
  EXPECT_FALSE(blocks([](auto& b) { b.remotePort(80).remotePort(8080); }, r));
  EXPECT_TRUE(blocks([](auto& b) { b.remotePort(443).remoteV4(0x0A000005); }, r)); // AND
  EXPECT_FALSE(blocks([](auto& b) { b.remotePort(443).remoteV4(0x0A000006); }, r));
  EXPECT_TRUE(blocks([](auto& b) {
    b.remoteV4(0x0A000009).remotePort(443).remoteV4(0x0A000005);  // non-adjacent same field
  }, r));
}

TEST_F(S2Cond, S2_4_V6AddressAndPrefix) {
  std::array<uint8_t, 16> dst{0x20, 0x01, 0x0d, 0xb8};
  dst[15] = 7;
  auto r = request6(dst, 80);
  auto build = [&](const std::function<void(FilterBuilder&)>& f) {
    FilterBuilder b(FWPM_LAYER_ALE_AUTH_CONNECT_V6);
    b.action(FWP_ACTION_BLOCK);
    f(b);
    UINT64 id = addFilter(b);
    bool blocked = connect(r).action == Action::Block;
    FwpmFilterDeleteById0(engineHandle, id);
    return blocked;
  };
  EXPECT_TRUE(build([&](auto& b) { b.remoteV6(dst); }));
  std::array<uint8_t, 16> other = dst;
  other[15] = 8;
  EXPECT_FALSE(build([&](auto& b) { b.remoteV6(other); }));
  EXPECT_TRUE(build([&](auto& b) { b.remoteV6Prefix(other, 120); }));
  EXPECT_FALSE(build([&](auto& b) { b.remoteV6Prefix(other, 128); }));
  std::array<uint8_t, 16> net{0x20, 0x01, 0x0d, 0xb9};
  EXPECT_FALSE(build([&](auto& b) { b.remoteV6Prefix(net, 32); }));
  EXPECT_TRUE(build([&](auto& b) { b.remoteV6Prefix(net, 31); }));
}

TEST_F(S2, S2_4_GetAppIdFromFileNameBuildsNulTerminatedWideBlob) {
  FWP_BYTE_BLOB* blob = nullptr;
  ASSERT_EQ(FwpmGetAppIdFromFileName0(L"/usr/bin/curl", &blob), STATUS_SUCCESS);
  ASSERT_NE(blob, nullptr);
  EXPECT_EQ(blob->size, (std::wcslen(L"/usr/bin/curl") + 1) * sizeof(wchar_t));
  EXPECT_EQ(std::wstring(reinterpret_cast<const wchar_t*>(blob->data)), L"/usr/bin/curl");
  FwpmFreeMemory0(reinterpret_cast<void**>(&blob));
  EXPECT_EQ(blob, nullptr);
  EXPECT_EQ(FwpmGetAppIdFromFileName0(nullptr, &blob), STATUS_FWP_NULL_POINTER);
}

// ---- S2.5 weights -------------------------------------------------------------------------------

TEST_F(S2, S2_5_WeightTypesAndEffectiveWeight) {
  auto effective = [&](FilterBuilder& b) -> UINT64 {
    UINT64 id = addFilter(b);
    FWPM_FILTER0* got = nullptr;
    EXPECT_EQ(FwpmFilterGetById0(engineHandle, id, &got), STATUS_SUCCESS);
    EXPECT_EQ(got->effectiveWeight.type, FWP_UINT64);
    UINT64 w = *got->effectiveWeight.uint64;
    FwpmFreeMemory0(reinterpret_cast<void**>(&got));
    return w;
  };
  FilterBuilder exact(FWPM_LAYER_ALE_AUTH_CONNECT_V4);
  exact.weight64(0x1234567890ABCDEFull);
  EXPECT_EQ(effective(exact), 0x1234567890ABCDEFull);

  FilterBuilder general(FWPM_LAYER_ALE_AUTH_CONNECT_V4), specific(FWPM_LAYER_ALE_AUTH_CONNECT_V4);
  specific.remoteV4(kDst).remotePort(80);
  UINT64 wg = effective(general), ws = effective(specific);
  EXPECT_LT(wg, UINT64{1} << 60);
  EXPECT_LT(ws, UINT64{1} << 60);
  EXPECT_GT(ws, wg) << "more specific filters weigh more";

  FilterBuilder ranged(FWPM_LAYER_ALE_AUTH_CONNECT_V4);
  ranged.weight8(12).remoteV4(kDst).remotePort(80);
  EXPECT_EQ(effective(ranged), (UINT64{12} << 60) | ws);

  FilterBuilder over(FWPM_LAYER_ALE_AUTH_CONNECT_V4);
  over.weight8(16);
  EXPECT_EQ(FwpmFilterAdd0(engineHandle, over.get(), nullptr, nullptr), STATUS_FWP_INVALID_WEIGHT);
  FilterBuilder wrong(FWPM_LAYER_ALE_AUTH_CONNECT_V4);
  wrong.weightType(FWP_UINT32, 5);
  EXPECT_EQ(FwpmFilterAdd0(engineHandle, wrong.get(), nullptr, nullptr), STATUS_FWP_INVALID_WEIGHT);
}

TEST_F(S2, S2_5_ZeroSubLayerKeyMeansDefaultSublayer) {
  FilterBuilder b(FWPM_LAYER_ALE_AUTH_CONNECT_V4);
  UINT64 id = addFilter(b);
  FWPM_FILTER0* got = nullptr;
  ASSERT_EQ(FwpmFilterGetById0(engineHandle, id, &got), STATUS_SUCCESS);
  EXPECT_TRUE(sameGuid(got->subLayerKey, FWPM_SUBLAYER_UNIVERSAL));
  FwpmFreeMemory0(reinterpret_cast<void**>(&got));
  auto f = engine().filterById(id);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->subLayerWeight, openwfp::engine::kUniversalSubLayerWeight);
}

TEST_F(S2, S2_5_HigherWeightDecidesInsideASublayer) {
  FilterBuilder permit(FWPM_LAYER_ALE_AUTH_CONNECT_V4), block(FWPM_LAYER_ALE_AUTH_CONNECT_V4);
  permit.action(FWP_ACTION_PERMIT).weight64(100);
  block.action(FWP_ACTION_BLOCK).weight64(50);
  addFilter(permit);
  addFilter(block);
  EXPECT_EQ(connect(request(kDst, 80)).action, Action::Permit);
  FilterBuilder block2(FWPM_LAYER_ALE_AUTH_CONNECT_V4);
  block2.action(FWP_ACTION_BLOCK).weight64(200);
  addFilter(block2);
  EXPECT_EQ(connect(request(kDst, 80)).action, Action::Block);
}

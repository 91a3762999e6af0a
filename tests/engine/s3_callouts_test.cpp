// S3: callout registration, versions, notifications and unregistered callouts (C ABI).
#include "support/wfp_harness.h"

using namespace wfptest;
using openwfp::Action;

namespace {

constexpr UINT32 kDst = 0x0A000001;

class S3 : public Harness {
 protected:
  // Callout filter at `layer` in the default sublayer.
  UINT64 calloutFilter(const GUID& key, const GUID& layer, FWP_ACTION_TYPE type,
                       UINT32 flags = 0, UINT64 rawContext = 0) {
    FilterBuilder b(layer);
    b.callout(type, key).flags(flags).rawContext(rawContext);
    return addFilter(b);
  }
};

void permit(const FWPS_INCOMING_VALUES0*, const FWPS_INCOMING_METADATA_VALUES0*, const void*,
            const FWPS_FILTER3*, FWPS_CLASSIFY_OUT0* out) {
  out->actionType = FWP_ACTION_PERMIT;
}

}  // namespace

TEST_F(S3, S3_1_RegisterTwiceIsAlreadyExists) {
  GUID key = guid(1);
  registerCallout(key, permit);
  FWPS_CALLOUT3 c{};
  c.calloutKey = key;
  c.classifyFn = scriptedClassify3;
  UINT32 id = 0;
  EXPECT_EQ(FwpsCalloutRegister3(device, &c, &id), STATUS_FWP_ALREADY_EXISTS);
}

TEST_F(S3, S3_1_RegisterRejectsNullArguments) {
  FWPS_CALLOUT3 c{};
  c.calloutKey = guid(2);
  c.classifyFn = scriptedClassify3;
  EXPECT_EQ(FwpsCalloutRegister3(nullptr, &c, nullptr), STATUS_INVALID_PARAMETER);
  EXPECT_EQ(FwpsCalloutRegister3(device, nullptr, nullptr), STATUS_INVALID_PARAMETER);
  c.classifyFn = nullptr;
  EXPECT_EQ(FwpsCalloutRegister3(device, &c, nullptr), STATUS_INVALID_PARAMETER);
}

TEST_F(S3, S3_1_RunTimeIdIsTheSameWhicheverComesFirst) {
  GUID a = guid(3), b = guid(4);
  UINT32 regA = registerCallout(a, permit);
  FWPM_CALLOUT0 c{};
  c.calloutKey = a;
  c.displayData.name = const_cast<wchar_t*>(L"a");
  c.applicableLayer = FWPM_LAYER_ALE_CONNECT_REDIRECT_V4;
  UINT32 addA = 0;
  ASSERT_EQ(FwpmCalloutAdd0(engineHandle, &c, nullptr, &addA), STATUS_SUCCESS);
  EXPECT_EQ(regA, addA);
  c.calloutKey = b;
  UINT32 addB = 0;
  ASSERT_EQ(FwpmCalloutAdd0(engineHandle, &c, nullptr, &addB), STATUS_SUCCESS);
  EXPECT_EQ(registerCallout(b, permit), addB);
}

TEST_F(S3, S3_1_UnregisterUnknownIsCalloutNotFound) {
  GUID key = guid(5);
  EXPECT_EQ(FwpsCalloutUnregisterByKey0(&key), STATUS_FWP_CALLOUT_NOT_FOUND);
  EXPECT_EQ(FwpsCalloutUnregisterById0(0xDEAD), STATUS_FWP_CALLOUT_NOT_FOUND);
  UINT32 id = registerCallout(key, permit);
  EXPECT_EQ(FwpsCalloutUnregisterById0(id), STATUS_SUCCESS);
  EXPECT_EQ(FwpsCalloutUnregisterById0(id), STATUS_FWP_CALLOUT_NOT_FOUND);
  EXPECT_EQ(FwpsCalloutUnregisterByKey0(&key), STATUS_FWP_CALLOUT_NOT_FOUND);
}

TEST_F(S3, S3_1_UnregisterWhileItsClassifyRunsIsDeviceBusy) {
  GUID key = guid(6);
  NTSTATUS during = STATUS_SUCCESS;
  registerCallout(key, [&](auto, auto, auto, auto, FWPS_CLASSIFY_OUT0* out) {
    during = FwpsCalloutUnregisterByKey0(&key);
    out->actionType = FWP_ACTION_PERMIT;
  });
  addCallout(key, FWPM_LAYER_ALE_CONNECT_REDIRECT_V4);
  calloutFilter(key, FWPM_LAYER_ALE_CONNECT_REDIRECT_V4, FWP_ACTION_CALLOUT_TERMINATING);
  EXPECT_EQ(connect(request(kDst, 80)).action, Action::Permit);
  EXPECT_EQ(during, STATUS_DEVICE_BUSY);
  EXPECT_EQ(FwpsCalloutUnregisterByKey0(&key), STATUS_SUCCESS);
}

TEST_F(S3, S3_1_UnregisterWhileFlowsCarryItsContextIsDeviceBusy) {
  GUID key = guid(7);
  UINT32 id = registerCallout(key, permit);
  ASSERT_EQ(FwpsFlowAssociateContext0(77, FWPS_LAYER_ALE_AUTH_CONNECT_V4, id, 0x1234), STATUS_SUCCESS);
  EXPECT_EQ(FwpsCalloutUnregisterById0(id), STATUS_DEVICE_BUSY);
  ASSERT_EQ(FwpsFlowRemoveContext0(77, FWPS_LAYER_ALE_AUTH_CONNECT_V4, id), STATUS_SUCCESS);
  EXPECT_EQ(FwpsCalloutUnregisterById0(id), STATUS_SUCCESS);
}

TEST_F(S3, S3_1_ConcurrentRegisterUnregisterIsInUse) {
  GUID key = guid(8);
  registerCallout(key, permit);
  auto slot = engine().slotByKey(toEngineGuid(key), false);
  ASSERT_TRUE(slot);
  {
    openwfp::engine::CalloutSlot::Transition other(*slot);  // another thread mid-(un)register
    ASSERT_TRUE(other.acquired());
    EXPECT_EQ(FwpsCalloutUnregisterByKey0(&key), STATUS_FWP_IN_USE);
    FWPS_CALLOUT3 c{};
    c.calloutKey = key;
    c.classifyFn = scriptedClassify3;
    EXPECT_EQ(FwpsCalloutRegister3(device, &c, nullptr), STATUS_FWP_IN_USE);
  }
  EXPECT_EQ(FwpsCalloutUnregisterByKey0(&key), STATUS_SUCCESS);
}

TEST_F(S3, S3_1_UnregisterSucceedsWhileFiltersReferenceIt) {
  GUID key = guid(9);
  registerCallout(key, permit);
  addCallout(key, FWPM_LAYER_ALE_AUTH_CONNECT_V4);
  calloutFilter(key, FWPM_LAYER_ALE_AUTH_CONNECT_V4, FWP_ACTION_CALLOUT_TERMINATING);
  EXPECT_EQ(connect(request(kDst, 80)).action, Action::Permit);
  EXPECT_EQ(FwpsCalloutUnregisterByKey0(&key), STATUS_SUCCESS);
  EXPECT_EQ(connect(request(kDst, 80)).action, Action::Block);  // S3.4 from now on
}

TEST_F(S3, S3_2_Version0CalloutAtRedirectLayerIsTreatedAsUnregistered) {
  GUID key = guid(10);
  UINT32 id = registerCallout(key, permit, /*version=*/0);
  addCallout(key, FWPM_LAYER_ALE_CONNECT_REDIRECT_V4);
  calloutFilter(key, FWPM_LAYER_ALE_CONNECT_REDIRECT_V4, FWP_ACTION_CALLOUT_TERMINATING);
  auto v = connect(request(kDst, 80));
  EXPECT_EQ(v.action, Action::Block);
  EXPECT_EQ(script(id)->calls.load(), 0);
  EXPECT_NE(v.reason.find("FwpsCalloutRegister0"), std::string::npos) << v.reason;
  bool traced = false;
  for (const auto& r : traces())
    for (const auto& s : r.filters)
      if (s.result == "UNREGISTERED->BLOCK" && s.note.find("FwpsCalloutRegister1") != std::string::npos)
        traced = true;
  EXPECT_TRUE(traced);
}

TEST_F(S3, S3_2_Version0CalloutStillRunsAtAuthConnectAndVersion1AtRedirect) {
  GUID v0 = guid(11), v1 = guid(12);
  UINT32 id0 = registerCallout(v0, permit, 0);
  UINT32 id1 = registerCallout(v1, permit, 1);
  addCallout(v0, FWPM_LAYER_ALE_AUTH_CONNECT_V4);
  addCallout(v1, FWPM_LAYER_ALE_CONNECT_REDIRECT_V4);
  calloutFilter(v0, FWPM_LAYER_ALE_AUTH_CONNECT_V4, FWP_ACTION_CALLOUT_TERMINATING);
  calloutFilter(v1, FWPM_LAYER_ALE_CONNECT_REDIRECT_V4, FWP_ACTION_CALLOUT_TERMINATING);
  EXPECT_EQ(connect(request(kDst, 80)).action, Action::Permit);
  EXPECT_EQ(script(id0)->calls.load(), 1);
  EXPECT_EQ(script(id1)->calls.load(), 1);
}

TEST_F(S3, S3_3_NotifyAddWithKeyAndDeleteWithNullKey) {
  GUID key = guid(13), fkey = guid(14);
  std::vector<std::pair<FWPS_CALLOUT_NOTIFY_TYPE, bool>> seen;
  UINT64 seenId = 0;
  registerCallout(key, permit, 3, [&](FWPS_CALLOUT_NOTIFY_TYPE t, const GUID* k, FWPS_FILTER3* f) {
    seen.emplace_back(t, k != nullptr && sameGuid(*k, fkey));
    seenId = f->filterId;
    return STATUS_SUCCESS;
  });
  addCallout(key, FWPM_LAYER_ALE_CONNECT_REDIRECT_V4);
  FilterBuilder b(FWPM_LAYER_ALE_CONNECT_REDIRECT_V4);
  b.key(fkey).callout(FWP_ACTION_CALLOUT_TERMINATING, key);
  UINT64 id = addFilter(b);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].first, FWPS_CALLOUT_NOTIFY_ADD_FILTER);
  EXPECT_TRUE(seen[0].second);
  EXPECT_EQ(seenId, id);
  ASSERT_EQ(FwpmFilterDeleteById0(engineHandle, id), STATUS_SUCCESS);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1].first, FWPS_CALLOUT_NOTIFY_DELETE_FILTER);
  EXPECT_FALSE(seen[1].second);  // filterKey NULL on delete
}

TEST_F(S3, S3_3_FiltersAddedBeforeRegistrationAreNotReplayed) {
  GUID key = guid(15);
  addCallout(key, FWPM_LAYER_ALE_CONNECT_REDIRECT_V4);
  calloutFilter(key, FWPM_LAYER_ALE_CONNECT_REDIRECT_V4, FWP_ACTION_CALLOUT_TERMINATING);
  UINT32 id = registerCallout(key, permit, 3, [](auto, auto, auto) { return STATUS_SUCCESS; });
  EXPECT_EQ(script(id)->notifies.load(), 0);
  calloutFilter(key, FWPM_LAYER_ALE_CONNECT_REDIRECT_V4, FWP_ACTION_CALLOUT_TERMINATING);
  EXPECT_EQ(script(id)->notifies.load(), 1);
}

TEST_F(S3, S3_3_AddFailureFailsTheFilterAddDeleteFailureIsIgnored) {
  GUID key = guid(16);
  bool failAdd = true;
  registerCallout(key, permit, 3, [&](FWPS_CALLOUT_NOTIFY_TYPE t, auto, auto) {
    if (t == FWPS_CALLOUT_NOTIFY_ADD_FILTER) return failAdd ? STATUS_UNSUCCESSFUL : STATUS_SUCCESS;
    return STATUS_UNSUCCESSFUL;  // DELETE failure must not stop the delete
  });
  addCallout(key, FWPM_LAYER_ALE_AUTH_CONNECT_V4);
  FilterBuilder b(FWPM_LAYER_ALE_AUTH_CONNECT_V4);
  b.callout(FWP_ACTION_CALLOUT_TERMINATING, key);
  UINT64 id = 0;
  EXPECT_EQ(FwpmFilterAdd0(engineHandle, b.get(), nullptr, &id), STATUS_FWP_CALLOUT_NOTIFICATION_FAILED);
  EXPECT_TRUE(engine().filters().empty());
  failAdd = false;
  ASSERT_EQ(FwpmFilterAdd0(engineHandle, b.get(), nullptr, &id), STATUS_SUCCESS);
  EXPECT_EQ(FwpmFilterDeleteById0(engineHandle, id), STATUS_SUCCESS);
  FWPM_FILTER0* got = nullptr;
  EXPECT_EQ(FwpmFilterGetById0(engineHandle, id, &got), STATUS_FWP_FILTER_NOT_FOUND);
}

TEST_F(S3, S3_3_ContextSetByNotifyIsSeenByClassify) {
  GUID key = guid(17);
  UINT64 seenContext = 0;
  registerCallout(
      key,
      [&](auto, auto, auto, const FWPS_FILTER3* f, FWPS_CLASSIFY_OUT0* out) {
        seenContext = f->context;
        out->actionType = FWP_ACTION_PERMIT;
      },
      3,
      [](FWPS_CALLOUT_NOTIFY_TYPE t, auto, FWPS_FILTER3* f) {
        if (t == FWPS_CALLOUT_NOTIFY_ADD_FILTER) f->context = 0xC0FFEE;
        return STATUS_SUCCESS;
      });
  addCallout(key, FWPM_LAYER_ALE_CONNECT_REDIRECT_V4);
  calloutFilter(key, FWPM_LAYER_ALE_CONNECT_REDIRECT_V4, FWP_ACTION_CALLOUT_TERMINATING, 0, 7);
  connect(request(kDst, 80));
  EXPECT_EQ(seenContext, 0xC0FFEEu);
}

TEST_F(S3, S3_3_RawContextIsTheInitialFilterContext) {
  GUID key = guid(18);
  UINT64 seenContext = 0;
  registerCallout(key, [&](auto, auto, auto, const FWPS_FILTER3* f, FWPS_CLASSIFY_OUT0* out) {
    seenContext = f->context;
    out->actionType = FWP_ACTION_PERMIT;
  });
  addCallout(key, FWPM_LAYER_ALE_CONNECT_REDIRECT_V4);
  calloutFilter(key, FWPM_LAYER_ALE_CONNECT_REDIRECT_V4, FWP_ACTION_CALLOUT_TERMINATING, 0, 77);
  connect(request(kDst, 80));
  EXPECT_EQ(seenContext, 77u);
}

TEST_F(S3, S3_4_UnregisteredTerminatingAndUnknownActAsBlock) {
  GUID t = guid(19), u = guid(20);
  addCallout(t, FWPM_LAYER_ALE_AUTH_CONNECT_V4);
  addCallout(u, FWPM_LAYER_ALE_AUTH_CONNECT_V6);
  calloutFilter(t, FWPM_LAYER_ALE_AUTH_CONNECT_V4, FWP_ACTION_CALLOUT_TERMINATING);
  calloutFilter(u, FWPM_LAYER_ALE_AUTH_CONNECT_V6, FWP_ACTION_CALLOUT_UNKNOWN);
  EXPECT_EQ(connect(request(kDst, 80)).action, Action::Block);
  std::array<uint8_t, 16> dst{0x20, 0x01, 0x0d, 0xb8};
  EXPECT_EQ(connect(request6(dst, 80)).action, Action::Block);
  UINT32 id = registerCallout(t, permit);
  EXPECT_EQ(connect(request(kDst, 80)).action, Action::Permit);
  EXPECT_EQ(script(id)->calls.load(), 1);
}

TEST_F(S3, S3_4_UnregisteredInspectionIsSkipped) {
  GUID key = guid(21);
  addCallout(key, FWPM_LAYER_ALE_AUTH_CONNECT_V4);
  calloutFilter(key, FWPM_LAYER_ALE_AUTH_CONNECT_V4, FWP_ACTION_CALLOUT_INSPECTION);
  FilterBuilder lower(FWPM_LAYER_ALE_AUTH_CONNECT_V4);
  lower.action(FWP_ACTION_BLOCK).weight64(0);
  addFilter(lower);
  // Skipped inspection filter: the lower-weight block decides.
  EXPECT_EQ(connect(request(kDst, 80)).action, Action::Block);
  bool skipped = false;
  for (const auto& r : traces())
    for (const auto& s : r.filters) skipped = skipped || s.result == "UNREGISTERED->SKIPPED";
  EXPECT_TRUE(skipped);
}

TEST_F(S3, S3_4_PermitIfCalloutUnregistered) {
  GUID key = guid(22);
  addCallout(key, FWPM_LAYER_ALE_AUTH_CONNECT_V4);
  calloutFilter(key, FWPM_LAYER_ALE_AUTH_CONNECT_V4, FWP_ACTION_CALLOUT_TERMINATING,
                FWPM_FILTER_FLAG_PERMIT_IF_CALLOUT_UNREGISTERED);
  FilterBuilder lower(FWPM_LAYER_ALE_AUTH_CONNECT_V4);
  lower.action(FWP_ACTION_BLOCK).weight64(0);
  addFilter(lower);
  EXPECT_EQ(connect(request(kDst, 80)).action, Action::Permit);
}

TEST_F(S3, S3_4_PermitIfUnregisteredFlagOnlyWithTerminatingOrUnknown) {
  GUID key = guid(23);
  addCallout(key, FWPM_LAYER_ALE_AUTH_CONNECT_V4);
  FilterBuilder insp(FWPM_LAYER_ALE_AUTH_CONNECT_V4);
  insp.callout(FWP_ACTION_CALLOUT_INSPECTION, key).flags(FWPM_FILTER_FLAG_PERMIT_IF_CALLOUT_UNREGISTERED);
  EXPECT_EQ(FwpmFilterAdd0(engineHandle, insp.get(), nullptr, nullptr), STATUS_FWP_INVALID_FLAGS);
  FilterBuilder stat(FWPM_LAYER_ALE_AUTH_CONNECT_V4);
  stat.action(FWP_ACTION_PERMIT).flags(FWPM_FILTER_FLAG_PERMIT_IF_CALLOUT_UNREGISTERED);
  EXPECT_EQ(FwpmFilterAdd0(engineHandle, stat.get(), nullptr, nullptr), STATUS_FWP_INVALID_FLAGS);
  FilterBuilder unk(FWPM_LAYER_ALE_AUTH_CONNECT_V4);
  unk.callout(FWP_ACTION_CALLOUT_UNKNOWN, key).flags(FWPM_FILTER_FLAG_PERMIT_IF_CALLOUT_UNREGISTERED);
  EXPECT_EQ(FwpmFilterAdd0(engineHandle, unk.get(), nullptr, nullptr), STATUS_SUCCESS);
}

// tests/um/um_show_enum_test.cpp - enumeration and lookups through fwpmu.h (SPEC S14.4), paged
// past the 1 MiB reply limit, and ManagementService::show (SPEC S14.7): layer names, weights,
// conditions rendered readably, sublayers, providers, callouts; text and JSON.
#include <set>

#include <nlohmann/json.hpp>

#include "um_test_support.h"

using namespace umtest;

namespace {

GUID numbered(uint32_t n) {
  GUID g{};
  g.Data1 = n;
  g.Data2 = 0xabcd;
  g.Data3 = 0x4321;
  g.Data4[7] = 0x42;
  return g;
}

}  // namespace

class UmEnum : public UmTest {};

TEST_F(UmEnum, S14_4_EnumerationPagesPastOneMegabyte) {
  HANDLE h = open();
  constexpr UINT32 kFilters = 1500;
  std::wstring name(400, L'n');  // 1.6 KB per filter on the wire: 2.4 MB in all
  ASSERT_EQ(FwpmTransactionBegin0(h, 0), static_cast<DWORD>(ERROR_SUCCESS));
  for (UINT32 i = 0; i < kFilters; ++i) {
    FWPM_FILTER0 f{};
    f.filterKey = numbered(i + 1);
    f.displayData.name = name.data();
    f.layerKey = FWPM_LAYER_ALE_AUTH_CONNECT_V4;
    f.action.type = FWP_ACTION_PERMIT;
    ASSERT_EQ(FwpmFilterAdd0(h, &f, nullptr, nullptr), static_cast<DWORD>(ERROR_SUCCESS));
  }
  ASSERT_EQ(FwpmTransactionCommit0(h), static_cast<DWORD>(ERROR_SUCCESS));

  HANDLE e = nullptr;
  ASSERT_EQ(FwpmFilterCreateEnumHandle0(h, nullptr, &e), static_cast<DWORD>(ERROR_SUCCESS));
  FWPM_FILTER0** all = nullptr;
  UINT32 n = 0;
  ASSERT_EQ(FwpmFilterEnum0(h, e, 0xFFFFFFFF, &all, &n), static_cast<DWORD>(ERROR_SUCCESS));
  ASSERT_EQ(n, kFilters);
  std::set<uint32_t> seen;
  for (UINT32 i = 0; i < n; ++i) {
    seen.insert(all[i]->filterKey.Data1);
    ASSERT_EQ(std::wcslen(all[i]->displayData.name), name.size());
  }
  EXPECT_EQ(seen.size(), kFilters);
  FwpmFreeMemory0(reinterpret_cast<void**>(&all));
  EXPECT_EQ(all, nullptr);
  FWPM_FILTER0** more = nullptr;
  ASSERT_EQ(FwpmFilterEnum0(h, e, 10, &more, &n), static_cast<DWORD>(ERROR_SUCCESS));
  EXPECT_EQ(n, 0u);
  EXPECT_EQ(more, nullptr);
  ASSERT_EQ(FwpmFilterDestroyEnumHandle0(h, e), static_cast<DWORD>(ERROR_SUCCESS));
  EXPECT_EQ(FwpmFilterDestroyEnumHandle0(h, e), static_cast<DWORD>(ERROR_INVALID_HANDLE));

  // Small pages in a row see every filter once; a layer template selects.
  FWPM_FILTER_ENUM_TEMPLATE0 t{};
  t.layerKey = FWPM_LAYER_ALE_AUTH_CONNECT_V6;
  ASSERT_EQ(FwpmFilterCreateEnumHandle0(h, &t, &e), static_cast<DWORD>(ERROR_SUCCESS));
  ASSERT_EQ(FwpmFilterEnum0(h, e, 100, &all, &n), static_cast<DWORD>(ERROR_SUCCESS));
  EXPECT_EQ(n, 0u) << "the layer template was not applied";
  ASSERT_EQ(FwpmFilterDestroyEnumHandle0(h, e), static_cast<DWORD>(ERROR_SUCCESS));
  ASSERT_EQ(FwpmFilterCreateEnumHandle0(h, nullptr, &e), static_cast<DWORD>(ERROR_SUCCESS));
  seen.clear();
  for (;;) {
    ASSERT_EQ(FwpmFilterEnum0(h, e, 7, &all, &n), static_cast<DWORD>(ERROR_SUCCESS));
    if (n == 0) break;
    ASSERT_LE(n, 7u);
    for (UINT32 i = 0; i < n; ++i) EXPECT_TRUE(seen.insert(all[i]->filterKey.Data1).second);
    FwpmFreeMemory0(reinterpret_cast<void**>(&all));
  }
  EXPECT_EQ(seen.size(), kFilters);
  ASSERT_EQ(FwpmFilterDestroyEnumHandle0(h, e), static_cast<DWORD>(ERROR_SUCCESS));
  ASSERT_EQ(FwpmEngineClose0(h), static_cast<DWORD>(ERROR_SUCCESS));
}

TEST_F(UmEnum, S14_4_CalloutsProvidersAndSublayersAreFoundAndEnumerated) {
  HANDLE h = open();
  GUID prov = numbered(100);
  FWPM_PROVIDER0 p{};
  p.providerKey = prov;
  p.displayData.name = const_cast<wchar_t*>(L"enum provider");
  ASSERT_EQ(FwpmProviderAdd0(h, &p, nullptr), static_cast<DWORD>(ERROR_SUCCESS));
  FWPM_SUBLAYER0 s{};
  s.subLayerKey = numbered(101);
  s.displayData.name = const_cast<wchar_t*>(L"enum sublayer");
  s.providerKey = &prov;
  s.weight = 7;
  ASSERT_EQ(FwpmSubLayerAdd0(h, &s, nullptr), static_cast<DWORD>(ERROR_SUCCESS));
  FWPM_CALLOUT0 c{};
  c.calloutKey = numbered(102);
  c.displayData.name = const_cast<wchar_t*>(L"enum callout");
  c.providerKey = &prov;
  c.applicableLayer = FWPM_LAYER_ALE_CONNECT_REDIRECT_V4;
  UINT32 calloutId = 0;
  ASSERT_EQ(FwpmCalloutAdd0(h, &c, nullptr, &calloutId), static_cast<DWORD>(ERROR_SUCCESS));
  ASSERT_NE(calloutId, 0u);

  FWPM_CALLOUT0* got = nullptr;
  ASSERT_EQ(FwpmCalloutGetById0(h, calloutId, &got), static_cast<DWORD>(ERROR_SUCCESS));
  EXPECT_STREQ(got->displayData.name, L"enum callout");
  EXPECT_EQ(got->calloutId, calloutId);
  FwpmFreeMemory0(reinterpret_cast<void**>(&got));
  ASSERT_EQ(FwpmCalloutGetByKey0(h, &c.calloutKey, &got), static_cast<DWORD>(ERROR_SUCCESS));
  FwpmFreeMemory0(reinterpret_cast<void**>(&got));
  EXPECT_EQ(FwpmCalloutGetById0(h, calloutId + 1000, &got), static_cast<DWORD>(FWP_E_CALLOUT_NOT_FOUND));

  // Callouts by layer: the template's layer selects.
  FWPM_CALLOUT_ENUM_TEMPLATE0 ct{};
  ct.layerKey = FWPM_LAYER_ALE_CONNECT_REDIRECT_V4;
  HANDLE e = nullptr;
  ASSERT_EQ(FwpmCalloutCreateEnumHandle0(h, &ct, &e), static_cast<DWORD>(ERROR_SUCCESS));
  FWPM_CALLOUT0** callouts = nullptr;
  UINT32 n = 0;
  ASSERT_EQ(FwpmCalloutEnum0(h, e, 100, &callouts, &n), static_cast<DWORD>(ERROR_SUCCESS));
  ASSERT_EQ(n, 1u);
  EXPECT_EQ(callouts[0]->calloutId, calloutId);
  FwpmFreeMemory0(reinterpret_cast<void**>(&callouts));
  // A callout enumeration handle is not a sublayer one.
  FWPM_SUBLAYER0** wrong = nullptr;
  EXPECT_EQ(FwpmSubLayerEnum0(h, e, 1, &wrong, &n), static_cast<DWORD>(ERROR_INVALID_HANDLE));
  ASSERT_EQ(FwpmCalloutDestroyEnumHandle0(h, e), static_cast<DWORD>(ERROR_SUCCESS));
  ct.layerKey = FWPM_LAYER_ALE_BIND_REDIRECT_V4;
  ASSERT_EQ(FwpmCalloutCreateEnumHandle0(h, &ct, &e), static_cast<DWORD>(ERROR_SUCCESS));
  ASSERT_EQ(FwpmCalloutEnum0(h, e, 100, &callouts, &n), static_cast<DWORD>(ERROR_SUCCESS));
  EXPECT_EQ(n, 0u);
  ASSERT_EQ(FwpmCalloutDestroyEnumHandle0(h, e), static_cast<DWORD>(ERROR_SUCCESS));

  // Sublayers by provider; providers all (ours among them).
  FWPM_SUBLAYER_ENUM_TEMPLATE0 st{};
  st.providerKey = &prov;
  ASSERT_EQ(FwpmSubLayerCreateEnumHandle0(h, &st, &e), static_cast<DWORD>(ERROR_SUCCESS));
  FWPM_SUBLAYER0** subs = nullptr;
  ASSERT_EQ(FwpmSubLayerEnum0(h, e, 100, &subs, &n), static_cast<DWORD>(ERROR_SUCCESS));
  ASSERT_EQ(n, 1u);
  EXPECT_EQ(subs[0]->weight, 7);
  FwpmFreeMemory0(reinterpret_cast<void**>(&subs));
  ASSERT_EQ(FwpmSubLayerDestroyEnumHandle0(h, e), static_cast<DWORD>(ERROR_SUCCESS));
  ASSERT_EQ(FwpmProviderCreateEnumHandle0(h, nullptr, &e), static_cast<DWORD>(ERROR_SUCCESS));
  FWPM_PROVIDER0** provs = nullptr;
  ASSERT_EQ(FwpmProviderEnum0(h, e, 100, &provs, &n), static_cast<DWORD>(ERROR_SUCCESS));
  bool found = false;
  for (UINT32 i = 0; i < n; ++i) found |= std::memcmp(&provs[i]->providerKey, &prov, 16) == 0;
  EXPECT_TRUE(found);
  if (provs) FwpmFreeMemory0(reinterpret_cast<void**>(&provs));
  ASSERT_EQ(FwpmProviderDestroyEnumHandle0(h, e), static_cast<DWORD>(ERROR_SUCCESS));
  ASSERT_EQ(FwpmEngineClose0(h), static_cast<DWORD>(ERROR_SUCCESS));
}

TEST_F(UmEnum, S14_7_ShowFiltersNamesLayerWeightAndConditions) {
  std::string out;
  ASSERT_EQ(manage({"add"}, &out), 0) << out;
  HANDLE h = open();
  // A second filter with a mask, a range and a protocol, to see them rendered.
  FWPM_FILTER_CONDITION0 c[3]{};
  FWP_V4_ADDR_AND_MASK mask{0x0A000000, 0xFF000000};
  FWP_RANGE0 range{};
  range.valueLow.type = FWP_UINT16;
  range.valueLow.uint16 = 8000;
  range.valueHigh.type = FWP_UINT16;
  range.valueHigh.uint16 = 8080;
  c[0].fieldKey = FWPM_CONDITION_IP_REMOTE_ADDRESS;
  c[0].conditionValue.type = FWP_V4_ADDR_MASK;
  c[0].conditionValue.v4AddrMask = &mask;
  c[1].fieldKey = FWPM_CONDITION_IP_REMOTE_PORT;
  c[1].matchType = FWP_MATCH_RANGE;
  c[1].conditionValue.type = FWP_RANGE_TYPE;
  c[1].conditionValue.rangeValue = &range;
  c[2].fieldKey = FWPM_CONDITION_IP_PROTOCOL;
  c[2].conditionValue.type = FWP_UINT8;
  c[2].conditionValue.uint8 = 6;
  FWPM_FILTER0 f{};
  f.displayData.name = const_cast<wchar_t*>(L"permit 10/8 web");
  f.layerKey = FWPM_LAYER_ALE_CONNECT_REDIRECT_V4;
  f.action.type = FWP_ACTION_PERMIT;
  UINT64 w = 0x1234;
  f.weight.type = FWP_UINT64;
  f.weight.uint64 = &w;
  f.numFilterConditions = 3;
  f.filterCondition = c;
  ASSERT_EQ(FwpmFilterAdd0(h, &f, nullptr, nullptr), static_cast<DWORD>(ERROR_SUCCESS));
  FWPM_FILTER0* blocked = nullptr;
  ASSERT_EQ(FwpmFilterGetByKey0(h, &kExampleFilter, &blocked), static_cast<DWORD>(ERROR_SUCCESS));
  char effective[24];
  std::snprintf(effective, sizeof effective, "0x%016llx",
                static_cast<unsigned long long>(*blocked->effectiveWeight.uint64));
  FwpmFreeMemory0(reinterpret_cast<void**>(&blocked));
  ASSERT_EQ(FwpmEngineClose0(h), static_cast<DWORD>(ERROR_SUCCESS));

  std::string text = service->show("filters", false);
  for (const char* want :
       {"2 filters", "FWPM_LAYER_ALE_AUTH_CONNECT_V4", "FWPM_LAYER_ALE_CONNECT_REDIRECT_V4",
        "manage_filters: block 127.0.0.9:9", "manage_filters sublayer", "manage_filters provider",
        "FWPM_CONDITION_IP_REMOTE_ADDRESS  FWP_MATCH_EQUAL  127.0.0.9",
        "FWPM_CONDITION_IP_REMOTE_PORT     FWP_MATCH_EQUAL  9", "10.0.0.0/8", "8000 - 8080",
        "6 (tcp)", "FWP_ACTION_BLOCK", "automatic", "0x0000000000001234", "FWPM_SUBLAYER_UNIVERSAL"})
    EXPECT_NE(text.find(want), std::string::npos) << "'" << want << "' missing in:\n" << text;
  EXPECT_NE(text.find(effective), std::string::npos) << effective << " missing in:\n" << text;

  auto j = nlohmann::json::parse(service->show("filters", true));
  ASSERT_EQ(j["filters"].size(), 2u);
  const auto& first = j["filters"][0];
  EXPECT_EQ(first["layer"], "FWPM_LAYER_ALE_AUTH_CONNECT_V4");
  EXPECT_EQ(first["effectiveWeight"], effective);
  EXPECT_EQ(first["conditions"][0]["value"], "127.0.0.9");
  EXPECT_EQ(first["conditions"][1]["field"], "FWPM_CONDITION_IP_REMOTE_PORT");
  EXPECT_EQ(first["action"], "FWP_ACTION_BLOCK");

  std::string subs = service->show("sublayers", false);
  EXPECT_NE(subs.find("manage_filters sublayer"), std::string::npos) << subs;
  EXPECT_NE(subs.find("256"), std::string::npos) << subs;  // its weight, 0x100
  EXPECT_NE(service->show("providers", false).find("manage_filters provider"), std::string::npos);
  auto cj = nlohmann::json::parse(service->show("callouts", true));
  EXPECT_TRUE(cj["callouts"].is_array());
  std::string bad = service->show("gizmos", false);
  EXPECT_EQ(bad, "openwfp: show: unknown kind 'gizmos' (filters, callouts, providers, sublayers)\n");
}

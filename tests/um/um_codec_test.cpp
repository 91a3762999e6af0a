// tests/um/um_codec_test.cpp - the management wire codec (SPEC S14.4): every object and value
// type survives a round trip; malformed input (every truncation, mutations, lying counts) is
// refused, never read past its end.
#include <gtest/gtest.h>

#include <cstdlib>
#include <random>

#include "um/codec.h"

#include <fwpmk.h>

using namespace openwfp::um;

namespace {

GUID key(uint32_t n) {
  GUID g{};
  g.Data1 = n;
  g.Data2 = 0x5150;
  for (int i = 0; i < 8; ++i) g.Data4[i] = static_cast<UINT8>(i * 17 + n);
  return g;
}

bool same(const GUID& a, const GUID& b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// A filter whose conditions use every value type the codec carries.
struct RichFilter {
  FWPM_FILTER0 f{};
  FWPM_FILTER_CONDITION0 c[12]{};
  UINT64 weight = 0x0123456789abcdefull, big = 77;
  INT64 neg = -5;
  FWP_BYTE_ARRAY16 v6{};
  FWP_BYTE_ARRAY6 mac{{1, 2, 3, 4, 5, 6}};
  UINT8 appBytes[8] = {'/', 0, 0, 0, 'x', 0, 0, 0};
  FWP_BYTE_BLOB app{8, appBytes};
  FWP_V4_ADDR_AND_MASK v4mask{0x7F000000, 0xFF000000};
  FWP_V6_ADDR_AND_MASK v6mask{};
  FWP_RANGE0 range{};
  UINT8 provData[3] = {9, 8, 7};
  GUID provider = key(99);
  struct {
    SID sid;
    ULONG more[2];
  } sid{};
  wchar_t text[6] = L"héllo";
  RichFilter() {
    f.filterKey = key(1);
    f.displayData.name = const_cast<wchar_t*>(L"rich filter ☃");
    f.displayData.description = nullptr;
    f.flags = FWPM_FILTER_FLAG_PERSISTENT;
    f.providerKey = &provider;
    f.providerData = {3, provData};
    f.layerKey = FWPM_LAYER_ALE_AUTH_CONNECT_V4;
    f.subLayerKey = key(2);
    f.weight.type = FWP_UINT64;
    f.weight.uint64 = &weight;
    f.action.type = FWP_ACTION_CALLOUT_TERMINATING;
    f.action.calloutKey = key(3);
    f.rawContext = 0xfeedface;
    f.filterId = 42;
    f.effectiveWeight.type = FWP_UINT64;
    f.effectiveWeight.uint64 = &big;
    v6.byteArray16[15] = 1;
    v6mask.addr[0] = 0xfe;
    v6mask.prefixLength = 10;
    range.valueLow.type = FWP_UINT16;
    range.valueLow.uint16 = 1000;
    range.valueHigh.type = FWP_UINT16;
    range.valueHigh.uint16 = 2000;
    sid.sid.Revision = 1;
    sid.sid.SubAuthorityCount = 3;
    sid.sid.IdentifierAuthority.Value[5] = 5;
    sid.sid.SubAuthority[0] = 21;
    sid.more[0] = 22;
    sid.more[1] = 23;
    auto set = [&](int i, FWP_DATA_TYPE t) {
      c[i].fieldKey = FWPM_CONDITION_IP_REMOTE_ADDRESS;
      c[i].matchType = FWP_MATCH_EQUAL;
      c[i].conditionValue.type = t;
      return &c[i].conditionValue;
    };
    set(0, FWP_UINT32)->uint32 = 0x7F000009;
    set(1, FWP_UINT16)->uint16 = 9;
    set(2, FWP_UINT8)->uint8 = 6;
    set(3, FWP_UINT64)->uint64 = &big;
    set(4, FWP_INT64)->int64 = &neg;
    set(5, FWP_BYTE_ARRAY16_TYPE)->byteArray16 = &v6;
    set(6, FWP_BYTE_BLOB_TYPE)->byteBlob = &app;
    set(7, FWP_V4_ADDR_MASK)->v4AddrMask = &v4mask;
    set(8, FWP_V6_ADDR_MASK)->v6AddrMask = &v6mask;
    set(9, FWP_RANGE_TYPE)->rangeValue = &range;
    c[9].matchType = FWP_MATCH_RANGE;
    set(10, FWP_SID)->sid = &sid.sid;
    set(11, FWP_UNICODE_STRING_TYPE)->unicodeString = text;
    f.numFilterConditions = 12;
    f.filterCondition = c;
  }
};

std::vector<uint8_t> encoded(const FWPM_FILTER0& f) {
  Writer w;
  encode(w, f);
  EXPECT_TRUE(w.ok());
  return w.bytes();
}

}  // namespace

TEST(UmCodec, S14_4_CodecRoundTripsFiltersWithEveryValueType) {
  RichFilter in;
  auto bytes = encoded(in.f);
  FWPM_FILTER0* out = decodeObject<FWPM_FILTER0>(bytes);
  ASSERT_NE(out, nullptr);
  EXPECT_TRUE(same(out->filterKey, in.f.filterKey));
  EXPECT_STREQ(out->displayData.name, L"rich filter ☃");
  EXPECT_EQ(out->displayData.description, nullptr);
  EXPECT_EQ(out->flags, in.f.flags);
  ASSERT_NE(out->providerKey, nullptr);
  EXPECT_TRUE(same(*out->providerKey, in.provider));
  ASSERT_EQ(out->providerData.size, 3u);
  EXPECT_EQ(out->providerData.data[2], 7);
  EXPECT_TRUE(same(out->layerKey, FWPM_LAYER_ALE_AUTH_CONNECT_V4));
  EXPECT_EQ(*out->weight.uint64, in.weight);
  EXPECT_EQ(out->action.type, static_cast<UINT32>(FWP_ACTION_CALLOUT_TERMINATING));
  EXPECT_TRUE(same(out->action.calloutKey, key(3)));
  EXPECT_EQ(out->rawContext, 0xfeedfaceull);
  EXPECT_EQ(out->filterId, 42u);
  EXPECT_EQ(*out->effectiveWeight.uint64, 77u);
  ASSERT_EQ(out->numFilterConditions, 12u);
  const FWPM_FILTER_CONDITION0* c = out->filterCondition;
  EXPECT_EQ(c[0].conditionValue.uint32, 0x7F000009u);
  EXPECT_EQ(c[1].conditionValue.uint16, 9);
  EXPECT_EQ(c[2].conditionValue.uint8, 6);
  EXPECT_EQ(*c[3].conditionValue.uint64, 77u);
  EXPECT_EQ(*c[4].conditionValue.int64, -5);
  EXPECT_EQ(c[5].conditionValue.byteArray16->byteArray16[15], 1);
  ASSERT_EQ(c[6].conditionValue.byteBlob->size, 8u);
  EXPECT_EQ(std::memcmp(c[6].conditionValue.byteBlob->data, in.appBytes, 8), 0);
  EXPECT_EQ(c[7].conditionValue.v4AddrMask->mask, 0xFF000000u);
  EXPECT_EQ(c[8].conditionValue.v6AddrMask->prefixLength, 10);
  EXPECT_EQ(c[8].conditionValue.v6AddrMask->addr[0], 0xfe);
  EXPECT_EQ(c[9].matchType, FWP_MATCH_RANGE);
  EXPECT_EQ(c[9].conditionValue.rangeValue->valueLow.uint16, 1000);
  EXPECT_EQ(c[9].conditionValue.rangeValue->valueHigh.uint16, 2000);
  EXPECT_EQ(c[10].conditionValue.sid->SubAuthorityCount, 3);
  EXPECT_EQ(c[10].conditionValue.sid->SubAuthority[2], 23u);
  EXPECT_STREQ(c[11].conditionValue.unicodeString, L"héllo");
  // Encoding the decoded copy gives the same bytes: nothing was lost.
  EXPECT_EQ(encoded(*out), bytes);
  std::free(out);
}

TEST(UmCodec, S14_4_CodecRoundTripsProvidersSublayersCalloutsSessionsTemplates) {
  GUID prov = key(7);
  UINT8 data[2] = {1, 2};
  FWPM_PROVIDER0 p{};
  p.providerKey = prov;
  p.displayData.name = const_cast<wchar_t*>(L"provider");
  p.displayData.description = const_cast<wchar_t*>(L"desc");
  p.flags = FWPM_PROVIDER_FLAG_PERSISTENT;
  p.providerData = {2, data};
  p.serviceName = const_cast<wchar_t*>(L"svc");
  Writer w;
  encode(w, p);
  auto* p2 = decodeObject<FWPM_PROVIDER0>(w.bytes());
  ASSERT_NE(p2, nullptr);
  EXPECT_STREQ(p2->serviceName, L"svc");
  EXPECT_STREQ(p2->displayData.description, L"desc");
  EXPECT_EQ(p2->providerData.data[1], 2);
  std::free(p2);

  FWPM_SUBLAYER0 s{};
  s.subLayerKey = key(8);
  s.providerKey = &prov;
  s.weight = 0x1234;
  Writer ws;
  encode(ws, s);
  auto* s2 = decodeObject<FWPM_SUBLAYER0>(ws.bytes());
  ASSERT_NE(s2, nullptr);
  EXPECT_EQ(s2->weight, 0x1234);
  EXPECT_EQ(s2->displayData.name, nullptr);
  ASSERT_NE(s2->providerKey, nullptr);
  EXPECT_TRUE(same(*s2->providerKey, prov));
  std::free(s2);

  FWPM_CALLOUT0 c{};
  c.calloutKey = key(9);
  c.applicableLayer = FWPM_LAYER_ALE_CONNECT_REDIRECT_V4;
  c.calloutId = 5;
  Writer wc;
  encode(wc, c);
  auto* c2 = decodeObject<FWPM_CALLOUT0>(wc.bytes());
  ASSERT_NE(c2, nullptr);
  EXPECT_EQ(c2->calloutId, 5u);
  EXPECT_TRUE(same(c2->applicableLayer, FWPM_LAYER_ALE_CONNECT_REDIRECT_V4));
  std::free(c2);

  FWPM_SESSION0 ss{};
  ss.flags = FWPM_SESSION_FLAG_DYNAMIC;
  ss.txnWaitTimeoutInMSec = 250;
  Writer wss;
  encode(wss, ss);
  auto* ss2 = decodeObject<FWPM_SESSION0>(wss.bytes());
  ASSERT_NE(ss2, nullptr);
  EXPECT_EQ(ss2->flags, static_cast<UINT32>(FWPM_SESSION_FLAG_DYNAMIC));
  EXPECT_EQ(ss2->txnWaitTimeoutInMSec, 250u);
  std::free(ss2);

  FWPM_FILTER_ENUM_TEMPLATE0 t{};
  t.layerKey = FWPM_LAYER_ALE_AUTH_CONNECT_V4;
  t.providerKey = &prov;
  t.actionMask = FWP_ACTION_BLOCK;
  t.flags = FWP_FILTER_ENUM_FLAG_INCLUDE_DISABLED;
  Writer wt;
  encode(wt, t);
  auto* t2 = decodeObject<FWPM_FILTER_ENUM_TEMPLATE0>(wt.bytes());
  ASSERT_NE(t2, nullptr);
  EXPECT_TRUE(same(t2->layerKey, FWPM_LAYER_ALE_AUTH_CONNECT_V4));
  EXPECT_EQ(t2->actionMask, static_cast<UINT32>(FWP_ACTION_BLOCK));
  EXPECT_EQ(t2->flags, static_cast<UINT32>(FWP_FILTER_ENUM_FLAG_INCLUDE_DISABLED));
  EXPECT_EQ(t2->calloutKey, nullptr);
  std::free(t2);
}

TEST(UmCodec, S14_4_CodecRefusesEveryTruncationAndSurvivesMutations) {
  RichFilter in;
  auto bytes = encoded(in.f);
  for (size_t n = 0; n < bytes.size(); ++n) {
    std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + static_cast<long>(n));
    EXPECT_EQ(decodeObject<FWPM_FILTER0>(cut), nullptr) << "a " << n << "-byte prefix decoded";
  }
  auto longer = bytes;
  longer.push_back(0);
  EXPECT_EQ(decodeObject<FWPM_FILTER0>(longer), nullptr) << "a trailing byte was accepted";
  // Mutations: whatever decodes must re-encode (every pointer it holds is valid); the rest fails.
  std::mt19937 rng(1414);
  int decoded = 0;
  for (int round = 0; round < 20000; ++round) {
    auto m = bytes;
    int flips = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < flips; ++i) m[rng() % m.size()] = static_cast<uint8_t>(rng());
    FWPM_FILTER0* f = decodeObject<FWPM_FILTER0>(m);
    if (!f) continue;
    ++decoded;
    Writer w;
    encode(w, *f);
    std::free(f);
  }
  EXPECT_GT(decoded, 0) << "no mutation decoded: the test exercised nothing past the first error";
}

TEST(UmCodec, S14_4_CodecRefusesCountsTheInputCannotHold) {
  FWPM_FILTER0 f{};
  f.layerKey = FWPM_LAYER_ALE_AUTH_CONNECT_V4;
  FWPM_FILTER_CONDITION0 c{};
  c.fieldKey = FWPM_CONDITION_IP_REMOTE_PORT;
  c.conditionValue.type = FWP_UINT16;
  f.numFilterConditions = 1;
  f.filterCondition = &c;
  auto bytes = encoded(f);
  // The condition count sits after key, display (2 absent strings), flags, provider, data,
  // layer, sublayer and the weight (type only): 16 + 2 + 4 + 1 + 4 + 16 + 16 + 4.
  size_t at = 16 + 2 + 4 + 1 + 4 + 16 + 16 + 4;
  ASSERT_LT(at + 4, bytes.size());
  bytes[at] = bytes[at + 1] = bytes[at + 2] = bytes[at + 3] = 0xFF;
  EXPECT_EQ(decodeObject<FWPM_FILTER0>(bytes), nullptr);
  // A blob with a size and no data cannot be sent.
  FWPM_PROVIDER0 p{};
  p.providerData.size = 4;
  Writer w;
  encode(w, p);
  EXPECT_FALSE(w.ok());
}

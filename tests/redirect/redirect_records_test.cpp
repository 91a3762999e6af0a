// Sealed SIO-format redirect records: format, determinism, round trip (S8.7), live resolution
// (S8.8). Tampering and forgery are in redirect_records_tamper_test.cpp (S12.2).
#include <gtest/gtest.h>

#include <cstring>

#include "redirect/records.h"

namespace openwfp::redirect {
namespace {

constexpr uint64_t kHandle = 0x1234;

Entry sampleEntry(uint64_t handle = kHandle, uint32_t pid = 4242) {
  Entry e;
  e.redirectHandle = handle;
  e.targetPid = pid;
  e.originalDestination = Endpoint::v4(0x7f000002, 443);
  std::array<uint8_t, 16> v6{};
  v6[15] = 1;
  e.redirectedTo = Endpoint::v6(v6, 8443);
  e.filterId = 99;
  return e;
}

uint64_t le64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = v << 8 | p[i];
  return v;
}

TEST(RedirectRecords, S8_7_SealIsDeterministic) {
  RecordsSealer sealer;
  auto h = History::create();
  h->add(sampleEntry(), {});
  const std::vector<uint8_t> first = sealer.seal(*h);
  const std::vector<uint8_t> second = sealer.seal(*h);
  ASSERT_FALSE(first.empty());
  EXPECT_EQ(first, second);

  // A change shows in the bytes.
  h->add(sampleEntry(0x99), {});
  EXPECT_NE(sealer.seal(*h), first);
}

TEST(RedirectRecords, S8_7_RepeatedSealsFollowChangesAndStayPerSealer) {
  // Repeated seals reuse a memoised MAC; it must never outlive a change nor cross sealers.
  RecordsSealer a;
  RecordsSealer b;
  auto h = History::create();
  const uint64_t token = h->add(sampleEntry(kHandle, 1), {});
  const std::vector<uint8_t> first = a.seal(*h);
  h->replace(token, sampleEntry(kHandle, 2), {});
  const std::vector<uint8_t> changed = a.seal(*h);
  EXPECT_NE(changed, first);
  EXPECT_NE(a.open(changed), nullptr);
  h->replace(token, sampleEntry(kHandle, 1), {});
  EXPECT_EQ(a.seal(*h), first);  // same contents again: same bytes
  for (int i = 0; i < 3; ++i) {
    const std::vector<uint8_t> fromA = a.seal(*h);
    const std::vector<uint8_t> fromB = b.seal(*h);
    EXPECT_NE(fromA, fromB);
    EXPECT_NE(a.open(fromA), nullptr);
    EXPECT_NE(b.open(fromB), nullptr);
    EXPECT_EQ(a.open(fromB), nullptr);
    EXPECT_EQ(b.open(fromA), nullptr);
  }
}

TEST(RedirectRecords, S8_7_SizeIsSmallAndAnnounced) {
  RecordsSealer sealer;
  auto h = History::create();
  EXPECT_EQ(sealer.sealedSize(*h), 56u);  // header + MAC, no entries
  h->add(sampleEntry(), {});
  EXPECT_EQ(sealer.sealedSize(*h), 106u);
  EXPECT_EQ(sealer.seal(*h).size(), 106u);
  for (int i = 1; i < 8; ++i) h->add(sampleEntry(kHandle + i), {});
  EXPECT_EQ(sealer.sealedSize(*h), 456u);  // the biggest records ever are a few hundred bytes
  EXPECT_EQ(sealer.seal(*h).size(), 456u);
  EXPECT_LE(RecordsSealer::sizeFor(RecordsSealer::kMaxEntries), 512u);
}

TEST(RedirectRecords, S8_7_HistoryLongerThanCapIsNotSealed) {
  RecordsSealer sealer;
  auto parent = History::create();
  for (int i = 0; i < 5; ++i) parent->add(sampleEntry(kHandle + i), {});
  auto h = History::create(parent);
  for (int i = 0; i < 4; ++i) h->add(sampleEntry(kHandle + 10 + i), {});
  ASSERT_EQ(h->entryCount(), 9u);
  EXPECT_EQ(sealer.sealedSize(*h), 0u);
  std::vector<uint8_t> buf(1024, 0xee);
  EXPECT_EQ(sealer.seal(*h, buf), 0u);
  EXPECT_EQ(buf, std::vector<uint8_t>(1024, 0xee));
  EXPECT_TRUE(sealer.seal(*h).empty());
}

TEST(RedirectRecords, S8_7_ShortBufferGetsNothingWritten) {
  RecordsSealer sealer;
  auto h = History::create();
  h->add(sampleEntry(), {});
  std::vector<uint8_t> buf(105, 0xee);
  EXPECT_EQ(sealer.seal(*h, buf), 0u);
  EXPECT_EQ(buf, std::vector<uint8_t>(105, 0xee));
  buf.resize(200, 0xee);
  EXPECT_EQ(sealer.seal(*h, buf), 106u);
  EXPECT_EQ(buf[106], 0xee);  // nothing past the records
}

TEST(RedirectRecords, S8_7_LayoutMatchesDocumentedFormat) {
  RecordsSealer sealer;
  auto h = History::create();
  h->add(sampleEntry(), {});
  const std::vector<uint8_t> b = sealer.seal(*h);
  ASSERT_EQ(b.size(), 106u);
  EXPECT_EQ(std::memcmp(b.data(), "OWFR", 4), 0);
  EXPECT_EQ(b[4], 1);  // version 1, little-endian u16
  EXPECT_EQ(b[5], 0);
  EXPECT_EQ(b[6], 1);  // one entry
  EXPECT_EQ(b[7], 0);
  EXPECT_EQ(le64(&b[8]), sealer.instanceId());
  EXPECT_EQ(le64(&b[16]), h->id());
  const uint8_t* e = &b[24];
  EXPECT_EQ(le64(e), kHandle);
  EXPECT_EQ(e[8] | e[9] << 8 | e[10] << 16 | e[11] << 24, 4242);
  // original destination: family 4, port 443 LE, 127.0.0.2 then 12 zero bytes
  EXPECT_EQ(e[12], 4);
  EXPECT_EQ(e[13] | e[14] << 8, 443);
  EXPECT_EQ((std::vector<uint8_t>(e + 15, e + 19)), (std::vector<uint8_t>{127, 0, 0, 2}));
  for (int i = 19; i < 31; ++i) EXPECT_EQ(e[i], 0) << i;
  // redirectedTo: family 6, port 8443, ::1
  EXPECT_EQ(e[31], 6);
  EXPECT_EQ(e[32] | e[33] << 8, 8443);
  for (int i = 34; i < 49; ++i) EXPECT_EQ(e[i], 0) << i;
  EXPECT_EQ(e[49], 1);
  // 32-byte MAC over bytes [0, 74) fills the rest.
  EXPECT_EQ(b.size() - 74, 32u);
}

TEST(RedirectRecords, S8_7_RoundTripOfUntrackedHistoryGivesDetachedSnapshot) {
  RecordsSealer sealer;
  int ctx = 1;
  auto parent = History::create();
  parent->add(sampleEntry(0x10, 1), {});
  auto h = History::create(parent);
  Entry own = sampleEntry(0x20, 2);
  own.context = &ctx;
  own.contextSize = sizeof ctx;
  h->add(own, {});

  OpenError err = OpenError::BadMac;
  auto opened = sealer.open(sealer.seal(*h), &err);
  ASSERT_NE(opened, nullptr) << toString(err);
  EXPECT_EQ(err, OpenError::None);
  EXPECT_NE(opened, h);
  EXPECT_EQ(opened->parent(), nullptr);
  const std::vector<Entry> want = h->entries();
  const std::vector<Entry> got = opened->entries();
  ASSERT_EQ(got.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(got[i].redirectHandle, want[i].redirectHandle);
    EXPECT_EQ(got[i].targetPid, want[i].targetPid);
    EXPECT_EQ(got[i].originalDestination, want[i].originalDestination);
    EXPECT_EQ(got[i].redirectedTo, want[i].redirectedTo);
    EXPECT_EQ(got[i].context, nullptr);  // contexts never travel in records
  }
  EXPECT_EQ(queryState(opened.get(), 0x20).state, RedirectState::BySelf);
}

TEST(RedirectRecords, S8_7_RecordsArePositionIndependent) {
  RecordsSealer sealer;
  auto h = History::create();
  h->add(sampleEntry(), {});
  sealer.track(h);
  const std::vector<uint8_t> b = sealer.seal(*h);
  for (size_t shift = 1; shift < 8; ++shift) {
    std::vector<uint8_t> moved(b.size() + shift);
    std::memcpy(moved.data() + shift, b.data(), b.size());
    EXPECT_EQ(sealer.open(std::span<const uint8_t>(moved).subspan(shift)), h) << shift;
  }
}

TEST(RedirectRecords, S8_8_OpenWhileLiveResolvesToLiveObject) {
  RecordsSealer sealer;
  auto h = History::create();
  sealer.track(h);
  h->add(sampleEntry(), {});
  const std::vector<uint8_t> records = sealer.seal(*h);

  auto opened = sealer.open(records);
  ASSERT_EQ(opened, h);
  // An entry applied after sealing (the classify is still going on) is visible through it.
  h->add(sampleEntry(0x777), {});
  ASSERT_EQ(opened->entries().size(), 2u);
  EXPECT_EQ(opened->entries()[1].redirectHandle, 0x777u);
  // Still resolves: the sealed entries are the oldest entries of the live history.
  EXPECT_EQ(sealer.open(records), h);
}

TEST(RedirectRecords, S8_8_ProxyConnectionOfPendedClassifyIsBySelf) {
  // The verify-before-accept flow: the callout applied its redirect and pended; the proxy sets
  // the records on its outbound socket; that connect is classified while the first is pended.
  RecordsSealer sealer;
  auto client = History::create();
  sealer.track(client);
  client->add(sampleEntry(kHandle), {});
  const std::vector<uint8_t> records = sealer.seal(*client);

  auto proxied = sealer.open(records);
  ASSERT_NE(proxied, nullptr);
  auto proxyOutbound = History::create(proxied);
  EXPECT_EQ(queryState(proxyOutbound.get(), kHandle).state, RedirectState::BySelf);
  EXPECT_EQ(queryState(proxyOutbound.get(), 0x5555).state, RedirectState::ByOther);
}

TEST(RedirectRecords, S8_8_OpenAfterHistoryEndedGivesSnapshot) {
  RecordsSealer sealer;
  auto h = History::create();
  sealer.track(h);
  h->add(sampleEntry(), {});
  const std::vector<uint8_t> records = sealer.seal(*h);
  const uint64_t oldId = h->id();
  h.reset();

  auto opened = sealer.open(records);
  ASSERT_NE(opened, nullptr);
  EXPECT_NE(opened->id(), oldId);
  ASSERT_EQ(opened->entries().size(), 1u);
  EXPECT_EQ(queryState(opened.get(), kHandle).state, RedirectState::BySelf);
}

TEST(RedirectRecords, S8_8_LiveHistoryThatNoLongerMatchesGivesSnapshot) {
  RecordsSealer sealer;
  auto h = History::create();
  sealer.track(h);
  const uint64_t token = h->add(sampleEntry(kHandle), {});
  const std::vector<uint8_t> records = sealer.seal(*h);
  h->replace(token, sampleEntry(0x4321), {});  // a later callout took the entry over

  auto opened = sealer.open(records);
  ASSERT_NE(opened, nullptr);
  EXPECT_NE(opened, h);
  ASSERT_EQ(opened->entries().size(), 1u);
  EXPECT_EQ(opened->entries()[0].redirectHandle, kHandle);
}

TEST(RedirectRecords, S8_8_ManyTrackedHistoriesStayResolvable) {
  RecordsSealer sealer;
  std::vector<std::shared_ptr<History>> keep;
  std::vector<std::vector<uint8_t>> records;
  for (int i = 0; i < 300; ++i) {
    auto h = History::create();
    h->add(sampleEntry(kHandle + i), {});
    sealer.track(h);
    if (i % 3 == 0) {  // some die, so tracking sweeps expired ones
      keep.push_back(h);
      records.push_back(sealer.seal(*h));
    }
  }
  for (size_t i = 0; i < keep.size(); ++i) EXPECT_EQ(sealer.open(records[i]), keep[i]) << i;
}

}  // namespace
}  // namespace openwfp::redirect

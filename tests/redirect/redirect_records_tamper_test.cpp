// Sealed records refuse altered, truncated, foreign and made-up blobs (S12.2, S8.7).
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "redirect/records.h"

namespace openwfp::redirect {
namespace {

constexpr uint64_t kHandle = 0xabcdef;

std::shared_ptr<History> twoEntryHistory() {
  auto h = History::create();
  Entry e;
  e.redirectHandle = kHandle;
  e.targetPid = 77;
  e.originalDestination = Endpoint::v4(0x7f000001, 80);
  e.redirectedTo = Endpoint::v4(0x7f000001, 3128);
  h->add(e, {});
  e.redirectHandle = kHandle + 1;
  h->add(e, {});
  return h;
}

TEST(RedirectRecordsTamper, S12_2_EveryAlteredByteIsRefused) {
  RecordsSealer sealer;
  auto h = twoEntryHistory();
  sealer.track(h);
  const std::vector<uint8_t> good = sealer.seal(*h);
  ASSERT_EQ(sealer.open(good), h);
  for (size_t pos = 0; pos < good.size(); ++pos) {
    for (uint8_t mask : {uint8_t{0x01}, uint8_t{0x80}, uint8_t{0xff}}) {
      std::vector<uint8_t> bad = good;
      bad[pos] ^= mask;
      OpenError err = OpenError::None;
      EXPECT_EQ(sealer.open(bad, &err), nullptr) << "pos " << pos << " mask " << int{mask};
      if (pos < 4) {
        EXPECT_EQ(err, OpenError::BadMagic) << pos;
      } else if (pos < 6) {
        EXPECT_EQ(err, OpenError::BadVersion) << pos;
      } else if (pos < 8) {  // entry count: no longer agrees with the length
        EXPECT_TRUE(err == OpenError::Truncated || err == OpenError::Malformed) << pos << " " << toString(err);
      } else {
        EXPECT_EQ(err, OpenError::BadMac) << pos;
      }
    }
  }
}

TEST(RedirectRecordsTamper, S12_2_EveryTruncationIsRefused) {
  RecordsSealer sealer;
  auto h = twoEntryHistory();
  const std::vector<uint8_t> good = sealer.seal(*h);
  for (size_t len = 0; len < good.size(); ++len) {
    OpenError err = OpenError::None;
    EXPECT_EQ(sealer.open(std::span<const uint8_t>(good.data(), len), &err), nullptr) << len;
    EXPECT_EQ(err, OpenError::Truncated) << len;
  }
  OpenError err = OpenError::None;
  EXPECT_EQ(sealer.open(std::span<const uint8_t>(), &err), nullptr);
  EXPECT_EQ(err, OpenError::Truncated);
}

TEST(RedirectRecordsTamper, S12_2_TrailingBytesAreRefused) {
  RecordsSealer sealer;
  std::vector<uint8_t> blob = sealer.seal(*twoEntryHistory());
  blob.push_back(0);
  OpenError err = OpenError::None;
  EXPECT_EQ(sealer.open(blob, &err), nullptr);
  EXPECT_EQ(err, OpenError::Malformed);
}

TEST(RedirectRecordsTamper, S12_2_RecordsFromAnotherEngineAreRefused) {
  RecordsSealer mine;
  RecordsSealer other;
  EXPECT_NE(mine.instanceId(), other.instanceId());
  auto h = twoEntryHistory();
  mine.track(h);
  other.track(h);
  const std::vector<uint8_t> foreign = other.seal(*h);
  ASSERT_EQ(other.open(foreign), h);
  OpenError err = OpenError::None;
  EXPECT_EQ(mine.open(foreign, &err), nullptr);
  EXPECT_EQ(err, OpenError::BadMac);

  // Even with our instance id patched in, the other key's MAC does not verify.
  std::vector<uint8_t> patched = foreign;
  const uint64_t id = mine.instanceId();
  for (int i = 0; i < 8; ++i) patched[8 + i] = static_cast<uint8_t>(id >> (8 * i));
  EXPECT_EQ(mine.open(patched, &err), nullptr);
  EXPECT_EQ(err, OpenError::BadMac);
}

TEST(RedirectRecordsTamper, S12_2_WrongVersionIsRefusedEvenWithValidMac) {
  RecordsSealer sealer;
  auto h = twoEntryHistory();
  sealer.track(h);
  std::vector<uint8_t> blob = sealer.seal(*h);
  // The hook really produces valid MACs: re-MACing unchanged bytes keeps them identical.
  std::vector<uint8_t> same = blob;
  sealer.resealForTesting(same);
  ASSERT_EQ(same, blob);

  for (uint16_t version : {uint16_t{0}, uint16_t{2}, uint16_t{0x100}, uint16_t{0xffff}}) {
    std::vector<uint8_t> bad = blob;
    bad[4] = static_cast<uint8_t>(version);
    bad[5] = static_cast<uint8_t>(version >> 8);
    sealer.resealForTesting(bad);
    OpenError err = OpenError::None;
    EXPECT_EQ(sealer.open(bad, &err), nullptr) << version;
    EXPECT_EQ(err, OpenError::BadVersion) << version;
  }
}

TEST(RedirectRecordsTamper, S12_2_WellMacedButMalformedContentsAreRefused) {
  RecordsSealer sealer;
  const std::vector<uint8_t> good = sealer.seal(*twoEntryHistory());
  auto expectMalformed = [&](size_t pos, uint8_t value) {
    std::vector<uint8_t> bad = good;
    bad[pos] = value;
    sealer.resealForTesting(bad);
    OpenError err = OpenError::None;
    EXPECT_EQ(sealer.open(bad, &err), nullptr) << pos;
    EXPECT_EQ(err, OpenError::Malformed) << pos;
  };
  std::vector<uint8_t> zeroHandle = good;  // redirect handle 0 of the first entry
  std::memset(&zeroHandle[24], 0, 8);
  sealer.resealForTesting(zeroHandle);
  EXPECT_EQ(sealer.open(zeroHandle), nullptr);
  std::vector<uint8_t> zeroHistory = good;  // history id 0
  std::memset(&zeroHistory[16], 0, 8);
  sealer.resealForTesting(zeroHistory);
  EXPECT_EQ(sealer.open(zeroHistory), nullptr);
  expectMalformed(24 + 12, 5);       // family byte neither 4 nor 6
  expectMalformed(24 + 12 + 19, 0);  // redirectedTo family 0
  expectMalformed(24 + 12 + 3 + 4, 1);  // v4 address with nonzero bytes past its 4
}

TEST(RedirectRecordsTamper, S12_2_MadeUpRecordsAreRefused) {
  RecordsSealer sealer;
  auto victim = twoEntryHistory();
  sealer.track(victim);
  // A process builds records in the documented format claiming a redirect by kHandle (so that
  // its connection would look redirected-by-self), with a guessed MAC.
  std::vector<uint8_t> forged = sealer.seal(*victim);
  for (size_t i = forged.size() - 32; i < forged.size(); ++i) forged[i] = 0;
  OpenError err = OpenError::None;
  EXPECT_EQ(sealer.open(forged, &err), nullptr);
  EXPECT_EQ(err, OpenError::BadMac);

  std::mt19937 rng(1234);
  for (int i = 0; i < 200; ++i) {
    std::vector<uint8_t> blob = forged;
    for (size_t j = 24; j < blob.size(); ++j) blob[j] = static_cast<uint8_t>(rng());
    EXPECT_EQ(sealer.open(blob, &err), nullptr);
    EXPECT_EQ(err, OpenError::BadMac);
  }
  std::vector<uint8_t> garbage(106);
  for (auto& b : garbage) b = static_cast<uint8_t>(rng());
  EXPECT_EQ(sealer.open(garbage, &err), nullptr);
  EXPECT_EQ(err, OpenError::BadMagic);
}

TEST(RedirectRecordsTamper, S12_2_OpenErrorsHaveNames) {
  for (OpenError e : {OpenError::None, OpenError::Truncated, OpenError::BadMagic, OpenError::BadVersion,
                      OpenError::BadMac, OpenError::Malformed}) {
    EXPECT_STRNE(toString(e), "unknown");
  }
}

}  // namespace
}  // namespace openwfp::redirect

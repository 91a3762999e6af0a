// Replay of random and mutated records blobs through RecordsSealer::open (S12.4). The libFuzzer
// target fuzz/records_open_fuzz.cpp explores further when built with clang; this test gives
// the same parser a deterministic workout in every build, under ASan/UBSan in the asan preset.
#include <gtest/gtest.h>

#include <random>

#include "redirect/records.h"

namespace openwfp::redirect {
namespace {

std::vector<uint8_t> mutate(std::vector<uint8_t> b, std::mt19937& rng) {
  const int ops = 1 + static_cast<int>(rng() % 4);
  for (int i = 0; i < ops; ++i) {
    switch (rng() % 5) {
      case 0:  // flip bits in one byte
        if (!b.empty()) b[rng() % b.size()] ^= static_cast<uint8_t>(1 + rng() % 255);
        break;
      case 1:  // truncate
        b.resize(b.empty() ? 0 : rng() % b.size());
        break;
      case 2:  // append junk
        for (int n = static_cast<int>(rng() % 64); n > 0; --n) b.push_back(static_cast<uint8_t>(rng()));
        break;
      case 3:  // rewrite the entry count
        if (b.size() >= 8) {
          b[6] = static_cast<uint8_t>(rng() % 12);
          b[7] = rng() % 8 == 0 ? static_cast<uint8_t>(rng()) : 0;
        }
        break;
      default:  // insert a byte
        b.insert(b.begin() + static_cast<long>(b.empty() ? 0 : rng() % b.size()), static_cast<uint8_t>(rng()));
        break;
    }
  }
  return b;
}

TEST(RedirectRecordsFuzz, S12_4_RecordsParserSurvivesRandomInput) {
  RecordsSealer sealer;
  std::vector<std::vector<uint8_t>> seeds;
  std::vector<std::shared_ptr<History>> histories;
  for (int n = 0; n <= 8; ++n) {
    auto h = History::create();
    for (int i = 0; i < n; ++i) {
      Entry e;
      e.redirectHandle = 0x100 + static_cast<uint64_t>(i);
      e.targetPid = 1000 + static_cast<uint32_t>(i);
      e.originalDestination = Endpoint::v4(0x7f000001, static_cast<uint16_t>(80 + i));
      e.redirectedTo = Endpoint::v6(std::array<uint8_t, 16>{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 3128);
      h->add(e, {});
    }
    if (n % 2 == 0) sealer.track(h);
    seeds.push_back(sealer.seal(*h));
    histories.push_back(h);
  }

  std::mt19937 rng(20240611);
  int accepted = 0;
  for (int iter = 0; iter < 10000; ++iter) {
    std::vector<uint8_t> blob;
    bool unchangedSeed = false;  // a mutation may happen to give back the seed itself
    const int kind = iter % 4;
    if (kind == 0) {  // pure noise, sometimes with the right magic and version
      blob.resize(rng() % 600);
      for (auto& b : blob) b = static_cast<uint8_t>(rng());
      if (blob.size() >= 6 && rng() % 2 == 0) {
        blob[0] = 'O', blob[1] = 'W', blob[2] = 'F', blob[3] = 'R', blob[4] = 1, blob[5] = 0;
      }
    } else {
      const std::vector<uint8_t>& seed = seeds[rng() % seeds.size()];
      blob = mutate(seed, rng);
      unchangedSeed = blob == seed;
    }
    // Half of the mutants get a valid MAC, so the checks behind the MAC are exercised too.
    const bool remaced = kind >= 2;
    if (remaced) sealer.resealForTesting(blob);

    OpenError err = OpenError::None;
    std::shared_ptr<History> h = sealer.open(blob, &err);
    if (h == nullptr) {
      EXPECT_NE(err, OpenError::None) << iter;
      continue;
    }
    ASSERT_EQ(err, OpenError::None) << iter;
    ASSERT_TRUE(remaced || unchangedSeed) << "a blob without our MAC was accepted, iteration " << iter;
    ++accepted;
    // Whatever opened is a sound history: bounded, with real handles, and sealable again.
    const std::vector<Entry> entries = h->entries();
    ASSERT_LE(entries.size(), RecordsSealer::kMaxEntries);
    for (const Entry& e : entries) EXPECT_NE(e.redirectHandle, 0u);
    EXPECT_NE(sealer.open(sealer.seal(*h)), nullptr);
  }
  EXPECT_GT(accepted, 0);  // the re-MACed corpus reaches the code behind the MAC
}

}  // namespace
}  // namespace openwfp::redirect

// Redirect handle registry (S7.1).
#include <gtest/gtest.h>

#include <set>
#include <thread>
#include <vector>

#include "redirect/handles.h"

namespace openwfp::redirect {
namespace {

const std::array<uint8_t, 16> kGuidA{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
const std::array<uint8_t, 16> kGuidB{0xaa};

TEST(RedirectHandles, S7_1_CreateNeverReturnsZeroAndIdsAreUnique) {
  HandleRegistry reg;
  std::set<uint64_t> seen;
  for (int i = 0; i < 1000; ++i) {
    const uint64_t h = reg.create(kGuidA, "drv");
    EXPECT_NE(h, 0u);
    EXPECT_TRUE(seen.insert(h).second) << "duplicate handle " << h;
    EXPECT_TRUE(reg.valid(h));
  }
}

TEST(RedirectHandles, S7_1_IdsAreNotReusedAfterDestroy) {
  HandleRegistry reg;
  const uint64_t a = reg.create(kGuidA, "drv");
  ASSERT_TRUE(reg.destroy(a));
  const uint64_t b = reg.create(kGuidA, "drv");
  EXPECT_NE(a, b);
  EXPECT_FALSE(reg.valid(a));
}

TEST(RedirectHandles, S7_1_DestroyUnknownOrTwiceReturnsFalse) {
  HandleRegistry reg;
  EXPECT_FALSE(reg.destroy(0));
  EXPECT_FALSE(reg.destroy(12345));
  const uint64_t h = reg.create(kGuidA, "drv");
  EXPECT_TRUE(reg.destroy(h));
  EXPECT_FALSE(reg.valid(h));
  EXPECT_FALSE(reg.destroy(h));
  EXPECT_FALSE(reg.valid(0));
}

TEST(RedirectHandles, S7_1_OwnedByListsLiveHandlesOfThatDriverForLeakReports) {
  HandleRegistry reg;
  const uint64_t a1 = reg.create(kGuidA, "driverA");
  const uint64_t b1 = reg.create(kGuidB, "driverB");
  const uint64_t a2 = reg.create(kGuidB, "driverA");
  const uint64_t a3 = reg.create(kGuidA, "driverA");
  ASSERT_TRUE(reg.destroy(a2));

  const std::vector<HandleInfo> leaks = reg.ownedBy("driverA");
  ASSERT_EQ(leaks.size(), 2u);
  EXPECT_EQ(leaks[0].id, a1);
  EXPECT_EQ(leaks[0].providerGuid, kGuidA);
  EXPECT_EQ(leaks[0].owner, "driverA");
  EXPECT_EQ(leaks[1].id, a3);

  const std::vector<HandleInfo> b = reg.ownedBy("driverB");
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].id, b1);
  EXPECT_EQ(b[0].providerGuid, kGuidB);

  EXPECT_TRUE(reg.ownedBy("nobody").empty());
  ASSERT_TRUE(reg.destroy(a1));
  ASSERT_TRUE(reg.destroy(a3));
  EXPECT_TRUE(reg.ownedBy("driverA").empty());
}

TEST(RedirectHandles, S7_1_ConcurrentCreatesGiveUniqueIds) {
  HandleRegistry reg;
  constexpr int kThreads = 4;
  constexpr int kEach = 500;
  std::vector<std::vector<uint64_t>> got(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) got[t].push_back(reg.create(kGuidA, "drv"));
    });
  }
  for (auto& th : threads) th.join();
  std::set<uint64_t> all;
  for (const auto& v : got) all.insert(v.begin(), v.end());
  EXPECT_EQ(all.size(), size_t{kThreads * kEach});
  EXPECT_EQ(all.count(0), 0u);
  EXPECT_EQ(reg.ownedBy("drv").size(), size_t{kThreads * kEach});
}

}  // namespace
}  // namespace openwfp::redirect

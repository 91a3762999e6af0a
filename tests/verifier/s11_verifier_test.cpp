// S11.1 verifier reports and S11.2 pool accounting, on the verifier objects themselves.
// (Reports raised through the kernel API are in tests/km/pool_test.cpp.)
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <thread>

#include "verifier/pool.h"
#include "verifier/verifier.h"

using openwfp::verifier::Code;
using openwfp::verifier::CurrentDriverScope;
using openwfp::verifier::FreeResult;
using openwfp::verifier::PoolTracker;
using openwfp::verifier::Verifier;
using openwfp::verifier::Violation;

namespace {

constexpr Code kAllCodes[] = {
    Code::AcquireWithoutApply, Code::ReauthorizeFlagInline, Code::PendWithoutBlock,
    Code::HandleLeak,          Code::ClassifyHandleNotReleased, Code::UseAfterRelease,
    Code::DoubleComplete,      Code::MisalignedSioBuffer,  Code::ReadOnlyFieldChanged,
    Code::EngineOwnedContextFreed, Code::PendNeverCompleted, Code::PoolLeak,
    Code::ReauthorizeLimit,    Code::InvalidArgument,      Code::PoolTagMismatch,
    Code::PoolFreeUnknown,     Code::DriverAssertFailed,   Code::KernelApiMisuse,
};

// Windows multi-character tag as the compiler builds 'abcd'.
constexpr uint32_t tag(const char (&s)[5]) {
  return (uint32_t(uint8_t(s[0])) << 24) | (uint32_t(uint8_t(s[1])) << 16) | (uint32_t(uint8_t(s[2])) << 8) |
         uint32_t(uint8_t(s[3]));
}

}  // namespace

TEST(S11_1, EveryCodeHasADistinctName) {
  std::set<std::string> names;
  for (Code c : kAllCodes) {
    std::string n = openwfp::verifier::toString(c);
    EXPECT_NE(n, "Unknown");
    EXPECT_FALSE(n.empty());
    names.insert(n);
  }
  EXPECT_EQ(names.size(), std::size(kAllCodes));
  EXPECT_STREQ(openwfp::verifier::toString(Code::EngineOwnedContextFreed), "EngineOwnedContextFreed");
}

TEST(S11_1, ReportRecordsStructuredViolationAndNotifiesListeners) {
  Verifier v;
  std::vector<Violation> seen;
  v.addListener([&](const Violation& x) { seen.push_back(x); });
  v.report({Code::DoubleComplete, "completed twice", "drv", "{1234}", 77});
  v.report({Code::UseAfterRelease, "handle used after release", "drv", "", 0});

  auto all = v.violations();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].code, Code::DoubleComplete);
  EXPECT_EQ(all[0].message, "completed twice");
  EXPECT_EQ(all[0].driver, "drv");
  EXPECT_EQ(all[0].callout, "{1234}");
  EXPECT_EQ(all[0].filterId, 77u);
  EXPECT_EQ(v.count(Code::DoubleComplete), 1u);
  EXPECT_EQ(v.count(Code::UseAfterRelease), 1u);
  EXPECT_EQ(v.count(Code::PoolLeak), 0u);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1].code, Code::UseAfterRelease);

  v.clear();
  EXPECT_TRUE(v.violations().empty());
  EXPECT_EQ(v.count(Code::DoubleComplete), 0u);
}

TEST(S11_1, ListenerMayReadTheVerifier) {
  Verifier v;
  size_t countInListener = 0;
  v.addListener([&](const Violation&) { countInListener = v.violations().size(); });
  v.report({Code::InvalidArgument, "x", "", "", 0});
  EXPECT_EQ(countInListener, 1u);
}

TEST(S11_1, DisabledVerifierRecordsNothing) {
  Verifier v;
  int calls = 0;
  v.addListener([&](const Violation&) { ++calls; });
  v.setEnabled(false);
  EXPECT_FALSE(v.enabled());
  v.report({Code::PoolLeak, "leak", "drv", "", 0});
  EXPECT_TRUE(v.violations().empty());
  EXPECT_EQ(v.count(Code::PoolLeak), 0u);
  EXPECT_EQ(calls, 0);
  v.setEnabled(true);
  v.report({Code::PoolLeak, "leak", "drv", "", 0});
  EXPECT_EQ(v.count(Code::PoolLeak), 1u);
  EXPECT_EQ(calls, 1);
}

TEST(S11_1, CurrentDriverScopeNestsAndIsPerThread) {
  EXPECT_EQ(openwfp::verifier::currentDriver(), "");
  {
    CurrentDriverScope outer("outer");
    EXPECT_EQ(openwfp::verifier::currentDriver(), "outer");
    {
      CurrentDriverScope inner("inner");
      EXPECT_EQ(openwfp::verifier::currentDriver(), "inner");
      std::string other = "unset";
      std::thread([&] { other = openwfp::verifier::currentDriver(); }).join();
      EXPECT_EQ(other, "");
    }
    EXPECT_EQ(openwfp::verifier::currentDriver(), "outer");
  }
  EXPECT_EQ(openwfp::verifier::currentDriver(), "");
}

TEST(S11_2, PoolTracksByTagAndDriver) {
  PoolTracker pool;
  void* a = pool.allocate(16, tag("kaeL"), "drvA", true);
  void* b = pool.allocate(32, tag("tseT"), "drvA", false);
  void* c = pool.allocate(8, tag("rehO"), "drvB", true);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(pool.liveCount(), 3u);
  for (int i = 0; i < 16; ++i) EXPECT_EQ(static_cast<unsigned char*>(a)[i], 0) << i;

  auto liveA = pool.liveFor("drvA");
  ASSERT_EQ(liveA.size(), 2u);
  EXPECT_EQ(liveA[0].ptr, a);  // oldest first
  EXPECT_EQ(liveA[0].size, 16u);
  EXPECT_EQ(openwfp::verifier::tagToString(liveA[0].tag), "Leak");
  EXPECT_EQ(liveA[1].size, 32u);
  EXPECT_EQ(openwfp::verifier::tagToString(liveA[1].tag), "Test");

  EXPECT_EQ(pool.free(b, tag("tseT")), FreeResult::Freed);
  EXPECT_EQ(pool.liveFor("drvA").size(), 1u);
  EXPECT_EQ(pool.free(a, 0), FreeResult::Freed);  // 0 = any tag (ExFreePool)
  EXPECT_TRUE(pool.liveFor("drvA").empty());
  EXPECT_EQ(pool.liveFor("drvB").size(), 1u);
  EXPECT_EQ(pool.liveCount(), 1u);
  EXPECT_EQ(pool.allocate(0, tag("oreZ"), "drvA", true), nullptr);
}

TEST(S11_2, PoolDoubleFreeAndForeignPointerAreRefused) {
  PoolTracker pool;
  void* a = pool.allocate(16, tag("1gaT"), "drv", true);
  EXPECT_EQ(pool.free(a, tag("1gaT")), FreeResult::Freed);
  EXPECT_EQ(pool.free(a, tag("1gaT")), FreeResult::Unknown);  // double free: nothing touched
  int onStack = 0;
  EXPECT_EQ(pool.free(&onStack, 0), FreeResult::Unknown);
  EXPECT_EQ(pool.liveCount(), 0u);
}

TEST(S11_2, PoolWrongTagIsReportedAndFreed) {
  PoolTracker pool;
  void* a = pool.allocate(16, tag("1gaT"), "drv", true);
  EXPECT_EQ(pool.free(a, tag("2gaT")), FreeResult::TagMismatch);
  EXPECT_FALSE(pool.isLive(a));
  EXPECT_EQ(pool.liveCount(), 0u);
}

TEST(S11_1, EngineOwnedAllocationIsNotFreedByTheDriver) {
  PoolTracker pool;
  void* ctx = pool.allocate(24, tag("xtxC"), "drv", true);
  pool.markEngineOwned(ctx);
  EXPECT_TRUE(pool.isEngineOwned(ctx));
  EXPECT_EQ(pool.free(ctx, tag("xtxC")), FreeResult::EngineOwned);
  EXPECT_EQ(pool.free(ctx, 0), FreeResult::EngineOwned);
  EXPECT_TRUE(pool.isLive(ctx));
  EXPECT_TRUE(pool.liveFor("drv").empty());  // not the driver's leak
  pool.freeEngineOwned(ctx);
  EXPECT_FALSE(pool.isLive(ctx));
  EXPECT_EQ(pool.free(ctx, 0), FreeResult::Unknown);
}

TEST(S11_2, TagPrintsInMemoryOrderWithDotsForUnprintable) {
  EXPECT_EQ(openwfp::verifier::tagToString(tag("derF")), "Fred");
  EXPECT_EQ(openwfp::verifier::tagToString(0x00414243u), "CBA.");
}

TEST(S11_2, PoolIsThreadSafe) {
  PoolTracker pool;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&pool, t] {
      for (int i = 0; i < 2000; ++i) {
        void* p = pool.allocate(static_cast<size_t>(8 + i % 64), tag("dhrT"), "drv" + std::to_string(t), i % 2 == 0);
        ASSERT_NE(p, nullptr);
        ASSERT_EQ(pool.free(p, tag("dhrT")), FreeResult::Freed);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(pool.liveCount(), 0u);
}

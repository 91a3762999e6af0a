// S11.1 / S11.2 / S5.6 through the kernel API a driver calls: ExAllocatePool2,
// ExAllocatePoolWithTag, ExFreePoolWithTag, ExFreePool, accounted by tag and driver; misuse
// reported as structured violations attributed to the current driver.
#include <ntddk.h>

#include <gtest/gtest.h>

#include "openwfp/openwfp.h"
#include "verifier/pool.h"
#include "verifier/verifier.h"

using openwfp::Runtime;
using openwfp::verifier::Code;
using openwfp::verifier::CurrentDriverScope;

namespace {

constexpr ULONG tag(const char (&s)[5]) {
  return (ULONG(UCHAR(s[0])) << 24) | (ULONG(UCHAR(s[1])) << 16) | (ULONG(UCHAR(s[2])) << 8) | ULONG(UCHAR(s[3]));
}

class PoolApi : public ::testing::Test {
 protected:
  void SetUp() override { Runtime::reset(); }
  void TearDown() override { Runtime::current().verifier().clear(); }  // expected violations
  openwfp::verifier::Verifier& verifier() { return Runtime::current().verifier(); }
  openwfp::verifier::PoolTracker& pool() { return Runtime::current().pool(); }
};

}  // namespace

TEST_F(PoolApi, S11_2_AllocationsAreAccountedByTagSizeAndDriver) {
  CurrentDriverScope scope("pooldrv");
  void* a = ExAllocatePool2(POOL_FLAG_NON_PAGED, 100, tag("kaeL"));
  void* b = ExAllocatePoolWithTag(NonPagedPoolNx, 50, tag(" dlO"));
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  auto live = pool().liveFor("pooldrv");
  ASSERT_EQ(live.size(), 2u);
  EXPECT_EQ(live[0].size, 100u);
  EXPECT_EQ(openwfp::verifier::tagToString(live[0].tag), "Leak");
  EXPECT_EQ(live[1].size, 50u);
  EXPECT_EQ(openwfp::verifier::tagToString(live[1].tag), "Old ");
  ExFreePoolWithTag(a, tag("kaeL"));
  ExFreePool(b);
  EXPECT_TRUE(pool().liveFor("pooldrv").empty());
  EXPECT_TRUE(verifier().violations().empty());
}

TEST_F(PoolApi, S11_2_ExAllocatePool2ZeroesUnlessUninitialized) {
  auto* z = static_cast<unsigned char*>(ExAllocatePool2(POOL_FLAG_PAGED, 256, tag("oreZ")));
  ASSERT_NE(z, nullptr);
  for (int i = 0; i < 256; ++i) ASSERT_EQ(z[i], 0) << i;
  void* u = ExAllocatePool2(POOL_FLAG_NON_PAGED | POOL_FLAG_UNINITIALIZED, 256, tag("inuU"));
  ASSERT_NE(u, nullptr);
  EXPECT_TRUE(pool().isLive(u));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(z) % 16, 0u);  // 16-byte pool alignment on 64-bit
  ExFreePoolWithTag(z, tag("oreZ"));
  ExFreePoolWithTag(u, tag("inuU"));
  EXPECT_EQ(pool().liveCount(), 0u);
  EXPECT_TRUE(verifier().violations().empty());
}

TEST_F(PoolApi, S11_1_ExAllocatePool2RejectsZeroTagZeroSizeAndBadFlags) {
  CurrentDriverScope scope("baddrv");
  EXPECT_EQ(ExAllocatePool2(POOL_FLAG_NON_PAGED, 16, 0), nullptr);
  EXPECT_EQ(ExAllocatePool2(POOL_FLAG_NON_PAGED, 0, tag("1gaT")), nullptr);
  EXPECT_EQ(ExAllocatePool2(0, 16, tag("1gaT")), nullptr);  // no pool type
  EXPECT_EQ(ExAllocatePool2(POOL_FLAG_NON_PAGED | POOL_FLAG_PAGED, 16, tag("1gaT")), nullptr);
  EXPECT_EQ(ExAllocatePool2(POOL_FLAG_NON_PAGED | POOL_FLAG_RESERVED1, 16, tag("1gaT")), nullptr);
  EXPECT_EQ(verifier().count(Code::InvalidArgument), 5u);
  EXPECT_EQ(pool().liveCount(), 0u);
  for (const auto& v : verifier().violations()) EXPECT_EQ(v.driver, "baddrv");
}

TEST_F(PoolApi, S11_1_FreeWithWrongTagIsReportedAndFreed) {
  CurrentDriverScope scope("tagdrv");
  void* p = ExAllocatePool2(POOL_FLAG_NON_PAGED, 24, tag("1gaT"));
  ExFreePoolWithTag(p, tag("2gaT"));
  ASSERT_EQ(verifier().count(Code::PoolTagMismatch), 1u);
  auto v = verifier().violations().back();
  EXPECT_EQ(v.driver, "tagdrv");
  EXPECT_NE(v.message.find("Tag1"), std::string::npos) << v.message;
  EXPECT_NE(v.message.find("Tag2"), std::string::npos) << v.message;
  EXPECT_FALSE(pool().isLive(p));  // openwfp choice: freed anyway
}

TEST_F(PoolApi, S11_1_DoubleFreeAndForeignPointerAreReportedNotCrashing) {
  CurrentDriverScope scope("dfdrv");
  void* p = ExAllocatePool2(POOL_FLAG_NON_PAGED, 24, tag("1gaT"));
  ExFreePoolWithTag(p, tag("1gaT"));
  ExFreePoolWithTag(p, tag("1gaT"));  // double free
  int notPool = 0;
  ExFreePool(&notPool);
  ExFreePool(nullptr);
  EXPECT_EQ(verifier().count(Code::PoolFreeUnknown), 2u);
  EXPECT_EQ(verifier().count(Code::InvalidArgument), 1u);
  EXPECT_EQ(notPool, 0);
}

TEST_F(PoolApi, S11_1_FreeingAnEngineOwnedContextIsReportedAndRefused) {
  CurrentDriverScope scope("ctxdrv");
  void* ctx = ExAllocatePool2(POOL_FLAG_NON_PAGED, 40, tag("xtxC"));
  pool().markEngineOwned(ctx);  // what FwpsApplyModifiedLayerData0 does with localRedirectContext
  ExFreePoolWithTag(ctx, tag("xtxC"));
  ExFreePool(ctx);
  EXPECT_EQ(verifier().count(Code::EngineOwnedContextFreed), 2u);
  auto v = verifier().violations().front();
  EXPECT_EQ(v.driver, "ctxdrv");
  EXPECT_NE(v.message.find("engine owns"), std::string::npos) << v.message;
  EXPECT_TRUE(pool().isLive(ctx));  // not freed: the engine frees it when the flow ends
  pool().freeEngineOwned(ctx);
  EXPECT_FALSE(pool().isLive(ctx));
}

TEST_F(PoolApi, S11_1_DisabledVerifierStillRefusesButRecordsNothing) {
  verifier().setEnabled(false);
  void* p = ExAllocatePool2(POOL_FLAG_NON_PAGED, 8, tag("1gaT"));
  ExFreePool(p);
  ExFreePool(p);
  EXPECT_EQ(ExAllocatePool2(POOL_FLAG_NON_PAGED, 8, 0), nullptr);
  EXPECT_TRUE(verifier().violations().empty());
  verifier().setEnabled(true);
}

// A connection's redirect history: entries, replace/withdraw (S5.8), context ownership (S5.6),
// context copies for SIO_QUERY_WFP_CONNECTION_REDIRECT_CONTEXT (S9.2).
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "redirect/history.h"

namespace openwfp::redirect {
namespace {

// Hands out heap contexts and counts how often each is freed (ASan would also catch a double
// delete[], the count makes the test fail without it).
class ContextPool {
 public:
  ~ContextPool() {
    for (auto& [p, n] : frees_) {
      if (n == 0) delete[] static_cast<uint8_t*>(p);  // never freed: clean up, test checks counts
    }
  }
  void* make(uint8_t fill, size_t size = 4) {
    auto* p = new uint8_t[size];
    for (size_t i = 0; i < size; ++i) p[i] = static_cast<uint8_t>(fill + i);
    frees_[p] = 0;
    return p;
  }
  ContextFree freer() {
    return [this](void* p) {
      if (++frees_.at(p) == 1) delete[] static_cast<uint8_t*>(p);
    };
  }
  int frees(void* p) const { return frees_.at(p); }

 private:
  std::map<void*, int> frees_;
};

Entry entryBy(uint64_t handle, void* ctx = nullptr, size_t ctxSize = 4) {
  Entry e;
  e.redirectHandle = handle;
  e.targetPid = static_cast<uint32_t>(handle);
  e.originalDestination = Endpoint::v4(0x7f000001, 80);
  e.redirectedTo = Endpoint::v4(0x7f000001, 8080);
  e.filterId = 7;
  e.context = ctx;
  e.contextSize = ctx ? ctxSize : 0;
  return e;
}

TEST(RedirectHistory, S8_8_IdsAreProcessUniqueAndNonZero) {
  std::set<uint64_t> ids;
  for (int i = 0; i < 100; ++i) {
    auto h = History::create();
    EXPECT_NE(h->id(), 0u);
    EXPECT_TRUE(ids.insert(h->id()).second);
  }
}

TEST(RedirectHistory, S5_8_EntriesAreParentsThenOwnOldestFirst) {
  auto grand = History::create();
  grand->add(entryBy(1), {});
  auto parent = History::create(grand);
  parent->add(entryBy(2), {});
  parent->add(entryBy(3), {});
  auto child = History::create(parent);
  child->add(entryBy(4), {});

  const std::vector<Entry> all = child->entries();
  ASSERT_EQ(all.size(), 4u);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(all[i].redirectHandle, i + 1);
  ASSERT_EQ(child->ownEntries().size(), 1u);
  EXPECT_EQ(child->ownEntries()[0].redirectHandle, 4u);
  EXPECT_EQ(child->entryCount(), 4u);
  EXPECT_EQ(child->newestTargetPid(), 4u);
  EXPECT_EQ(child->parent(), parent);
  EXPECT_FALSE(child->empty());

  std::array<Entry, 2> two;
  EXPECT_EQ(child->copyEntries(two), 4u);  // total, only the oldest two copied
  EXPECT_EQ(two[0].redirectHandle, 1u);
  EXPECT_EQ(two[1].redirectHandle, 2u);
}

TEST(RedirectHistory, S5_8_EmptyHistoryHasNoEntriesAndNoTargetPid) {
  auto h = History::create(History::create());
  EXPECT_TRUE(h->empty());
  EXPECT_TRUE(h->entries().empty());
  EXPECT_EQ(h->newestTargetPid(), 0u);
  std::vector<uint8_t> ctx{9};
  EXPECT_FALSE(h->newestContext(ctx));
  EXPECT_EQ(ctx, std::vector<uint8_t>{9});
}

TEST(RedirectHistory, S5_8_LaterModificationInSameClassifyReplacesEntry) {
  ContextPool pool;
  auto h = History::create();
  void* first = pool.make(1);
  void* second = pool.make(2);
  const uint64_t token = h->add(entryBy(0x101, first), pool.freer());
  h->replace(token, entryBy(0x202, second), pool.freer());

  const std::vector<Entry> all = h->entries();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].redirectHandle, 0x202u);
  EXPECT_EQ(all[0].context, second);
  EXPECT_EQ(pool.frees(first), 1);  // a replaced context is freed at once
  EXPECT_EQ(pool.frees(second), 0);
}

TEST(RedirectHistory, S5_8_BlockWithdrawsEntry) {
  ContextPool pool;
  auto h = History::create();
  const uint64_t keep = h->add(entryBy(0x101), {});
  void* ctx = pool.make(1);
  const uint64_t token = h->add(entryBy(0x202, ctx), pool.freer());
  EXPECT_NE(keep, token);
  h->remove(token);
  ASSERT_EQ(h->entries().size(), 1u);
  EXPECT_EQ(h->entries()[0].redirectHandle, 0x101u);
  EXPECT_EQ(pool.frees(ctx), 1);
  h->remove(token);  // unknown token now: nothing happens
  EXPECT_EQ(pool.frees(ctx), 1);
  EXPECT_EQ(h->entries().size(), 1u);
}

TEST(RedirectHistory, S5_6_ContextFreedExactlyOnceOnRelease) {
  ContextPool pool;
  void* a = pool.make(1);
  void* b = pool.make(2);
  {
    auto h = History::create();
    h->add(entryBy(0x101, a), pool.freer());
    h->add(entryBy(0x202, b), pool.freer());
    h->releaseContexts();
    EXPECT_EQ(pool.frees(a), 1);
    EXPECT_EQ(pool.frees(b), 1);
    // Entries stay, contexts are gone.
    const std::vector<Entry> all = h->entries();
    ASSERT_EQ(all.size(), 2u);
    EXPECT_EQ(all[0].context, nullptr);
    EXPECT_EQ(all[1].contextSize, 0u);
    h->releaseContexts();
  }  // destructor after release frees nothing more
  EXPECT_EQ(pool.frees(a), 1);
  EXPECT_EQ(pool.frees(b), 1);
}

TEST(RedirectHistory, S5_6_ContextFreedExactlyOnceInDestructor) {
  ContextPool pool;
  void* a = pool.make(1);
  {
    auto h = History::create();
    h->add(entryBy(0x101, a), pool.freer());
    EXPECT_EQ(pool.frees(a), 0);
  }
  EXPECT_EQ(pool.frees(a), 1);
}

TEST(RedirectHistory, S5_6_ReplaceWithSamePointerKeepsContext) {
  ContextPool pool;
  void* a = pool.make(1);
  {
    auto h = History::create();
    const uint64_t token = h->add(entryBy(0x101, a), pool.freer());
    h->replace(token, entryBy(0x202, a), pool.freer());
    EXPECT_EQ(pool.frees(a), 0);
    EXPECT_EQ(h->entries()[0].context, a);
  }
  EXPECT_EQ(pool.frees(a), 1);
}

TEST(RedirectHistory, S5_6_ReplaceOfUnknownTokenFreesTheHandedOverContext) {
  ContextPool pool;
  void* a = pool.make(1);
  auto h = History::create();
  h->replace(99, entryBy(0x101, a), pool.freer());
  EXPECT_TRUE(h->entries().empty());
  EXPECT_EQ(pool.frees(a), 1);
}

TEST(RedirectHistory, S5_6_EmptyFreeFunctionLeavesContextAlone) {
  int notOwned = 5;
  {
    auto h = History::create();
    h->add(entryBy(0x101, &notOwned), {});
    h->releaseContexts();
  }
  EXPECT_EQ(notOwned, 5);
}

TEST(RedirectHistory, S5_6_ChildNeverFreesParentContexts) {
  ContextPool pool;
  void* a = pool.make(1);
  auto parent = History::create();
  parent->add(entryBy(0x101, a), pool.freer());
  {
    auto child = History::create(parent);
    child->releaseContexts();
  }
  EXPECT_EQ(pool.frees(a), 0);
  EXPECT_EQ(parent->entries()[0].context, a);
  parent.reset();
  EXPECT_EQ(pool.frees(a), 1);
}

TEST(RedirectHistory, S5_6_FreeFunctionMayCallBackIntoHistory) {
  auto h = History::create();
  size_t seenEntries = 99;
  int ctx = 0;
  const uint64_t token = h->add(entryBy(0x101, &ctx), [&](void*) { seenEntries = h->entries().size(); });
  h->remove(token);  // would deadlock if the free ran under the History's lock
  EXPECT_EQ(seenEntries, 0u);
}

TEST(RedirectHistory, S9_2_NewestContextCopiesBytesOfNewestOwnEntryWithContext) {
  ContextPool pool;
  auto parent = History::create();
  parent->add(entryBy(0x100, pool.make(0x50)), pool.freer());
  auto h = History::create(parent);
  std::vector<uint8_t> out;
  EXPECT_FALSE(h->newestContext(out));  // inherited contexts are not this connection's

  h->add(entryBy(0x101, pool.make(0x10, 3), 3), pool.freer());
  h->add(entryBy(0x202, pool.make(0x20, 5), 5), pool.freer());
  h->add(entryBy(0x303, nullptr), {});  // newest has no context: skipped
  ASSERT_TRUE(h->newestContext(out));
  EXPECT_EQ(out, (std::vector<uint8_t>{0x20, 0x21, 0x22, 0x23, 0x24}));

  h->releaseContexts();
  EXPECT_FALSE(h->newestContext(out));
}

}  // namespace
}  // namespace openwfp::redirect

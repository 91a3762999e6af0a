// FwpsQueryConnectionRedirectState0 semantics over a History (S7.2).
#include <gtest/gtest.h>

#include "redirect/history.h"

namespace openwfp::redirect {
namespace {

constexpr uint64_t kMine = 0x101;
constexpr uint64_t kOther = 0x202;

Entry entryBy(uint64_t handle, void* ctx = nullptr) {
  Entry e;
  e.redirectHandle = handle;
  e.targetPid = 42;
  e.originalDestination = Endpoint::v4(0x7f000001, 80);
  e.redirectedTo = Endpoint::v4(0x7f000001, 8080);
  e.context = ctx;
  e.contextSize = ctx ? 1 : 0;
  return e;
}

int g_ctxA = 1, g_ctxB = 2, g_ctxC = 3;  // contexts the History does not free (no ContextFree)

TEST(RedirectState, S7_2_EnumValuesMatchFwpsConnectionRedirectState) {
  EXPECT_EQ(static_cast<int>(RedirectState::NotRedirected), 0);
  EXPECT_EQ(static_cast<int>(RedirectState::BySelf), 1);
  EXPECT_EQ(static_cast<int>(RedirectState::ByOther), 2);
  EXPECT_EQ(static_cast<int>(RedirectState::PreviouslyBySelf), 3);
}

TEST(RedirectState, S7_2_NullHistoryIsNotRedirected) {
  const StateResult r = queryState(nullptr, kMine);
  EXPECT_EQ(r.state, RedirectState::NotRedirected);
  EXPECT_EQ(r.context, nullptr);
}

TEST(RedirectState, S7_2_NoEntriesIsNotRedirected) {
  auto h = History::create();
  const StateResult r = queryState(h.get(), kMine);
  EXPECT_EQ(r.state, RedirectState::NotRedirected);
  EXPECT_EQ(r.context, nullptr);
  // An empty parent chain is still "no entries".
  auto child = History::create(History::create());
  EXPECT_EQ(queryState(child.get(), kMine).state, RedirectState::NotRedirected);
}

TEST(RedirectState, S7_2_NewestBySelfIsBySelfWithThatContext) {
  auto h = History::create();
  h->add(entryBy(kOther, &g_ctxA), {});
  h->add(entryBy(kMine, &g_ctxB), {});
  const StateResult r = queryState(h.get(), kMine);
  EXPECT_EQ(r.state, RedirectState::BySelf);
  EXPECT_EQ(r.context, &g_ctxB);
}

TEST(RedirectState, S7_2_OlderBySelfNewestByOtherIsPreviouslyBySelfWithNewestOwnContext) {
  auto h = History::create();
  h->add(entryBy(kMine, &g_ctxA), {});
  h->add(entryBy(kMine, &g_ctxB), {});  // the newest entry made by kMine
  h->add(entryBy(kOther, &g_ctxC), {});
  const StateResult r = queryState(h.get(), kMine);
  EXPECT_EQ(r.state, RedirectState::PreviouslyBySelf);
  EXPECT_EQ(r.context, &g_ctxB);
}

TEST(RedirectState, S7_2_NoneBySelfIsByOtherWithNullContext) {
  auto h = History::create();
  h->add(entryBy(kOther, &g_ctxA), {});
  h->add(entryBy(0x303, &g_ctxB), {});
  const StateResult r = queryState(h.get(), kMine);
  EXPECT_EQ(r.state, RedirectState::ByOther);
  EXPECT_EQ(r.context, nullptr);
}

TEST(RedirectState, S7_2_NullContextIsAllowed) {
  auto h = History::create();
  h->add(entryBy(kMine, nullptr), {});
  StateResult r = queryState(h.get(), kMine);
  EXPECT_EQ(r.state, RedirectState::BySelf);
  EXPECT_EQ(r.context, nullptr);
  h->add(entryBy(kOther, &g_ctxA), {});
  r = queryState(h.get(), kMine);
  EXPECT_EQ(r.state, RedirectState::PreviouslyBySelf);
  EXPECT_EQ(r.context, nullptr);
}

TEST(RedirectState, S7_2_InheritedEntriesCountOldestFirst) {
  auto parent = History::create();
  parent->add(entryBy(kMine, &g_ctxA), {});
  auto child = History::create(parent);
  EXPECT_EQ(queryState(child.get(), kMine).state, RedirectState::BySelf);
  EXPECT_EQ(queryState(child.get(), kMine).context, &g_ctxA);
  EXPECT_EQ(queryState(child.get(), kOther).state, RedirectState::ByOther);

  child->add(entryBy(kOther, &g_ctxB), {});  // the child's own entry is newer than the parent's
  EXPECT_EQ(queryState(child.get(), kMine).state, RedirectState::PreviouslyBySelf);
  EXPECT_EQ(queryState(child.get(), kMine).context, &g_ctxA);
  EXPECT_EQ(queryState(child.get(), kOther).state, RedirectState::BySelf);
  EXPECT_EQ(queryState(child.get(), kOther).context, &g_ctxB);
  // The parent alone is unaffected by the child's entries.
  EXPECT_EQ(queryState(parent.get(), kOther).state, RedirectState::ByOther);
}

TEST(RedirectState, S7_2_HandleZeroMatchesNothing) {
  auto h = History::create();
  h->add(entryBy(kMine), {});
  EXPECT_EQ(queryState(h.get(), 0).state, RedirectState::ByOther);
}

}  // namespace
}  // namespace openwfp::redirect

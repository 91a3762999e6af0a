// Records, redirect state and histories used from many threads at once (S8.9). Run it under
// ASan/UBSan (and TSan when available): it must stay clean.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "redirect/records.h"

namespace openwfp::redirect {
namespace {

Entry entryBy(uint64_t handle, void* ctx = nullptr) {
  Entry e;
  e.redirectHandle = handle;
  e.targetPid = static_cast<uint32_t>(handle);
  e.originalDestination = Endpoint::v4(0x7f000001, 80);
  e.redirectedTo = Endpoint::v4(0x7f000001, 8080);
  e.context = ctx;
  e.contextSize = ctx ? 1 : 0;
  return e;
}

TEST(RedirectConcurrency, S8_9_EightThreadsSealOpenAndQueryConcurrently) {
  constexpr int kThreads = 8;
  constexpr int kRounds = 300;
  constexpr uint64_t kShared = 0x5000;
  RecordsSealer sealer;
  auto shared = History::create();  // one connection every thread works on
  sealer.track(shared);
  shared->add(entryBy(kShared), {});
  auto busy = History::create();
  sealer.track(busy);

  std::atomic<int> frees{0};
  std::atomic<int> allocs{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const uint64_t mine = 0x100 + static_cast<uint64_t>(t);
      for (int i = 0; i < kRounds; ++i) {
        // The shared connection's records: seal, open (must be the live object), query.
        const std::vector<uint8_t> records = sealer.seal(*shared);
        auto opened = sealer.open(records);
        if (opened != shared) ++failures;
        if (queryState(opened.get(), kShared).state != RedirectState::BySelf) ++failures;

        // A proxy connection of this thread with its own short-lived entry and context.
        auto outbound = History::create(opened);
        sealer.track(outbound);
        auto* ctx = new int(t);
        ++allocs;
        const uint64_t token = outbound->add(entryBy(mine, ctx), [&](void* p) {
          delete static_cast<int*>(p);
          ++frees;
        });
        const StateResult r = queryState(outbound.get(), mine);
        if (r.state != RedirectState::BySelf || r.context != ctx) ++failures;
        if (queryState(outbound.get(), kShared).state != RedirectState::PreviouslyBySelf) ++failures;
        const std::vector<uint8_t> own = sealer.seal(*outbound);
        if (sealer.open(own) != outbound) ++failures;
        if (i % 2 == 0) outbound->remove(token);
        if (i % 3 == 0) outbound->releaseContexts();
        // A history that changes while others seal, open and query it: records of it always
        // open (the live object or a snapshot), never half-written.
        const uint64_t tmp = busy->add(entryBy(mine), {});
        const std::vector<uint8_t> busyRecords = sealer.seal(*busy);
        OpenError err = OpenError::None;
        auto busyOpened = sealer.open(busyRecords, &err);
        if (busyOpened == nullptr || err != OpenError::None) ++failures;
        if (queryState(busy.get(), 0x9999).state != RedirectState::ByOther) ++failures;
        busy->remove(tmp);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(frees.load(), allocs.load());  // every context freed exactly once
  EXPECT_EQ(shared->entries().size(), 1u);
  EXPECT_TRUE(busy->empty());
}

}  // namespace
}  // namespace openwfp::redirect

// bench/records_bench.cpp - cost of sealing redirect records and of the redirect-state query.
//
// Target (DESIGN.md): FwpsQueryConnectionSioFormatRedirectRecords0 <= 100 ns per call for a
// one-entry history; RecordsSealer::seal is what that call spends its time in. The MAC is
// HMAC-SHA512-256 (~1 us here), so only a repeated seal of unchanged records (memoised MAC,
// BM_SealOneEntry) meets it; BM_SealOneEntryCold shows the first seal of each connection. Google Benchmark
// prints ns per iteration ("Time" column); each case also reports a ratio against the baseline
// measured in the same run (serialising the same bytes without the MAC).
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstring>
#include <vector>

#include "redirect/records.h"

namespace {

using openwfp::Endpoint;
using namespace openwfp::redirect;

Entry oneEntry(uint64_t handle) {
  Entry e;
  e.redirectHandle = handle;
  e.targetPid = 4242;
  e.originalDestination = Endpoint::v4(0x7f000001, 80);
  e.redirectedTo = Endpoint::v4(0x7f000001, 3128);
  return e;
}

double g_baselineNs = 0;  // ns/op of BM_Baseline_CopyEntry, registered (and run) first

// Runs the timed loop and reports ns_per_op plus x_baseline (time / baseline, same run).
template <class Body>
void timed(benchmark::State& state, Body body, bool isBaseline = false) {
  const auto start = std::chrono::steady_clock::now();
  for (auto _ : state) body();
  const double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count();
  const double perOp = state.iterations() ? ns / static_cast<double>(state.iterations()) : 0;
  state.counters["ns_per_op"] = perOp;
  if (isBaseline) g_baselineNs = perOp;
  if (g_baselineNs > 0) state.counters["x_baseline"] = perOp / g_baselineNs;
}

// Baseline: what any records query does anyway: snapshot the entries and copy out the bytes.
void BM_Baseline_CopyEntry(benchmark::State& state) {
  auto h = History::create();
  h->add(oneEntry(0x100), {});
  std::array<Entry, RecordsSealer::kMaxEntries> snap;
  std::array<uint8_t, 512> buf{};
  timed(state, [&] {
    const size_t n = h->copyEntries(snap);
    std::memcpy(buf.data(), &snap[0], sizeof(Entry) * n);
    benchmark::DoNotOptimize(buf.data());
    benchmark::ClobberMemory();
  }, true);
}
BENCHMARK(BM_Baseline_CopyEntry);

// seal() of a one-entry history into a preallocated buffer (the size-probed second call),
// sealed again unchanged: the per-thread MAC memo answers.
void BM_SealOneEntry(benchmark::State& state) {
  RecordsSealer sealer;
  auto h = History::create();
  h->add(oneEntry(0x100), {});
  std::vector<uint8_t> buf(sealer.sealedSize(*h));
  timed(state, [&] {
    benchmark::DoNotOptimize(sealer.seal(*h, buf));
    benchmark::ClobberMemory();
  });
}
BENCHMARK(BM_SealOneEntry);

// seal() of one-entry histories that were never sealed on this thread before: every call
// computes the HMAC (the first query of a connection; the warm case above reuses the MAC).
void BM_SealOneEntryCold(benchmark::State& state) {
  RecordsSealer sealer;
  std::vector<std::shared_ptr<History>> hs;
  for (int i = 0; i < 64; ++i) {
    hs.push_back(History::create());
    hs.back()->add(oneEntry(0x100), {});
  }
  std::vector<uint8_t> buf(sealer.sealedSize(*hs[0]));
  size_t i = 0;
  timed(state, [&] {
    benchmark::DoNotOptimize(sealer.seal(*hs[i++ % hs.size()], buf));
    benchmark::ClobberMemory();
  });
}
BENCHMARK(BM_SealOneEntryCold);

// seal() of an eight-entry chain (the largest records openwfp writes).
void BM_SealEightEntries(benchmark::State& state) {
  RecordsSealer sealer;
  auto h = History::create();
  for (int i = 0; i < 8; ++i) h->add(oneEntry(0x100 + i), {});
  std::vector<uint8_t> buf(sealer.sealedSize(*h));
  timed(state, [&] {
    benchmark::DoNotOptimize(sealer.seal(*h, buf));
    benchmark::ClobberMemory();
  });
}
BENCHMARK(BM_SealEightEntries);

// open() of one-entry records of a live, tracked history (what SIO_SET costs).
void BM_OpenOneEntryLive(benchmark::State& state) {
  RecordsSealer sealer;
  auto h = History::create();
  sealer.track(h);
  h->add(oneEntry(0x100), {});
  const std::vector<uint8_t> records = sealer.seal(*h);
  timed(state, [&] { benchmark::DoNotOptimize(sealer.open(records)); });
}
BENCHMARK(BM_OpenOneEntryLive);

// FwpsQueryConnectionRedirectState0 on a one-entry history.
void BM_QueryStateOneEntry(benchmark::State& state) {
  auto h = History::create();
  h->add(oneEntry(0x100), {});
  timed(state, [&] { benchmark::DoNotOptimize(queryState(h.get(), 0x100)); });
}
BENCHMARK(BM_QueryStateOneEntry);

// The proxy-connection case: own history empty, the answer comes from the parent.
void BM_QueryStateProxyChain(benchmark::State& state) {
  auto client = History::create();
  client->add(oneEntry(0x100), {});
  auto outbound = History::create(client);
  timed(state, [&] { benchmark::DoNotOptimize(queryState(outbound.get(), 0x100)); });
}
BENCHMARK(BM_QueryStateProxyChain);

}  // namespace

BENCHMARK_MAIN();

// bench/sio_records_bench.cpp - ns per FwpsQueryConnectionSioFormatRedirectRecords0 call for a
// one-entry history (SPEC S8, DESIGN target <= 100 ns), against a plain memcpy of the same number
// of bytes as the baseline measured in the same run.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <string>

#include "engine/engine.h"
#include "openwfp/openwfp.h"
#include "redirect/history.h"
#include "redirect/records.h"

#include <fwpsk.h>

namespace {

using openwfp::Endpoint;
using openwfp::Runtime;

struct Setup {
  std::shared_ptr<openwfp::redirect::History> history;
  HANDLE records = nullptr;
  size_t size = 0;
};

Setup& setup() {
  static Setup s = [] {
    openwfp::RuntimeOptions o;
    o.verifier = false;
    Runtime::reset(o);
    Setup s;
    s.history = openwfp::redirect::History::create();
    Runtime::current().sealer().track(s.history);
    openwfp::redirect::Entry e;
    e.redirectHandle = 0x101;
    e.targetPid = 4242;
    e.originalDestination = Endpoint::v4(0x0A000001, 80);
    e.redirectedTo = Endpoint::v4(0x7F000001, 9000);
    e.filterId = 7;
    s.history->add(e, {});
    uint64_t h = Runtime::current().engine().recordsHandles().open(s.history);
    s.records = reinterpret_cast<HANDLE>(static_cast<uintptr_t>(h));
    SIZE_T n = 0;
    FwpsQueryConnectionSioFormatRedirectRecords0(s.records, nullptr, 0, &n);
    s.size = n;
    return s;
  }();
  return s;
}

struct alignas(16) Buffer {
  uint8_t bytes[512];
};

void BM_SioFormatRedirectRecords(benchmark::State& state) {
  Setup& s = setup();
  Buffer out;
  SIZE_T n = 0;
  for (auto _ : state) {
    NTSTATUS st = FwpsQueryConnectionSioFormatRedirectRecords0(s.records, out.bytes, sizeof out.bytes, &n);
    benchmark::DoNotOptimize(st);
    benchmark::ClobberMemory();
  }
  state.SetLabel(std::to_string(n) + " bytes");
}
BENCHMARK(BM_SioFormatRedirectRecords);

void BM_SizeProbe(benchmark::State& state) {
  Setup& s = setup();
  SIZE_T n = 0;
  for (auto _ : state) {
    NTSTATUS st = FwpsQueryConnectionSioFormatRedirectRecords0(s.records, nullptr, 0, &n);
    benchmark::DoNotOptimize(st);
  }
}
BENCHMARK(BM_SizeProbe);

void BM_MemcpyBaseline(benchmark::State& state) {
  Setup& s = setup();
  Buffer in, out;
  std::memset(in.bytes, 0x42, sizeof in.bytes);
  for (auto _ : state) {
    benchmark::DoNotOptimize(in.bytes);
    std::memcpy(out.bytes, in.bytes, s.size);
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_MemcpyBaseline);

class Collect : public benchmark::ConsoleReporter {
 public:
  std::map<std::string, double> ns;
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const auto& r : runs)
      if (r.run_type == Run::RT_Iteration) ns[r.benchmark_name()] = r.GetAdjustedCPUTime();
    ConsoleReporter::ReportRuns(runs);
  }
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  Collect reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  double q = reporter.ns["BM_SioFormatRedirectRecords"];
  double m = reporter.ns["BM_MemcpyBaseline"];
  std::printf("\nFwpsQueryConnectionSioFormatRedirectRecords0, one-entry history (%zu bytes): %.1f ns/call (CPU)"
              " (target <= 100 ns)\n", setup().size, q);
  std::printf("memcpy of %zu bytes (baseline): %.1f ns\n", setup().size, m);
  if (m > 0) std::printf("ratio query/memcpy = %.1f\n", q / m);
  setup().history.reset();
  Runtime::reset();
  return 0;
}

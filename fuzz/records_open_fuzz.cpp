// fuzz/records_open_fuzz.cpp - libFuzzer target for RecordsSealer::open (S12.4).
//
// Input byte 0 selects the mode: even -> the rest is opened as is (exercises the structure and
// MAC checks); odd -> the rest is first given a valid MAC with the sealer's own key, so the
// fuzzer also reaches the checks behind the MAC (version, entries, live-history lookup).
// Invariants checked: a blob opens only with None, and what opens re-seals and re-opens.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "redirect/records.h"

using namespace openwfp::redirect;

namespace {

struct Fixture {
  RecordsSealer sealer;
  std::shared_ptr<History> live = History::create();
  Fixture() {
    Entry e;
    e.redirectHandle = 0x100;
    e.targetPid = 1;
    e.originalDestination = openwfp::Endpoint::v4(0x7f000001, 80);
    e.redirectedTo = openwfp::Endpoint::v4(0x7f000001, 3128);
    live->add(e, {});
    sealer.track(live);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Fixture fx;
  if (size == 0) return 0;
  std::vector<uint8_t> blob(data + 1, data + size);
  if (data[0] & 1) fx.sealer.resealForTesting(blob);

  OpenError err = OpenError::Malformed;
  std::shared_ptr<History> h = fx.sealer.open(blob, &err);
  if (h == nullptr) {
    if (err == OpenError::None) std::abort();
    return 0;
  }
  if (err != OpenError::None || h->entryCount() > RecordsSealer::kMaxEntries) std::abort();
  if (fx.sealer.open(fx.sealer.seal(*h)) == nullptr) std::abort();
  return 0;
}

// Sends read from a task's memory with any notification and memory image: the properties of
// tests/support/call_decode_properties.h (shared with the libFuzzer target
// fuzz/call_decode_fuzz.cpp) over the seed corpus fuzz/seeds/call_decode/ and a fixed random
// corpus: EFAULT for what is not in the image, the caps, the control-message list, the
// destination as udp_sendmsg takes it.
#include <gtest/gtest.h>

#include "support/call_decode_properties.h"
#include "support/fuzz_replay.h"

namespace ts = openwfp::testing_support;
namespace cp = openwfp::call_props;

TEST(CallDecodeFuzz, S13_7_SendCallsReadFromTaskMemoryKeepTheirBounds) {
  const auto corpus = ts::seedCorpus("call_decode", cp::seeds());
  ASSERT_FALSE(corpus.empty());
  ts::replay([](std::span<const uint8_t> in) { return cp::checkCallDecode(in); }, corpus, 3000, 6000, 400);
}

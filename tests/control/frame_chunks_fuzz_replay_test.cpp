// The frame reader's bounds with frames split across chunks that carry fds (S14.9): the
// properties of tests/support/frame_chunks_properties.h (shared with the libFuzzer target
// fuzz/frame_chunks_fuzz.cpp) over the seed corpus fuzz/seeds/frame_chunks/ and a fixed random
// corpus, on real socket pairs with real /dev/null fds.
#include <gtest/gtest.h>

#include "support/frame_chunks_properties.h"
#include "support/fuzz_replay.h"

namespace ts = openwfp::testing_support;
namespace cp = openwfp::control::chunk_props;

TEST(Fuzz, S14_9_FramesSplitAcrossChunksWithFdsKeepTheirBounds) {
  const auto corpus = ts::seedCorpus("frame_chunks", cp::seeds());
  ASSERT_FALSE(corpus.empty());
  ts::replay([](std::span<const uint8_t> in) { return cp::checkChunkedStream(in); }, corpus, 1500, 1500, 400);
}

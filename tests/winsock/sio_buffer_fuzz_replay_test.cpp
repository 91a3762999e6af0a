// The S9 socket controls with any buffers: the properties of tests/support/sio_buffer_properties.h
// (shared with the libFuzzer target fuzz/sio_buffer_fuzz.cpp) over the seed corpus
// fuzz/seeds/sio_buffer/ and a fixed random corpus: errno / WSA error, bytes returned and the
// bytes written (nothing past the output length) as a reference model of the rules says.
#include <gtest/gtest.h>

#include "openwfp/openwfp.h"
#include "support/fuzz_replay.h"
#include "support/sio_buffer_properties.h"

namespace ts = openwfp::testing_support;
namespace sp = openwfp::sio_props;

TEST(SioBufferFuzz, S12_4_SocketControlBuffersFollowTheS9Rules) {
  openwfp::Runtime::reset();
  const auto corpus = ts::seedCorpus("sio_buffer", sp::seeds());
  ASSERT_FALSE(corpus.empty());
  ts::replay([](std::span<const uint8_t> in) { return sp::checkControl(in); }, corpus, 20000, 20000, 64);
}

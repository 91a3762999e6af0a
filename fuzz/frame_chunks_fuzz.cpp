// fuzz/frame_chunks_fuzz.cpp - libFuzzer target for the control channel's frame reader
// (src/control/frame_io.cpp, src/control/protocol.cpp; S14.9, S12.4) on a real Unix socket
// pair: frames cut into chunks of any size, each chunk perhaps carrying real /dev/null fds
// (SCM_RIGHTS) and credentials (SCM_CREDENTIALS).
//
// The properties (tests/support/frame_chunks_properties.h, shared with
// Fuzz.S14_9_FramesSplitAcrossChunksWithFdsKeepTheirBounds) are checked, not only the absence
// of a crash: readFrame yields exactly the frames a reference split gives, each frame exactly
// the fds of its chunks and never more than kMaxFdsPerFrame (an over-cap frame is Malformed with
// tooManyFds, its fds closed), the process holds exactly the fds handed out (/proc/self/fd) and
// none leak, and the payload buffer follows the bytes that arrived, not a declared size.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>

#include "support/frame_chunks_properties.h"
#include "support/hex_bytes.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> bytes(data, size);
  const std::string failure = openwfp::control::chunk_props::checkChunkedStream(bytes);
  if (!failure.empty()) {
    std::fprintf(stderr, "frame_chunks_fuzz: %s\n  input: %s\n", failure.c_str(),
                 openwfp::testing_support::hexBytes(bytes, 4096).c_str());
    std::abort();
  }
  return 0;
}

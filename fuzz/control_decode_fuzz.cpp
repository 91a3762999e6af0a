// fuzz/control_decode_fuzz.cpp - libFuzzer target for the control channel's frame codec and
// frame reader (src/control/protocol.cpp, src/control/frame_io.cpp; S12.4).
//
// Input byte 0 is a mode, the rest is the data:
//   bit 0  the data also goes through readFrame as a connection's whole stream (socket pair),
//   bit 1  ... with a descriptor (SCM_RIGHTS) on its first byte,
//   bit 2  the data also describes a message to encode (messageFromBytes).
// The data is always decoded as one frame. The properties (tests/support/control_codec_properties.h,
// shared with S12_4.ControlCodecSurvivesRandomInput) are checked, not just the absence of a crash:
// decode agrees with a reference reading of the format, an accepted frame re-encodes to the
// same bytes and decodes to the same message, the encoder refuses exactly what is beyond the
// limits, and readFrame splits a stream into frames as the format says.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>

#include "support/control_codec_properties.h"

namespace {

void check(const std::string& failure, const char* what, std::span<const uint8_t> data) {
  if (failure.empty()) return;
  std::fprintf(stderr, "control_decode_fuzz: %s: %s\n  input: %s\n", what, failure.c_str(),
               openwfp::control::props::hexBytes(data, 4096).c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace props = openwfp::control::props;
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  const std::span<const uint8_t> bytes(data + 1, size - 1);
  check(props::checkFrame(bytes), "frame", bytes);
  if (mode & 1) check(props::checkStream(bytes, (mode & 2) != 0), "stream", bytes);
  if (mode & 4) {
    const uint64_t request = bytes.size() >= 8 ? props::le64(bytes, bytes.size() - 8) : bytes.size();
    check(props::checkMessage(props::messageFromBytes(bytes), request), "message", bytes);
  }
  return 0;
}

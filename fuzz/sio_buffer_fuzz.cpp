// fuzz/sio_buffer_fuzz.cpp - libFuzzer target for the proxy-side socket controls of S9
// (SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS / _CONTEXT, SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS):
// the rules of src/winsock/control_rules.cpp reached directly, through openwfp_ioctl and through
// WSAIoctl (src/winsock/ioctl.cpp), with any socket facts, input and output buffers, lengths
// and alignments (S12.4).
//
// One input is one call (tests/support/sio_buffer_properties.h). The properties (shared with
// SioBufferFuzz.S12_4_SocketControlBuffersFollowTheS9Rules) are checked, not only the absence of a
// crash: the errno / WSA error is the one a reference model of the documented rules gives, the
// bytes-returned value is right, exactly the result is written at the start of the output
// buffer and nothing past it (guard bytes; ASan beyond them), the input is never written, and
// SIO_SET attaches the sealed history's entries.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>

#include "support/hex_bytes.h"
#include "support/sio_buffer_properties.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static size_t runs = 0;
  if (runs++ % 4096 == 0) openwfp::Runtime::reset();  // a fresh sealer now and then
  const std::span<const uint8_t> bytes(data, size);
  const std::string failure = openwfp::sio_props::checkControl(bytes);
  if (!failure.empty()) {
    std::fprintf(stderr, "sio_buffer_fuzz: %s\n  input: %s\n", failure.c_str(),
                 openwfp::testing_support::hexBytes(bytes, 4096).c_str());
    std::abort();
  }
  return 0;
}

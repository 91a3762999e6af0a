// fuzz/call_decode_fuzz.cpp - libFuzzer target for the supervisor's reading of a notified
// sendto()/sendmsg()/sendmmsg() from the task's memory (src/linux/datagram.cpp, S13.7, S12.4):
// msghdr and mmsghdr heads, names, iovec arrays and their data, control buffers and the UDP
// destination, from a notification and a memory image the fuzzer makes.
//
// One input is the call, its arguments and the image (tests/support/call_decode_properties.h;
// the functions read the image through linux_backend::setTaskMemoryReader). The properties
// (shared with CallDecodeFuzz.S13_7_SendCallsReadFromTaskMemoryKeepTheirBounds) are checked, not
// only the absence of a crash: no read outside the image goes unnoticed (EFAULT), every accepted
// message is within 65,535 payload bytes, 1024 iovecs and 4 KiB of control and holds exactly
// the image's bytes, a control message off the list (SO_MARK, SCM_RIGHTS...) is always refused,
// and the destination agrees with a model of udp_sendmsg / udpv6_sendmsg.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>

#include "support/call_decode_properties.h"
#include "support/hex_bytes.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> bytes(data, size);
  const std::string failure = openwfp::call_props::checkCallDecode(bytes);
  if (!failure.empty()) {
    std::fprintf(stderr, "call_decode_fuzz: %s\n  input: %s\n", failure.c_str(),
                 openwfp::testing_support::hexBytes(bytes, 256).c_str());
    std::abort();
  }
  return 0;
}

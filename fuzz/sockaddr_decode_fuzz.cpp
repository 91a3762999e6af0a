// fuzz/sockaddr_decode_fuzz.cpp - libFuzzer target for the sockaddr codec
// (src/net/sockaddr_codec.cpp: net::decodeCallAddress, net::endpointFromSockaddr, net::sockaddrFor; S12.4).
//
// Input layout: byte 0 flags, bytes 1..4 the call's length (little-endian), the rest the bytes
// of the process's sockaddr.
//   flags bits 0-1  socket domain: AF_INET, AF_INET6, AF_UNIX, or byte 5 as a raw domain
//   flags bit 2     bind (else connect)
//   flags bit 3     UDP (else TCP)
//   flags bit 4     pass the bytes as given (a caller's mistake) instead of the first
//                   min(length, net::kMaxSockaddrRead) bytes, as the interceptor reads them
//   flags bit 5     keep the whole 32-bit length (else it is taken modulo 256)
// The properties (tests/support/sockaddr_codec_properties.h, shared with
// BackendCodec.S12_4_SockaddrDecoderSurvivesRandomInput) are checked, not just the absence of a
// crash: net::decodeCallAddress gives exactly what a model of the kernel's connect()/bind() uses
// (never an endpoint for a family or length the kernel rejects), net::endpointFromSockaddr exactly
// what the bytes say, and every result round-trips through net::sockaddrFor.
#include <sys/socket.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

#include "support/hex_bytes.h"
#include "support/sockaddr_codec_properties.h"

namespace {

void check(const std::string& failure, const char* what, std::span<const uint8_t> data) {
  if (failure.empty()) return;
  std::fprintf(stderr, "sockaddr_decode_fuzz: %s: %s\n  input: %s\n", what, failure.c_str(),
               openwfp::testing_support::hexBytes(data).c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace openwfp::linux_backend;
  namespace net = openwfp::net;
  if (size < 5) return 0;
  const std::span<const uint8_t> input(data, size);
  const uint8_t flags = data[0];
  uint32_t addrLen = uint32_t{data[1]} | uint32_t{data[2]} << 8 | uint32_t{data[3]} << 16 | uint32_t{data[4]} << 24;
  if ((flags & 0x20) == 0) addrLen &= 0xff;
  const std::span<const uint8_t> sa = input.subspan(5);
  static constexpr int kDomains[] = {AF_INET, AF_INET6, AF_UNIX};
  const int domain = (flags & 3) == 3 ? (sa.empty() ? 0 : sa[0]) : kDomains[flags & 3];
  const net::CallKind kind = (flags & 4) != 0 ? net::CallKind::Bind : net::CallKind::Connect;
  const bool udp = (flags & 8) != 0;

  // An exact-size copy, so that ASan sees any read past what the caller handed over.
  std::vector<uint8_t> bytes(sa.begin(), sa.end());
  if ((flags & 0x10) == 0) bytes.resize(std::min<size_t>(bytes.size(), std::min<size_t>(addrLen, net::kMaxSockaddrRead)));
  check(props::checkCall(bytes, addrLen, domain, kind, udp), "net::decodeCallAddress", input);
  check(props::checkSockname(sa, static_cast<socklen_t>(addrLen)), "net::endpointFromSockaddr", input);
  // Any endpoint onto either family.
  if (sa.size() >= 19) {
    openwfp::Endpoint ep;
    ep.version = (sa[0] & 1) != 0 ? openwfp::IpVersion::V6 : openwfp::IpVersion::V4;
    ep.port = static_cast<uint16_t>(sa[1] << 8 | sa[2]);
    std::copy_n(sa.begin() + 3, 16, ep.addr.begin());
    if (ep.version == openwfp::IpVersion::V4) std::fill(ep.addr.begin() + 4, ep.addr.end(), 0);
    check(props::checkEncode(ep, domain), "net::sockaddrFor", input);
  }
  return 0;
}

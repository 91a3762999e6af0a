// tests/support/sockaddr_codec_properties.h - the properties the sockaddr codec
// (src/net/sockaddr_codec.h) must keep for any bytes a supervised process passes (S12.4).
// Written once, used by the libFuzzer target fuzz/sockaddr_decode_fuzz.cpp and by the replay
// test BackendCodec.S12_4_SockaddrDecoderSurvivesRandomInput (tests/linux/backend_unit_tests.cpp).
//
// net::decodeCallAddress is compared with a model of what Linux does with the same connect()/bind()
// (net/socket.c move_addr_to_kernel, net/ipv4/af_inet.c, net/ipv4/tcp_ipv4.c,
// net/ipv4/datagram.c, net/ipv6/af_inet6.c, net/ipv6/tcp_ipv6.c, net/ipv6/datagram.c), written
// as the kernel's sequence of checks rather than as the decoder's. Each check returns an empty
// string when every property holds, else what failed (the caller adds the input).
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "net/sockaddr_codec.h"
#include "support/hex_bytes.h"
#include "openwfp/stack.h"

namespace openwfp::linux_backend::props {

// The kernel's SIN6_LEN_RFC2133 (include/linux/ipv6.h): a sockaddr_in6 without sin6_scope_id.
inline constexpr size_t kSin6LenRfc2133 = offsetof(sockaddr_in6, sin6_scope_id);

// What the kernel does with a connect()/bind() on an AF_INET / AF_INET6 socket.
enum class KernelDoes {
  Fails,        // EINVAL / EAFNOSUPPORT before any IP connection or binding
  Disconnects,  // connect(AF_UNSPEC)
  UsesV4,       // connects/binds to the sockaddr_in address
  UsesV6,       // connects/binds to the sockaddr_in6 address
  UsesMapped,   // AF_INET6 UDP socket connected to an AF_INET address: its ::ffff:a.b.c.d form
  NotIp,        // not an IP socket: nothing the decoder speaks for
};

// `b` holds the first min(addrLen, net::kMaxSockaddrRead) bytes the process passed.
inline KernelDoes kernelDoes(std::span<const uint8_t> b, uint32_t addrLen, int domain, net::CallKind kind, bool udp) {
  if (domain != AF_INET && domain != AF_INET6) return KernelDoes::NotIp;
  // move_addr_to_kernel: the length is an int, at most sizeof(sockaddr_storage).
  if (addrLen > sizeof(sockaddr_storage)) return KernelDoes::Fails;
  if (addrLen < sizeof(sa_family_t)) return KernelDoes::Fails;
  sa_family_t family;
  std::memcpy(&family, b.data(), sizeof family);
  if (kind == net::CallKind::Connect) {
    // inet_stream_connect / inet_dgram_connect: AF_UNSPEC disconnects, whatever the length.
    if (family == AF_UNSPEC) return KernelDoes::Disconnects;
    if (domain == AF_INET) {
      // tcp_v4_connect / __ip4_datagram_connect: length first, then the family.
      if (addrLen < sizeof(sockaddr_in)) return KernelDoes::Fails;
      return family == AF_INET ? KernelDoes::UsesV4 : KernelDoes::Fails;
    }
    // __ip6_datagram_connect hands an AF_INET address to the v4 code (IPV6_V6ONLY aside).
    if (udp && family == AF_INET) {
      return addrLen < sizeof(sockaddr_in) ? KernelDoes::Fails : KernelDoes::UsesMapped;
    }
    if (addrLen < kSin6LenRfc2133) return KernelDoes::Fails;
    return family == AF_INET6 ? KernelDoes::UsesV6 : KernelDoes::Fails;
  }
  if (domain == AF_INET) {
    // inet_bind_sk / __inet_bind: AF_UNSPEC is taken for AF_INET only with INADDR_ANY.
    if (addrLen < sizeof(sockaddr_in)) return KernelDoes::Fails;
    if (family == AF_INET) return KernelDoes::UsesV4;
    const bool any = b[4] == 0 && b[5] == 0 && b[6] == 0 && b[7] == 0;
    return family == AF_UNSPEC && any ? KernelDoes::UsesV4 : KernelDoes::Fails;
  }
  // inet6_bind
  if (addrLen < kSin6LenRfc2133) return KernelDoes::Fails;
  return family == AF_INET6 ? KernelDoes::UsesV6 : KernelDoes::Fails;
}

inline Endpoint endpointOf(KernelDoes what, std::span<const uint8_t> b) {
  Endpoint ep;
  ep.port = static_cast<uint16_t>(b[2] << 8 | b[3]);
  if (what == KernelDoes::UsesV4) {
    ep.version = IpVersion::V4;
    std::copy_n(b.begin() + 4, 4, ep.addr.begin());
  } else if (what == KernelDoes::UsesMapped) {
    ep.version = IpVersion::V6;
    ep.addr[10] = 0xff;
    ep.addr[11] = 0xff;
    std::copy_n(b.begin() + 4, 4, ep.addr.begin() + 12);
  } else {
    ep.version = IpVersion::V6;
    std::copy_n(b.begin() + 8, 16, ep.addr.begin());
  }
  return ep;
}

inline std::string describe(const std::optional<Endpoint>& ep) {
  return ep ? net::formatEndpoint(*ep) + (ep->version == IpVersion::V4 ? " (V4)" : " (V6)") : std::string("nothing");
}

inline bool isMapped(const Endpoint& ep) {
  static constexpr uint8_t kPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return ep.version == IpVersion::V6 && std::equal(kPrefix, kPrefix + 12, ep.addr.begin());
}

// What net::endpointFromSockaddr must give for (ss, len), read straight from the bytes.
inline std::optional<Endpoint> expectedFromSockaddr(const sockaddr_storage& ss, socklen_t len) {
  const std::span<const uint8_t> b(reinterpret_cast<const uint8_t*>(&ss), sizeof ss);
  if (ss.ss_family == AF_INET && len >= sizeof(sockaddr_in)) return endpointOf(KernelDoes::UsesV4, b);
  if (ss.ss_family == AF_INET6 && len >= kSin6LenRfc2133) return endpointOf(KernelDoes::UsesV6, b);
  return std::nullopt;
}

// net::sockaddrFor(ep, domain) then back through net::endpointFromSockaddr and, for a connect/bind of the
// same kind, net::decodeCallAddress: a V4 endpoint on AF_INET and a V6 one on AF_INET6 come back
// unchanged; a V4 endpoint on AF_INET6 comes back v4-mapped; a v4-mapped one on AF_INET comes
// back V4; a real V6 endpoint cannot go on AF_INET. `ep` is one the codec or the engine makes: a
// V4 address has zero bytes past its four.
inline std::string checkEncode(const Endpoint& ep, int domain) {
  sockaddr_storage ss;
  socklen_t len = 0;
  const bool ok = net::sockaddrFor(ep, domain, ss, len);
  const bool expressible = domain == AF_INET6 || (domain == AF_INET && (ep.version == IpVersion::V4 || isMapped(ep)));
  if (ok != expressible) return std::string("net::sockaddrFor ") + (ok ? "expressed " : "refused ") + describe(ep);
  if (!ok) return {};
  if (len != (domain == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6)) || ss.ss_family != domain) {
    return "net::sockaddrFor wrote a sockaddr of the wrong family or length";
  }
  Endpoint want = ep;
  if (domain == AF_INET && ep.version == IpVersion::V6) {
    want = Endpoint{};
    want.version = IpVersion::V4;
    std::copy_n(ep.addr.begin() + 12, 4, want.addr.begin());
    want.port = ep.port;
  } else if (domain == AF_INET6 && ep.version == IpVersion::V4) {
    want = Endpoint{};
    want.version = IpVersion::V6;
    want.addr[10] = 0xff;
    want.addr[11] = 0xff;
    std::copy_n(ep.addr.begin(), 4, want.addr.begin() + 12);
    want.port = ep.port;
  }
  const auto back = net::endpointFromSockaddr(ss, len);
  if (!back || !net::sameEndpoint(*back, want)) {
    return "net::sockaddrFor(" + describe(ep) + ") reads back as " + describe(back) + ", not " + describe(want);
  }
  const std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(&ss), std::min<size_t>(len, net::kMaxSockaddrRead));
  for (net::CallKind kind : {net::CallKind::Connect, net::CallKind::Bind}) {
    const auto decoded = net::decodeCallAddress(bytes, len, domain, kind, false);
    if (!decoded || !net::sameEndpoint(*decoded, want)) {
      return "net::sockaddrFor(" + describe(ep) + ") decodes as " + describe(decoded) + ", not " + describe(want);
    }
  }
  const auto text = Endpoint::parse(want.str());
  if (!text || !(*text == want)) return "Endpoint::str() of " + describe(want) + " does not parse back";
  return {};
}

// What the kernel uses for the call when the process's sockaddr starts with `known` and its
// remaining bytes (up to min(addrLen, net::kMaxSockaddrRead)) are all `pad`.
inline std::optional<Endpoint> kernelUses(std::span<const uint8_t> known, uint8_t pad, uint32_t addrLen, int domain,
                                          net::CallKind kind, bool udp) {
  const size_t n = std::min<size_t>(addrLen, net::kMaxSockaddrRead);
  std::vector<uint8_t> b(known.begin(), known.begin() + static_cast<std::ptrdiff_t>(std::min(n, known.size())));
  b.resize(n, pad);
  const KernelDoes what = kernelDoes(b, addrLen, domain, kind, udp);
  if (what != KernelDoes::UsesV4 && what != KernelDoes::UsesV6 && what != KernelDoes::UsesMapped) return std::nullopt;
  return endpointOf(what, b);
}

// A connect()/bind() sockaddr from a process. `bytes` is what the caller read of it, normally the
// first min(addrLen, net::kMaxSockaddrRead) bytes: then the decoder must say exactly what the kernel
// does. Any other span is a caller's mistake: more bytes than addrLen are refused, and from fewer
// the decoder may only give what the kernel would use whatever the missing bytes are. The
// decoder never returns an endpoint for a call the kernel fails or for a disconnect, and what it
// returns round-trips through net::sockaddrFor.
inline std::string checkCall(std::span<const uint8_t> bytes, uint32_t addrLen, int domain, net::CallKind kind, bool udp) {
  const auto got = net::decodeCallAddress(bytes, addrLen, domain, kind, udp);
  if (bytes.size() == std::min<size_t>(addrLen, net::kMaxSockaddrRead)) {
    const auto want = kernelUses(bytes, 0, addrLen, domain, kind, udp);
    if (got.has_value() != want.has_value() || (got && !net::sameEndpoint(*got, *want))) {
      return "decoded " + describe(got) + ", the kernel would use " + describe(want);
    }
  } else if (got && bytes.size() > addrLen) {
    return "decoded " + describe(got) + " from more bytes than the call's length";
  } else if (got) {
    for (uint8_t pad : {uint8_t{0x00}, uint8_t{0xff}}) {
      const auto want = kernelUses(bytes, pad, addrLen, domain, kind, udp);
      if (!want || !net::sameEndpoint(*got, *want)) {
        return "decoded " + describe(got) + " from a partial sockaddr; with the rest 0x" + (pad ? "ff" : "00") +
               " the kernel would use " + describe(want);
      }
    }
  }
  if (!got) return {};
  if ((domain == AF_INET) != (got->version == IpVersion::V4)) return "decoded an endpoint of the other family";
  // Round trips: the endpoint's own sockaddr on either family reads back as net::sockaddrFor says.
  for (int d : {AF_INET, AF_INET6}) {
    if (std::string f = checkEncode(*got, d); !f.empty()) return f;
  }
  return {};
}

// A getsockname()/getpeername() result: an endpoint exactly for a long enough AF_INET/AF_INET6
// address, with the address and port of the bytes; never a read past what the length covers
// beyond the structure itself.
inline std::string checkSockname(std::span<const uint8_t> bytes, socklen_t len) {
  sockaddr_storage ss{};
  std::memcpy(&ss, bytes.data(), std::min(bytes.size(), sizeof ss));
  const auto got = net::endpointFromSockaddr(ss, len);
  const auto want = expectedFromSockaddr(ss, len);
  if (got.has_value() != want.has_value() || (got && !net::sameEndpoint(*got, *want))) {
    return "net::endpointFromSockaddr gave " + describe(got) + ", the bytes say " + describe(want);
  }
  if (got) return checkEncode(*got, ss.ss_family);
  return {};
}

}  // namespace openwfp::linux_backend::props

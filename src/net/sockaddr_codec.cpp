// net/sockaddr_codec.cpp - see sockaddr_codec.h.
#include "net/sockaddr_codec.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

namespace openwfp::net {
namespace {

constexpr uint32_t kSockaddrInLen = 16;        // sizeof(sockaddr_in)
constexpr uint32_t kSockaddrIn6MinLen = 24;    // SIN6_LEN_RFC2133: sockaddr_in6 without scope id
constexpr uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

uint16_t readPort(std::span<const uint8_t> b) {  // bytes 2..3, network order
  return static_cast<uint16_t>((b[2] << 8) | b[3]);
}

Endpoint v4Endpoint(std::span<const uint8_t> b) {  // sockaddr_in: addr at 4..7
  Endpoint ep;
  ep.version = IpVersion::V4;
  std::memcpy(ep.addr.data(), b.data() + 4, 4);
  ep.port = readPort(b);
  return ep;
}

Endpoint mappedEndpoint(std::span<const uint8_t> b) {  // sockaddr_in as ::ffff:a.b.c.d
  Endpoint ep;
  ep.version = IpVersion::V6;
  std::memcpy(ep.addr.data(), kMappedPrefix, 12);
  std::memcpy(ep.addr.data() + 12, b.data() + 4, 4);
  ep.port = readPort(b);
  return ep;
}

Endpoint v6Endpoint(std::span<const uint8_t> b) {  // sockaddr_in6: addr at 8..23
  Endpoint ep;
  ep.version = IpVersion::V6;
  std::memcpy(ep.addr.data(), b.data() + 8, 16);
  ep.port = readPort(b);
  return ep;
}

bool isMapped(const Endpoint& ep) {
  return ep.version == IpVersion::V6 && std::memcmp(ep.addr.data(), kMappedPrefix, 12) == 0;
}

}  // namespace

std::optional<Endpoint> decodeCallAddress(std::span<const uint8_t> bytes, uint32_t addrLen,
                                          int socketDomain, CallKind kind, bool udp) {
  // move_addr_to_kernel() fails a length beyond sockaddr_storage (or negative as an int) with
  // EINVAL before any protocol sees the address.
  if (addrLen < 2 || addrLen > sizeof(sockaddr_storage) || bytes.size() < 2 || bytes.size() > addrLen) {
    return std::nullopt;
  }
  sa_family_t family;
  std::memcpy(&family, bytes.data(), sizeof family);
  if (socketDomain == AF_INET) {
    if (addrLen < kSockaddrInLen || bytes.size() < kSockaddrInLen) return std::nullopt;
    if (family == AF_INET) return v4Endpoint(bytes);
    // inet_bind() accepts AF_UNSPEC with INADDR_ANY for compatibility: it binds like AF_INET.
    if (kind == CallKind::Bind && family == AF_UNSPEC && bytes[4] == 0 && bytes[5] == 0 &&
        bytes[6] == 0 && bytes[7] == 0) {
      return v4Endpoint(bytes);
    }
    return std::nullopt;  // AF_UNSPEC connect disconnects; anything else fails in the kernel
  }
  if (socketDomain == AF_INET6) {
    if (family == AF_INET6) {
      if (addrLen < kSockaddrIn6MinLen || bytes.size() < kSockaddrIn6MinLen) return std::nullopt;
      return v6Endpoint(bytes);  // v4-mapped stays V6 (S13.2)
    }
    // A UDP AF_INET6 socket connects to an AF_INET address as its v4-mapped form (unless
    // IPV6_V6ONLY, where the kernel fails the call; classifying it anyway is harmless).
    if (kind == CallKind::Connect && udp && family == AF_INET && addrLen >= kSockaddrInLen &&
        bytes.size() >= kSockaddrInLen) {
      return mappedEndpoint(bytes);
    }
    return std::nullopt;
  }
  return std::nullopt;
}

std::optional<Endpoint> endpointFromSockaddr(const sockaddr_storage& sa, socklen_t len) {
  if (sa.ss_family == AF_INET && len >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
    return v4Endpoint(std::span(reinterpret_cast<const uint8_t*>(&sa), sizeof(sockaddr_in)));
  }
  if (sa.ss_family == AF_INET6 && len >= static_cast<socklen_t>(kSockaddrIn6MinLen)) {
    return v6Endpoint(std::span(reinterpret_cast<const uint8_t*>(&sa), kSockaddrIn6MinLen));
  }
  return std::nullopt;
}

bool sockaddrFor(const Endpoint& ep, int socketDomain, sockaddr_storage& out, socklen_t& len) {
  std::memset(&out, 0, sizeof out);
  if (socketDomain == AF_INET) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&out);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(ep.port);
    if (ep.version == IpVersion::V4) {
      std::memcpy(&sin->sin_addr, ep.addr.data(), 4);
    } else if (isMapped(ep)) {
      std::memcpy(&sin->sin_addr, ep.addr.data() + 12, 4);
    } else {
      return false;
    }
    len = sizeof(sockaddr_in);
    return true;
  }
  if (socketDomain == AF_INET6) {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&out);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(ep.port);
    if (ep.version == IpVersion::V6) {
      std::memcpy(&sin6->sin6_addr, ep.addr.data(), 16);
    } else {
      std::memcpy(&sin6->sin6_addr, kMappedPrefix, 12);
      std::memcpy(reinterpret_cast<uint8_t*>(&sin6->sin6_addr) + 12, ep.addr.data(), 4);
    }
    len = sizeof(sockaddr_in6);
    return true;
  }
  return false;
}

std::string formatEndpoint(const Endpoint& ep) {
  char text[INET6_ADDRSTRLEN] = {};
  if (ep.version == IpVersion::V4) {
    ::inet_ntop(AF_INET, ep.addr.data(), text, sizeof text);
    return std::string(text) + ":" + std::to_string(ep.port);
  }
  ::inet_ntop(AF_INET6, ep.addr.data(), text, sizeof text);
  return "[" + std::string(text) + "]:" + std::to_string(ep.port);
}

}  // namespace openwfp::net

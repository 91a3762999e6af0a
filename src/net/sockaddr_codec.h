// net/sockaddr_codec.h - sockaddr bytes <-> Endpoint, following what the kernel itself accepts
// for connect() and bind() on AF_INET / AF_INET6 sockets. Pure functions over bounded input:
// the bytes come from a supervised process and are untrusted (S12.4).
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "openwfp/stack.h"

namespace openwfp::net {

enum class CallKind : uint8_t { Connect, Bind };

// Bytes of the call's sockaddr that are ever needed (sizeof(sockaddr_in6)).
inline constexpr size_t kMaxSockaddrRead = 28;

// The Endpoint the kernel would use for a connect()/bind() with this sockaddr on a socket of
// `socketDomain` (AF_INET or AF_INET6), or std::nullopt when the kernel would not make an IP
// connection/binding of it (it fails the call or, for AF_UNSPEC on connect, disconnects): such
// calls pass through. `bytes` holds the first min(addrLen, kMaxSockaddrRead) bytes. addrLen is
// the length as connect()/bind()/sendto() take it: beyond sizeof(sockaddr_storage) the kernel
// fails the call (EINVAL), so nothing decodes.
// An AF_INET address given to an AF_INET6 UDP socket's connect() becomes its v4-mapped V6
// address, as the kernel maps it (S13.2).
std::optional<Endpoint> decodeCallAddress(std::span<const uint8_t> bytes, uint32_t addrLen,
                                          int socketDomain, CallKind kind, bool udp);

// An address of a socket (getsockname/getpeername result).
std::optional<Endpoint> endpointFromSockaddr(const sockaddr_storage& sa, socklen_t len);

// The sockaddr to connect/bind a socket of `socketDomain` to `ep`: a V4 endpoint on an AF_INET6
// socket becomes v4-mapped; a v4-mapped V6 endpoint on an AF_INET socket becomes V4. false when
// it cannot be expressed (a real V6 address on an AF_INET socket).
bool sockaddrFor(const Endpoint& ep, int socketDomain, sockaddr_storage& out, socklen_t& len);

// "127.0.0.1:80" / "[::1]:80" (for logs; independent of Endpoint::str()).
std::string formatEndpoint(const Endpoint& ep);

// Endpoint equality that treats a V4 address and its v4-mapped V6 form as different (as the
// engine's layers do) but ignores nothing else.
inline bool sameEndpoint(const Endpoint& a, const Endpoint& b) {
  return a.version == b.version && a.addr == b.addr && a.port == b.port;
}

}  // namespace openwfp::net

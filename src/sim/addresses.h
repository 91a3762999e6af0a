// sim/addresses.h - address prefixes and helpers of the simulated stack.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>
#include <tuple>

#include "openwfp/stack.h"

namespace openwfp::sim::detail {

// "10.0.0.0/8", "::1/128", "10.0.0.5" (= /32), "2001:db8::5" (= /128).
struct Prefix {
  Endpoint address;  // as written (not masked); port 0
  unsigned bits = 0;
  bool contains(const Endpoint& e) const;  // same family and the first `bits` bits equal
};
std::optional<Prefix> parsePrefix(std::string_view text);
// A bare address ("10.0.0.5", "2001:db8::1"); port 0.
std::optional<Endpoint> parseAddress(std::string_view text);

bool sameAddress(const Endpoint& a, const Endpoint& b);  // version and address bytes
Endpoint withPort(Endpoint e, uint16_t port);
Endpoint unspecified(IpVersion version);
Endpoint loopback(IpVersion version);  // 127.0.0.1 / ::1, port 0

// A strict weak order over endpoints (for maps keyed by endpoints).
struct EndpointLess {
  bool operator()(const Endpoint& a, const Endpoint& b) const {
    return std::tie(a.version, a.addr, a.port) < std::tie(b.version, b.addr, b.port);
  }
};

}  // namespace openwfp::sim::detail

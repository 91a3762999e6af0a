// sim/addresses.cpp - address prefixes and helpers of the simulated stack.
#include "sim/addresses.h"

#include <charconv>
#include <string>

namespace openwfp::sim::detail {

std::optional<Endpoint> parseAddress(std::string_view text) {
  if (text.empty()) return std::nullopt;
  std::string withPort = text.find(':') != std::string_view::npos
                             ? "[" + std::string(text) + "]:0"
                             : std::string(text) + ":0";
  return Endpoint::parse(withPort);
}

std::optional<Prefix> parsePrefix(std::string_view text) {
  const size_t slash = text.find('/');
  auto address = parseAddress(text.substr(0, slash));
  if (!address) return std::nullopt;
  const unsigned maxBits = address->version == IpVersion::V4 ? 32 : 128;
  unsigned bits = maxBits;
  if (slash != std::string_view::npos) {
    std::string_view digits = text.substr(slash + 1);
    if (digits.empty() || digits.size() > 3) return std::nullopt;
    auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), bits);
    if (ec != std::errc() || ptr != digits.data() + digits.size() || bits > maxBits) {
      return std::nullopt;
    }
  }
  return Prefix{*address, bits};
}

bool Prefix::contains(const Endpoint& e) const {
  if (e.version != address.version) return false;
  unsigned left = bits;
  for (size_t i = 0; left > 0; ++i, left = left >= 8 ? left - 8 : 0) {
    const uint8_t mask = left >= 8 ? 0xff : static_cast<uint8_t>(0xff << (8 - left));
    if ((e.addr[i] & mask) != (address.addr[i] & mask)) return false;
  }
  return true;
}

bool sameAddress(const Endpoint& a, const Endpoint& b) {
  return a.version == b.version && a.addr == b.addr;
}

Endpoint withPort(Endpoint e, uint16_t port) {
  e.port = port;
  return e;
}

Endpoint unspecified(IpVersion version) {
  Endpoint e;
  e.version = version;
  return e;
}

Endpoint loopback(IpVersion version) {
  if (version == IpVersion::V4) return Endpoint::v4(0x7f000001, 0);
  std::array<uint8_t, 16> bytes{};
  bytes[15] = 1;
  return Endpoint::v6(bytes, 0);
}

}  // namespace openwfp::sim::detail

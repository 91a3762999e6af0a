// redirect/endpoint.cpp - openwfp::Endpoint (include/openwfp/stack.h): constructors, textual
// form and address classes. Hand-written (no <arpa/inet.h>): src/redirect is pure logic.
//
// Text syntax, accepted by parse() and written by str():
//   v4: "a.b.c.d:port"  four decimal octets 0-255 without leading zeros
//   v6: "[addr]:port"   RFC 4291 text form: 1-4 hex digits per group, at most one "::",
//                       optionally a dotted v4 address as the last 32 bits; no zone id.
//   port: 1-5 decimal digits, value <= 65535.
// str() writes v6 addresses in the RFC 5952 form (lowercase, longest run of two or more zero
// groups compressed, the first one on a tie, v4-mapped as ::ffff:a.b.c.d).
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

#include "openwfp/stack.h"

namespace openwfp {
namespace {

bool isDigit(char c) { return c >= '0' && c <= '9'; }

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decimal number of 1..maxDigits digits, no leading zero unless it is "0".
std::optional<uint32_t> parseDecimal(std::string_view s, size_t maxDigits, bool allowLeadingZero) {
  if (s.empty() || s.size() > maxDigits) return std::nullopt;
  if (!allowLeadingZero && s.size() > 1 && s[0] == '0') return std::nullopt;
  uint32_t v = 0;
  for (char c : s) {
    if (!isDigit(c)) return std::nullopt;
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  return v;
}

std::optional<uint16_t> parsePort(std::string_view s) {
  auto v = parseDecimal(s, 5, true);
  if (!v || *v > 65535) return std::nullopt;
  return static_cast<uint16_t>(*v);
}

bool parseV4(std::string_view s, uint8_t* out) {
  for (int i = 0; i < 4; ++i) {
    const size_t dot = s.find('.');
    const bool last = i == 3;
    if (last != (dot == std::string_view::npos)) return false;
    auto v = parseDecimal(s.substr(0, dot), 3, false);
    if (!v || *v > 255) return false;
    out[i] = static_cast<uint8_t>(*v);
    if (!last) s.remove_prefix(dot + 1);
  }
  return true;
}

// Parses "g:g:...:g" pieces (no "::") into 16-bit groups; a dotted v4 tail counts as two groups
// when allowV4Tail. Returns the number of groups, or -1.
int parseGroups(std::string_view s, uint16_t* groups, int maxGroups, bool allowV4Tail) {
  if (s.empty()) return 0;
  int n = 0;
  while (true) {
    const size_t colon = s.find(':');
    std::string_view piece = s.substr(0, colon);
    const bool last = colon == std::string_view::npos;
    if (last && allowV4Tail && piece.find('.') != std::string_view::npos) {
      uint8_t v4[4];
      if (n + 2 > maxGroups || !parseV4(piece, v4)) return -1;
      groups[n++] = static_cast<uint16_t>(v4[0] << 8 | v4[1]);
      groups[n++] = static_cast<uint16_t>(v4[2] << 8 | v4[3]);
      return n;
    }
    if (piece.empty() || piece.size() > 4 || n >= maxGroups) return -1;
    uint16_t g = 0;
    for (char c : piece) {
      const int h = hexValue(c);
      if (h < 0) return -1;
      g = static_cast<uint16_t>(g << 4 | h);
    }
    groups[n++] = g;
    if (last) return n;
    s.remove_prefix(colon + 1);
  }
}

bool parseV6(std::string_view s, std::array<uint8_t, 16>& out) {
  uint16_t head[8] = {};
  uint16_t tail[8] = {};
  int nHead = 0;
  int nTail = 0;
  const size_t gap = s.find("::");
  if (gap == std::string_view::npos) {
    nHead = parseGroups(s, head, 8, true);
    if (nHead != 8) return false;
  } else {
    std::string_view left = s.substr(0, gap);
    std::string_view right = s.substr(gap + 2);
    if (right.find("::") != std::string_view::npos) return false;
    nHead = parseGroups(left, head, 7, false);
    if (nHead < 0) return false;
    nTail = parseGroups(right, tail, 7 - nHead, true);
    if (nTail < 0) return false;
  }
  uint16_t groups[8] = {};
  for (int i = 0; i < nHead; ++i) groups[i] = head[i];
  for (int i = 0; i < nTail; ++i) groups[8 - nTail + i] = tail[i];
  for (int i = 0; i < 8; ++i) {
    out[2 * i] = static_cast<uint8_t>(groups[i] >> 8);
    out[2 * i + 1] = static_cast<uint8_t>(groups[i]);
  }
  return true;
}

std::string v4Text(const uint8_t* a) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", a[0], a[1], a[2], a[3]);
  return buf;
}

std::string v6Text(const Endpoint& e) {
  if (e.isV4Mapped()) return "::ffff:" + v4Text(&e.addr[12]);
  uint16_t g[8];
  for (int i = 0; i < 8; ++i) g[i] = static_cast<uint16_t>(e.addr[2 * i] << 8 | e.addr[2 * i + 1]);
  int bestStart = -1;
  int bestLen = 1;  // only runs of two or more groups are compressed
  for (int i = 0; i < 8;) {
    if (g[i] != 0) {
      ++i;
      continue;
    }
    int j = i;
    while (j < 8 && g[j] == 0) ++j;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  std::string out;
  char buf[8];
  for (int i = 0; i < 8; ++i) {
    if (i == bestStart) {
      out += "::";
      i += bestLen - 1;
      continue;
    }
    if (!out.empty() && out.back() != ':') out += ':';
    std::snprintf(buf, sizeof buf, "%x", g[i]);
    out += buf;
  }
  return out;
}

}  // namespace

Endpoint Endpoint::v4(uint32_t hostOrderAddr, uint16_t port) {
  Endpoint e;
  e.version = IpVersion::V4;
  e.addr[0] = static_cast<uint8_t>(hostOrderAddr >> 24);
  e.addr[1] = static_cast<uint8_t>(hostOrderAddr >> 16);
  e.addr[2] = static_cast<uint8_t>(hostOrderAddr >> 8);
  e.addr[3] = static_cast<uint8_t>(hostOrderAddr);
  e.port = port;
  return e;
}

Endpoint Endpoint::v6(const std::array<uint8_t, 16>& bytes, uint16_t port) {
  Endpoint e;
  e.version = IpVersion::V6;
  e.addr = bytes;
  e.port = port;
  return e;
}

std::optional<Endpoint> Endpoint::parse(std::string_view text) {
  if (!text.empty() && text[0] == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return std::nullopt;
    }
    std::array<uint8_t, 16> bytes{};
    if (!parseV6(text.substr(1, close - 1), bytes)) return std::nullopt;
    auto port = parsePort(text.substr(close + 2));
    if (!port) return std::nullopt;
    return v6(bytes, *port);
  }
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  Endpoint e;
  if (!parseV4(text.substr(0, colon), e.addr.data())) return std::nullopt;
  auto port = parsePort(text.substr(colon + 1));
  if (!port) return std::nullopt;
  e.port = *port;
  return e;
}

uint32_t Endpoint::v4HostOrder() const {
  return uint32_t{addr[0]} << 24 | uint32_t{addr[1]} << 16 | uint32_t{addr[2]} << 8 | uint32_t{addr[3]};
}

bool Endpoint::isV4Mapped() const {
  if (version != IpVersion::V6) return false;
  for (int i = 0; i < 10; ++i) {
    if (addr[i] != 0) return false;
  }
  return addr[10] == 0xff && addr[11] == 0xff;
}

bool Endpoint::isLoopback() const {
  if (version == IpVersion::V4) return addr[0] == 127;
  if (isV4Mapped()) return addr[12] == 127;
  for (int i = 0; i < 15; ++i) {
    if (addr[i] != 0) return false;
  }
  return addr[15] == 1;
}

bool Endpoint::isUnspecified() const {
  const size_t n = version == IpVersion::V4 ? 4 : 16;
  for (size_t i = 0; i < n; ++i) {
    if (addr[i] != 0) return false;
  }
  return true;
}

std::string Endpoint::str() const {
  if (version == IpVersion::V4) return v4Text(addr.data()) + ":" + std::to_string(port);
  return "[" + v6Text(*this) + "]:" + std::to_string(port);
}

}  // namespace openwfp

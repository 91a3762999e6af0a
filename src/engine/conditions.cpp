#include "engine/conditions.h"

#include <algorithm>
#include <cstring>
#include <cstdio>
#include <cwchar>

namespace openwfp::engine {

Value Value::v4Mask(uint32_t addr, uint32_t mask) {
  Value v;
  v.type = DataType::V4AddrMask;
  v.number = addr;
  v.mask = mask;
  return v;
}

Value Value::v6Prefix(const std::array<uint8_t, 16>& addr, uint8_t prefixLength) {
  Value v;
  v.type = DataType::V6AddrMask;
  v.bytes = addr;
  v.prefixLength = prefixLength;
  return v;
}

Value Value::bytes16(const std::array<uint8_t, 16>& b) {
  Value v;
  v.type = DataType::ByteArray16;
  v.bytes = b;
  return v;
}

Value Value::byteBlob(std::vector<uint8_t> b) {
  Value v;
  v.type = DataType::ByteBlob;
  v.blob = std::move(b);
  return v;
}

void ClassifyValues::setEndpoints(const Endpoint& localEp, const Endpoint& remoteEp) {
  local = localEp;
  remote = remoteEp;
  localV4 = local.version == IpVersion::V4 ? local.v4HostOrder() : 0;
  remoteV4 = remote.version == IpVersion::V4 ? remote.v4HostOrder() : 0;
}

std::vector<std::string> flagNames(uint32_t flags) {
  static const std::pair<uint32_t, const char*> names[] = {
      {0x00000001, "IS_LOOPBACK"},
      {0x00000002, "IS_IPSEC_SECURED"},
      {0x00000004, "IS_REAUTHORIZE"},
      {0x00000008, "IS_WILDCARD_BIND"},
      {0x00000010, "IS_RAW_ENDPOINT"},
      {0x00000200, "IS_IMPLICIT_BIND"},
      {0x00100000, "IS_CONNECTION_REDIRECTED"},
      {0x00200000, "IS_PROXY_CONNECTION"},
  };
  std::vector<std::string> out;
  uint32_t known = 0;
  for (auto& [bit, name] : names) {
    known |= bit;
    if (flags & bit) out.emplace_back(name);
  }
  if (flags & ~known) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "0x%08x", flags & ~known);
    out.emplace_back(buf);
  }
  return out;
}

std::vector<uint8_t> appIdFromPath(std::string_view path) {
  std::wstring wide;
  wide.reserve(path.size());
  // Decode UTF-8; bytes that are not valid UTF-8 are widened one by one.
  size_t i = 0;
  while (i < path.size()) {
    unsigned char c = static_cast<unsigned char>(path[i]);
    uint32_t cp = c;
    size_t len = 1;
    if (c >= 0xC0 && c < 0xF8) {
      len = c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
      if (i + len <= path.size()) {
        cp = c & (0x7F >> len);
        bool valid = true;
        for (size_t k = 1; k < len; ++k) {
          unsigned char cc = static_cast<unsigned char>(path[i + k]);
          if ((cc & 0xC0) != 0x80) {
            valid = false;
            break;
          }
          cp = (cp << 6) | (cc & 0x3F);
        }
        if (!valid) {
          cp = c;
          len = 1;
        }
      } else {
        len = 1;
      }
    }
    wide.push_back(static_cast<wchar_t>(cp));
    i += len;
  }
  std::vector<uint8_t> blob((wide.size() + 1) * sizeof(wchar_t), 0);
  std::memcpy(blob.data(), wide.data(), wide.size() * sizeof(wchar_t));
  return blob;
}

std::string pathFromAppId(std::span<const uint8_t> blob) {
  std::string out;
  size_t n = blob.size() / sizeof(wchar_t);
  for (size_t i = 0; i < n; ++i) {
    wchar_t wc;
    std::memcpy(&wc, blob.data() + i * sizeof(wchar_t), sizeof wc);
    if (wc == 0) break;
    uint32_t cp = static_cast<uint32_t>(wc);
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | ((cp >> 18) & 0x07)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }
  return out;
}

namespace {

bool isNumericMatch(MatchType m) {
  switch (m) {
    case MatchType::Equal:
    case MatchType::NotEqual:
    case MatchType::Greater:
    case MatchType::Less:
    case MatchType::GreaterOrEqual:
    case MatchType::LessOrEqual:
    case MatchType::Range:
      return true;
    default:
      return false;
  }
}

bool isFlagsMatch(MatchType m) {
  return m == MatchType::FlagsAllSet || m == MatchType::FlagsAnySet ||
         m == MatchType::FlagsNoneSet;
}

bool contiguousMask(uint32_t mask) {
  // ones followed by zeros (host order): ~mask + 1 is a power of two or zero.
  uint32_t inv = ~mask;
  return (inv & (inv + 1)) == 0;
}

uint64_t maxFor(DataType t) {
  switch (t) {
    case DataType::Uint8: return 0xFF;
    case DataType::Uint16: return 0xFFFF;
    case DataType::Uint32: return 0xFFFFFFFFull;
    default: return ~0ull;
  }
}

// Allowed scalar data type per field (for Equal/comparisons/Range).
DataType scalarTypeFor(Field f, bool v6) {
  switch (f) {
    case Field::UserId: return DataType::Uint32;
    case Field::LocalPort:
    case Field::RemotePort: return DataType::Uint16;
    case Field::Protocol:
    case Field::LocalAddressType:
    case Field::DestinationAddressType: return DataType::Uint8;
    case Field::Flags: return DataType::Uint32;
    case Field::LocalAddress:
    case Field::RemoteAddress: return v6 ? DataType::ByteArray16 : DataType::Uint32;
    case Field::AppId: return DataType::ByteBlob;
  }
  return DataType::Empty;
}

int compareBytes(const std::array<uint8_t, 16>& a, const std::array<uint8_t, 16>& b) {
  return std::memcmp(a.data(), b.data(), 16);
}

bool prefixEqual(const std::array<uint8_t, 16>& a, const std::array<uint8_t, 16>& b, unsigned len) {
  unsigned full = len / 8;
  if (std::memcmp(a.data(), b.data(), full) != 0) return false;
  unsigned rest = len % 8;
  if (rest == 0) return true;
  uint8_t m = static_cast<uint8_t>(0xFF << (8 - rest));
  return (a[full] & m) == (b[full] & m);
}

bool numericMatch(MatchType m, uint64_t x, const Value& v, const Value& hi) {
  switch (m) {
    case MatchType::Equal: return x == v.number;
    case MatchType::NotEqual: return x != v.number;
    case MatchType::Greater: return x > v.number;
    case MatchType::Less: return x < v.number;
    case MatchType::GreaterOrEqual: return x >= v.number;
    case MatchType::LessOrEqual: return x <= v.number;
    case MatchType::Range: return x >= v.number && x <= hi.number;
    case MatchType::FlagsAllSet: return (x & v.number) == v.number;
    case MatchType::FlagsAnySet: return (x & v.number) != 0;
    case MatchType::FlagsNoneSet: return (x & v.number) == 0;
    default: return false;
  }
}

bool bytesMatch(MatchType m, const std::array<uint8_t, 16>& x, const Value& v, const Value& hi) {
  int c = compareBytes(x, v.bytes);
  switch (m) {
    case MatchType::Equal: return c == 0;
    case MatchType::NotEqual: return c != 0;
    case MatchType::Greater: return c > 0;
    case MatchType::Less: return c < 0;
    case MatchType::GreaterOrEqual: return c >= 0;
    case MatchType::LessOrEqual: return c <= 0;
    case MatchType::Range: return c >= 0 && compareBytes(x, hi.bytes) <= 0;
    default: return false;
  }
}

// The app id condition value without its terminating NUL character(s), for prefix matches.
std::span<const uint8_t> withoutTerminator(const std::vector<uint8_t>& b) {
  size_t n = b.size();
  while (n >= sizeof(wchar_t)) {
    bool zero = true;
    for (size_t k = n - sizeof(wchar_t); k < n; ++k) zero = zero && b[k] == 0;
    if (!zero) break;
    n -= sizeof(wchar_t);
  }
  return {b.data(), n};
}

bool blobMatch(MatchType m, const std::vector<uint8_t>& x, const Value& v) {
  switch (m) {
    case MatchType::Equal: return x == v.blob;
    case MatchType::NotEqual: return x != v.blob;
    case MatchType::Prefix:
    case MatchType::NotPrefix: {
      auto p = withoutTerminator(v.blob);
      bool is = x.size() >= p.size() && std::equal(p.begin(), p.end(), x.begin());
      return m == MatchType::Prefix ? is : !is;
    }
    default: return false;
  }
}

}  // namespace

std::string Condition::str() const {
  std::string s(toString(field));
  s += " match=" + std::to_string(static_cast<uint32_t>(match));
  s += " type=" + std::to_string(static_cast<uint32_t>(value.type));
  return s;
}

Status validateCondition(const LayerInfo& layer, const Condition& c) {
  if (!layer.hasField(c.field)) return Status::FwpConditionNotFound;
  const bool addressField = c.field == Field::LocalAddress || c.field == Field::RemoteAddress;
  const DataType scalar = scalarTypeFor(c.field, layer.v6);

  if (c.match == MatchType::Range || c.value.type == DataType::Range) {
    if (c.match != MatchType::Range) return Status::FwpMatchTypeMismatch;
    if (c.field == Field::AppId || c.field == Field::Flags) return Status::FwpMatchTypeMismatch;
    if (c.value.type != scalar || c.high.type != scalar) return Status::FwpTypeMismatch;
    if (scalar == DataType::ByteArray16) {
      if (compareBytes(c.value.bytes, c.high.bytes) > 0) return Status::FwpInvalidRange;
    } else {
      if (c.value.number > maxFor(scalar) || c.high.number > maxFor(scalar))
        return Status::FwpOutOfBounds;
      if (c.value.number > c.high.number) return Status::FwpInvalidRange;
    }
    return Status::Success;
  }

  if (addressField && c.value.type == DataType::V4AddrMask) {
    if (layer.v6) return Status::FwpTypeMismatch;
    if (c.match != MatchType::Equal && c.match != MatchType::NotEqual)
      return Status::FwpMatchTypeMismatch;
    if (!contiguousMask(c.value.mask)) return Status::FwpInvalidNetMask;
    return Status::Success;
  }
  if (addressField && c.value.type == DataType::V6AddrMask) {
    if (!layer.v6) return Status::FwpTypeMismatch;
    if (c.match != MatchType::Equal && c.match != MatchType::NotEqual)
      return Status::FwpMatchTypeMismatch;
    if (c.value.prefixLength > 128) return Status::FwpInvalidNetMask;
    return Status::Success;
  }
  if (c.value.type != scalar) return Status::FwpTypeMismatch;
  if (scalar == DataType::ByteBlob) {
    if (c.match != MatchType::Equal && c.match != MatchType::NotEqual &&
        c.match != MatchType::Prefix && c.match != MatchType::NotPrefix)
      return Status::FwpMatchTypeMismatch;
    return Status::Success;
  }
  if (scalar == DataType::ByteArray16) {
    if (!isNumericMatch(c.match)) return Status::FwpMatchTypeMismatch;
    return Status::Success;
  }
  if (c.value.number > maxFor(scalar)) return Status::FwpOutOfBounds;
  if (c.field == Field::Flags) {
    if (!isFlagsMatch(c.match) && c.match != MatchType::Equal && c.match != MatchType::NotEqual)
      return Status::FwpMatchTypeMismatch;
    return Status::Success;
  }
  if (!isNumericMatch(c.match)) return Status::FwpMatchTypeMismatch;
  return Status::Success;
}

bool conditionMatches(const Condition& c, const LayerInfo& layer, const ClassifyValues& v) {
  switch (c.field) {
    case Field::AppId: return blobMatch(c.match, v.appId, c.value);
    case Field::UserId: return numericMatch(c.match, v.userId, c.value, c.high);
    case Field::LocalPort: return numericMatch(c.match, v.local.port, c.value, c.high);
    case Field::RemotePort: return numericMatch(c.match, v.remote.port, c.value, c.high);
    case Field::Protocol: return numericMatch(c.match, v.protocol, c.value, c.high);
    case Field::Flags: return numericMatch(c.match, v.flags, c.value, c.high);
    case Field::LocalAddressType: return numericMatch(c.match, v.localAddressType, c.value, c.high);
    case Field::DestinationAddressType:
      return numericMatch(c.match, v.destinationAddressType, c.value, c.high);
    case Field::LocalAddress:
    case Field::RemoteAddress: {
      const bool remote = c.field == Field::RemoteAddress;
      if (!layer.v6) {
        uint32_t x = remote ? v.remoteV4 : v.localV4;
        if (c.value.type == DataType::V4AddrMask) {
          bool in = (x & c.value.mask) == (static_cast<uint32_t>(c.value.number) & c.value.mask);
          return c.match == MatchType::NotEqual ? !in : in;
        }
        return numericMatch(c.match, x, c.value, c.high);
      }
      const auto& x = remote ? v.remote.addr : v.local.addr;
      if (c.value.type == DataType::V6AddrMask) {
        bool in = prefixEqual(x, c.value.bytes, c.value.prefixLength);
        return c.match == MatchType::NotEqual ? !in : in;
      }
      return bytesMatch(c.match, x, c.value, c.high);
    }
  }
  return false;
}

std::vector<ConditionGroup> groupConditions(std::span<const Condition> conditions) {
  std::vector<ConditionGroup> groups;
  for (const auto& c : conditions) {
    auto it = std::find_if(groups.begin(), groups.end(),
                           [&](const ConditionGroup& g) { return g.field == c.field; });
    if (it == groups.end()) {
      groups.push_back({c.field, {c}});
    } else {
      it->anyOf.push_back(c);
    }
  }
  return groups;
}

bool groupsMatch(std::span<const ConditionGroup> groups, const LayerInfo& layer,
                 const ClassifyValues& v) {
  for (const auto& g : groups) {
    bool any = false;
    for (const auto& c : g.anyOf) {
      if (conditionMatches(c, layer, v)) {
        any = true;
        break;
      }
    }
    if (!any) return false;
  }
  return true;
}

namespace {
uint32_t conditionScore(const Condition& c) {
  switch (c.match) {
    case MatchType::Equal:
      if (c.value.type == DataType::V4AddrMask) {
        return static_cast<uint32_t>(__builtin_popcount(c.value.mask)) / 2;  // /32 -> 16
      }
      if (c.value.type == DataType::V6AddrMask) return c.value.prefixLength / 8;  // /128 -> 16
      return 16;
    case MatchType::Range:
    case MatchType::Prefix:
      return 8;
    case MatchType::FlagsAllSet:
    case MatchType::FlagsAnySet:
    case MatchType::FlagsNoneSet:
      return 4;
    default:
      return 2;  // not-equal, greater, less, >=, <=, not-prefix
  }
}
}  // namespace

uint32_t specificityScore(std::span<const ConditionGroup> groups) {
  uint32_t score = 0;
  for (const auto& g : groups) {
    uint32_t least = 16;
    for (const auto& c : g.anyOf) least = std::min(least, conditionScore(c));
    score += least;
  }
  return score;
}

}  // namespace openwfp::engine

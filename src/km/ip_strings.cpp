// km/ip_strings.cpp - RtlIpv4/Ipv6AddressToString(Ex)A/W and RtlIpv4/Ipv6StringToAddressA/W of
// ip2string.h (formats described there).
#include <wdm.h>
#include <mstcpip.h>

#include <cstdio>
#include <cstring>
#include <string>

namespace {

std::string v4(const IN_ADDR* a) {
  char b[16];
  std::snprintf(b, sizeof b, "%u.%u.%u.%u", a->S_un.S_un_b.s_b1, a->S_un.S_un_b.s_b2, a->S_un.S_un_b.s_b3,
                a->S_un.S_un_b.s_b4);
  return b;
}

std::string v6(const IN6_ADDR* a) {
  const UCHAR* b = a->u.Byte;
  unsigned g[8];
  for (int i = 0; i < 8; ++i) g[i] = (static_cast<unsigned>(b[2 * i]) << 8) | b[2 * i + 1];
  bool mapped = g[0] == 0 && g[1] == 0 && g[2] == 0 && g[3] == 0 && g[4] == 0 && g[5] == 0xffff;
  int groups = mapped ? 6 : 8;
  int bestAt = -1, bestLen = 0;
  for (int i = 0; i < groups;) {
    if (g[i] != 0) {
      ++i;
      continue;
    }
    int j = i;
    while (j < groups && g[j] == 0) ++j;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestLen < 2) bestAt = -1;
  std::string out;
  char h[8];
  for (int i = 0; i < groups; ++i) {
    if (i == bestAt) {
      out += "::";
      i += bestLen - 1;
      continue;
    }
    if (!out.empty() && out.back() != ':') out += ':';
    std::snprintf(h, sizeof h, "%x", g[i]);
    out += h;
  }
  if (mapped) {
    if (out.back() != ':') out += ':';
    IN_ADDR tail;
    std::memcpy(&tail, b + 12, 4);
    out += v4(&tail);
  }
  return out;
}

unsigned short portHost(USHORT netPort) { return static_cast<unsigned short>(RtlUshortByteSwap(netPort)); }

template <typename Ch>
Ch* put(const std::string& s, Ch* out) {
  for (char c : s) *out++ = static_cast<Ch>(c);
  *out = 0;
  return out;
}

template <typename Ch>
NTSTATUS putEx(const std::string& s, Ch* out, PULONG len) {
  if (len == nullptr || out == nullptr) return STATUS_INVALID_PARAMETER;
  ULONG need = static_cast<ULONG>(s.size() + 1);
  if (*len < need) {
    *len = need;
    return STATUS_INVALID_PARAMETER;
  }
  put(s, out);
  *len = need;
  return STATUS_SUCCESS;
}

std::string v4Ex(const IN_ADDR* a, USHORT port) {
  std::string s = v4(a);
  if (port != 0) s += ":" + std::to_string(portHost(port));
  return s;
}

std::string v6Ex(const IN6_ADDR* a, ULONG scope, USHORT port) {
  std::string s = v6(a);
  if (scope != 0) s += "%" + std::to_string(scope);
  if (port != 0) s = "[" + s + "]:" + std::to_string(portHost(port));
  return s;
}

// Parsers over either character type.
template <typename Ch>
bool parseV4(const Ch*& p, BOOLEAN, IN_ADDR* out) {
  UCHAR parts[4];
  for (int i = 0; i < 4; ++i) {
    if (i > 0) {
      if (*p != '.') return false;
      ++p;
    }
    if (*p < '0' || *p > '9') return false;
    unsigned v = 0;
    int digits = 0;
    while (*p >= '0' && *p <= '9') {
      v = v * 10 + static_cast<unsigned>(*p - '0');
      ++p;
      if (++digits > 3 || v > 255) return false;
    }
    parts[i] = static_cast<UCHAR>(v);
  }
  std::memcpy(out, parts, 4);
  return true;
}

template <typename Ch>
int hexval(Ch c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

template <typename Ch>
bool parseV6(const Ch*& p, IN6_ADDR* out) {
  unsigned g[8] = {};
  int n = 0, gap = -1;
  if (p[0] == ':' && p[1] == ':') {
    gap = 0;
    p += 2;
  }
  while (n < 8) {
    const Ch* start = p;
    unsigned v = 0;
    int digits = 0;
    while (hexval(*p) >= 0 && digits < 5) {
      v = v * 16 + static_cast<unsigned>(hexval(*p));
      ++p;
      ++digits;
    }
    if (digits == 0) break;
    if (*p == '.' && n <= 6) {  // embedded IPv4
      p = start;
      IN_ADDR a4;
      if (!parseV4(p, TRUE, &a4)) return false;
      const UCHAR* b = reinterpret_cast<const UCHAR*>(&a4);
      g[n++] = (static_cast<unsigned>(b[0]) << 8) | b[1];
      g[n++] = (static_cast<unsigned>(b[2]) << 8) | b[3];
      break;
    }
    if (digits > 4) return false;
    g[n++] = v;
    if (*p == ':' && p[1] == ':' && gap < 0) {
      gap = n;
      p += 2;
      continue;
    }
    if (*p == ':' && hexval(p[1]) >= 0) {
      ++p;
      continue;
    }
    break;
  }
  unsigned full[8] = {};
  if (gap < 0) {
    if (n != 8) return false;
    std::memcpy(full, g, sizeof full);
  } else {
    if (n > 7) return false;
    for (int i = 0; i < gap; ++i) full[i] = g[i];
    for (int i = gap; i < n; ++i) full[8 - (n - i)] = g[i];
  }
  for (int i = 0; i < 8; ++i) {
    out->u.Byte[2 * i] = static_cast<UCHAR>(full[i] >> 8);
    out->u.Byte[2 * i + 1] = static_cast<UCHAR>(full[i] & 0xff);
  }
  return true;
}

}  // namespace

extern "C" {

PSTR NTAPI RtlIpv4AddressToStringA(const IN_ADDR* Addr, PSTR S) { return put(v4(Addr), S); }
PWSTR NTAPI RtlIpv4AddressToStringW(const IN_ADDR* Addr, PWSTR S) { return put(v4(Addr), S); }
NTSTATUS NTAPI RtlIpv4AddressToStringExA(const IN_ADDR* Address, USHORT Port, PSTR S, PULONG Len) {
  if (Address == nullptr) return STATUS_INVALID_PARAMETER;
  return putEx(v4Ex(Address, Port), S, Len);
}
NTSTATUS NTAPI RtlIpv4AddressToStringExW(const IN_ADDR* Address, USHORT Port, PWSTR S, PULONG Len) {
  if (Address == nullptr) return STATUS_INVALID_PARAMETER;
  return putEx(v4Ex(Address, Port), S, Len);
}
PSTR NTAPI RtlIpv6AddressToStringA(const IN6_ADDR* Addr, PSTR S) { return put(v6(Addr), S); }
PWSTR NTAPI RtlIpv6AddressToStringW(const IN6_ADDR* Addr, PWSTR S) { return put(v6(Addr), S); }
NTSTATUS NTAPI RtlIpv6AddressToStringExA(const IN6_ADDR* Address, ULONG ScopeId, USHORT Port, PSTR S, PULONG Len) {
  if (Address == nullptr) return STATUS_INVALID_PARAMETER;
  return putEx(v6Ex(Address, ScopeId, Port), S, Len);
}
NTSTATUS NTAPI RtlIpv6AddressToStringExW(const IN6_ADDR* Address, ULONG ScopeId, USHORT Port, PWSTR S, PULONG Len) {
  if (Address == nullptr) return STATUS_INVALID_PARAMETER;
  return putEx(v6Ex(Address, ScopeId, Port), S, Len);
}

NTSTATUS NTAPI RtlIpv4StringToAddressA(PCSTR S, BOOLEAN Strict, PCSTR* Terminator, IN_ADDR* Addr) {
  if (S == nullptr || Terminator == nullptr || Addr == nullptr) return STATUS_INVALID_PARAMETER;
  const char* p = S;
  bool ok = parseV4(p, Strict, Addr);
  *Terminator = p;
  return ok ? STATUS_SUCCESS : STATUS_INVALID_PARAMETER;
}
NTSTATUS NTAPI RtlIpv4StringToAddressW(PCWSTR S, BOOLEAN Strict, PCWSTR* Terminator, IN_ADDR* Addr) {
  if (S == nullptr || Terminator == nullptr || Addr == nullptr) return STATUS_INVALID_PARAMETER;
  const WCHAR* p = S;
  bool ok = parseV4(p, Strict, Addr);
  *Terminator = p;
  return ok ? STATUS_SUCCESS : STATUS_INVALID_PARAMETER;
}
NTSTATUS NTAPI RtlIpv6StringToAddressA(PCSTR S, PCSTR* Terminator, IN6_ADDR* Addr) {
  if (S == nullptr || Terminator == nullptr || Addr == nullptr) return STATUS_INVALID_PARAMETER;
  const char* p = S;
  bool ok = parseV6(p, Addr);
  *Terminator = p;
  return ok ? STATUS_SUCCESS : STATUS_INVALID_PARAMETER;
}
NTSTATUS NTAPI RtlIpv6StringToAddressW(PCWSTR S, PCWSTR* Terminator, IN6_ADDR* Addr) {
  if (S == nullptr || Terminator == nullptr || Addr == nullptr) return STATUS_INVALID_PARAMETER;
  const WCHAR* p = S;
  bool ok = parseV6(p, Addr);
  *Terminator = p;
  return ok ? STATUS_SUCCESS : STATUS_INVALID_PARAMETER;
}

}  // extern "C"

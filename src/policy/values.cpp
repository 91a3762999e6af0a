// The values inside the rules: addresses, prefixes, HOST:PORT, upstream URLs, errno names, and
// the binary form for the policy driver (policy.h).
#include <arpa/inet.h>

#include <cerrno>
#include <algorithm>
#include <cstring>

#include "openwfp/policy_channel.h"
#include "policy/policy.h"

namespace openwfp::policy {

namespace {

bool parseAddress(std::string_view text, uint8_t& family, std::array<uint8_t, 16>& addr) {
  if (text.empty() || text.size() > 45) return false;
  std::string s(text);
  addr.fill(0);
  if (inet_pton(AF_INET, s.c_str(), addr.data()) == 1) {
    family = 4;
    return true;
  }
  if (inet_pton(AF_INET6, s.c_str(), addr.data()) == 1) {
    family = 6;
    return true;
  }
  return false;
}

std::string addressText(uint8_t family, const std::array<uint8_t, 16>& addr) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(family == 4 ? AF_INET : AF_INET6, addr.data(), buf, sizeof buf);
  return buf;
}

bool parseNumber(std::string_view t, long max, long& out) {
  if (t.empty() || t.size() > 10) return false;
  out = 0;
  for (char c : t) {
    if (c < '0' || c > '9') return false;
    out = out * 10 + (c - '0');
  }
  return out <= max;
}

int hexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// RFC 3986 percent-decoding of the user information.
bool percentDecode(std::string_view in, std::string& out) {
  out.clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    if (i + 2 >= in.size()) return false;
    const int hi = hexDigit(in[i + 1]), lo = hexDigit(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out.find('\0') == std::string::npos;
}

struct ErrnoName {
  const char* name;
  int value;
};
constexpr ErrnoName kErrnos[] = {
    {"EPERM", EPERM},           {"ENOENT", ENOENT},           {"EINTR", EINTR},
    {"EIO", EIO},               {"EBADF", EBADF},             {"EAGAIN", EAGAIN},
    {"ENOMEM", ENOMEM},         {"EACCES", EACCES},           {"EFAULT", EFAULT},
    {"EBUSY", EBUSY},           {"EINVAL", EINVAL},           {"ENFILE", ENFILE},
    {"EMFILE", EMFILE},         {"ENOSPC", ENOSPC},           {"EPIPE", EPIPE},
    {"ENOSYS", ENOSYS},         {"ENOTSOCK", ENOTSOCK},       {"EPROTOTYPE", EPROTOTYPE},
    {"ENOPROTOOPT", ENOPROTOOPT}, {"EPROTONOSUPPORT", EPROTONOSUPPORT}, {"EOPNOTSUPP", EOPNOTSUPP},
    {"EAFNOSUPPORT", EAFNOSUPPORT}, {"EADDRINUSE", EADDRINUSE}, {"EADDRNOTAVAIL", EADDRNOTAVAIL},
    {"ENETDOWN", ENETDOWN},     {"ENETUNREACH", ENETUNREACH}, {"ENETRESET", ENETRESET},
    {"ECONNABORTED", ECONNABORTED}, {"ECONNRESET", ECONNRESET}, {"ENOBUFS", ENOBUFS},
    {"EISCONN", EISCONN},       {"ENOTCONN", ENOTCONN},       {"ETIMEDOUT", ETIMEDOUT},
    {"ECONNREFUSED", ECONNREFUSED}, {"EHOSTDOWN", EHOSTDOWN}, {"EHOSTUNREACH", EHOSTUNREACH},
    {"EALREADY", EALREADY},     {"EINPROGRESS", EINPROGRESS}, {"EPROTO", EPROTO},
};

}  // namespace

std::string Prefix::str() const {
  std::string s = addressText(family, addr);
  if (length != (family == 4 ? 32 : 128)) s += "/" + std::to_string(length);
  return s;
}

std::string HostPort::str() const {
  const std::string a = addressText(family, addr);
  return (family == 6 ? "[" + a + "]" : a) + ":" + std::to_string(port);
}

std::string Upstream::str() const {
  if (kind == UpstreamKind::Direct) return "direct";
  std::string s = kind == UpstreamKind::Socks5 ? "socks5://" : "http://";
  if (!user.empty()) s += user + ":***@";
  return s + server.str();
}

std::optional<Prefix> parsePrefix(std::string_view text, std::string* why) {
  Prefix p;
  const auto slash = text.find('/');
  if (!parseAddress(text.substr(0, slash), p.family, p.addr)) {
    *why = "expected remote = an IPv4 or IPv6 address, optionally with /PREFIX";
    return std::nullopt;
  }
  const long max = p.family == 4 ? 32 : 128;
  long len = max;
  if (slash != std::string_view::npos && !parseNumber(text.substr(slash + 1), max, len)) {
    *why = "expected a prefix length 0-" + std::to_string(max) + " after '/'";
    return std::nullopt;
  }
  p.length = static_cast<uint8_t>(len);
  for (long bit = len; bit < max; ++bit) {
    if (p.addr[bit / 8] & (0x80 >> (bit % 8))) {
      Prefix net = p;
      for (long b = len; b < max; ++b) net.addr[b / 8] &= static_cast<uint8_t>(~(0x80 >> (b % 8)));
      *why = "expected the network address of the prefix (" + net.str() + "): host bits are set";
      return std::nullopt;
    }
  }
  return p;
}

std::optional<HostPort> parseHostPort(std::string_view text, std::string* why) {
  HostPort hp;
  std::string_view host, port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      *why = "expected \"[IPV6]:PORT\"";
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      *why = "expected \"HOST:PORT\" with a numeric IPv4 address or \"[IPV6]:PORT\"";
      return std::nullopt;
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  if (host == "localhost") host = "127.0.0.1";
  if (!parseAddress(host, hp.family, hp.addr) || (hp.family == 6 && text.front() != '[')) {
    *why = "expected \"HOST:PORT\" with a numeric IPv4 address, \"localhost\" or \"[IPV6]:PORT\" (names are not "
           "resolved)";
    return std::nullopt;
  }
  long p = 0;
  if (!parseNumber(port, 65535, p) || p == 0) {
    *why = "expected a port 1-65535 after the host";
    return std::nullopt;
  }
  hp.port = static_cast<uint16_t>(p);
  return hp;
}

std::optional<Upstream> parseUpstream(std::string_view url, std::string* why) {
  Upstream up;
  if (url == "direct") return up;
  std::string_view rest;
  if (url.rfind("socks5://", 0) == 0) {
    up.kind = UpstreamKind::Socks5;
    rest = url.substr(9);
  } else if (url.rfind("http://", 0) == 0) {
    up.kind = UpstreamKind::Http;
    rest = url.substr(7);
  } else {
    *why = "expected proxy = \"direct\", \"socks5://[USER:PASS@]HOST:PORT\" or \"http://[USER:PASS@]HOST:PORT\" "
           "(unknown scheme)";
    return std::nullopt;
  }
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  const auto at = rest.rfind('@');
  if (at != std::string_view::npos) {
    const std::string_view info = rest.substr(0, at);
    const auto colon = info.find(':');
    if (colon == std::string_view::npos || colon == 0 || !percentDecode(info.substr(0, colon), up.user) ||
        !percentDecode(info.substr(colon + 1), up.password) || up.user.size() > 255 || up.password.size() > 255) {
      *why = "expected USER:PASS@ before the host (each 1-255 bytes, %XX escapes allowed)";
      return std::nullopt;
    }
    rest = rest.substr(at + 1);
  }
  auto hp = parseHostPort(rest, why);
  if (!hp) return std::nullopt;
  up.server = *hp;
  return up;
}

int errnoFromName(std::string_view name) {
  std::string upper(name);
  for (char& c : upper)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  for (const auto& e : kErrnos)
    if (upper == e.name) return e.value;
  long v = 0;
  if (parseNumber(name, 4095, v) && v > 0) return static_cast<int>(v);
  return -1;
}

std::string errnoName(int value) {
  for (const auto& e : kErrnos)
    if (e.value == value) return e.name;
  return std::to_string(value);
}

bool Policy::hasProxyRules() const {
  for (const auto& r : rules)
    if (r.action == ActionKind::Proxy) return true;
  return false;
}

std::string Rule::summary() const {
  std::string s;
  auto add = [&](const std::string& part) { s += (s.empty() ? "" : " ") + part; };
  if (app) add("app=" + *app);
  if (uid) add("uid=" + std::to_string(*uid));
  if (remote) add("remote=" + remote->str());
  if (port)
    add("port=" + std::to_string(port->first) +
        (port->first == port->second ? std::string() : "-" + std::to_string(port->second)));
  if (protocol) add(std::string("protocol=") + (*protocol == 6 ? "tcp" : "udp"));
  if (s.empty()) s = "any";
  switch (action) {
    case ActionKind::Permit: return s + " -> permit";
    case ActionKind::Block:
      return s + " -> block" + (blockErrno ? " " + errnoName(blockErrno) : std::string(" (session errno)"));
    case ActionKind::Redirect: return s + " -> redirect " + redirect.str();
    case ActionKind::Proxy: return s + " -> proxy " + upstream.str();
  }
  return s;
}

namespace {
void copyEndpoint(const HostPort& hp, VP_ENDPOINT& ep) {
  std::memset(&ep, 0, sizeof ep);
  ep.family = hp.family;
  ep.port = hp.port;
  std::memcpy(ep.addr, hp.addr.data(), 16);
}
void copyString(const std::string& s, char* out, size_t cap) {
  std::memset(out, 0, cap);
  std::memcpy(out, s.data(), std::min(s.size(), cap - 1));
}
}  // namespace

std::vector<uint8_t> encode(const Policy& policy, std::string* why) {
  if (policy.rules.size() > POLICY_MAX_RULES) {
    *why = policy.source + ": " + std::to_string(policy.rules.size()) + " rules, at most " +
           std::to_string(POLICY_MAX_RULES) + " fit";
    return {};
  }
  std::vector<uint8_t> out(sizeof(POLICY_RULES) + policy.rules.size() * sizeof(POLICY_RULE));
  POLICY_RULES head{POLICY_VERSION, static_cast<uint32_t>(policy.rules.size())};
  std::memcpy(out.data(), &head, sizeof head);
  for (size_t i = 0; i < policy.rules.size(); ++i) {
    const Rule& r = policy.rules[i];
    POLICY_RULE w;
    std::memset(&w, 0, sizeof w);
    if (r.app) {
      w.match |= POLICY_MATCH_APP;
      copyString(*r.app, w.app, sizeof w.app);
    }
    if (r.uid) {
      w.match |= POLICY_MATCH_UID;
      w.uid = *r.uid;
    }
    if (r.remote) {
      w.match |= POLICY_MATCH_REMOTE;
      w.remoteFamily = r.remote->family;
      w.remotePrefix = r.remote->length;
      std::memcpy(w.remote, r.remote->addr.data(), 16);
    }
    if (r.port) {
      w.match |= POLICY_MATCH_PORT;
      w.portLow = r.port->first;
      w.portHigh = r.port->second;
    }
    if (r.protocol) {
      w.match |= POLICY_MATCH_PROTOCOL;
      w.protocol = *r.protocol;
    }
    w.line = r.line;
    switch (r.action) {
      case ActionKind::Permit: w.action = POLICY_ACTION_PERMIT; break;
      case ActionKind::Block:
        w.action = POLICY_ACTION_BLOCK;
        w.blockErrno = r.blockErrno;
        break;
      case ActionKind::Redirect:
        w.action = POLICY_ACTION_REDIRECT;
        copyEndpoint(r.redirect, w.redirect);
        break;
      case ActionKind::Proxy:
        w.action = POLICY_ACTION_PROXY;
        w.upstream.kind = r.upstream.kind == UpstreamKind::Direct   ? POLICY_UPSTREAM_DIRECT
                          : r.upstream.kind == UpstreamKind::Socks5 ? POLICY_UPSTREAM_SOCKS5
                                                                    : POLICY_UPSTREAM_HTTP;
        copyEndpoint(r.upstream.server, w.upstream.server);
        copyString(r.upstream.user, w.upstream.user, sizeof w.upstream.user);
        copyString(r.upstream.password, w.upstream.password, sizeof w.upstream.password);
        break;
    }
    std::memcpy(out.data() + sizeof(POLICY_RULES) + i * sizeof(POLICY_RULE), &w, sizeof w);
  }
  return out;
}

}  // namespace openwfp::policy

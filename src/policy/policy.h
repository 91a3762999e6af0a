// policy/policy.h - the rules file of `openwfp run --policy` / `openwfp policy check` (SPEC S17):
// TOML `[[rule]]` tables in file order, each with optional match keys (app, uid, remote, port,
// protocol) and exactly one action (permit, block, redirect, proxy). docs/policy.md is the
// reference. Pure logic: parsing, validation and the binary form the policy driver receives
// (openwfp/policy_channel.h). Every error is one line "FILE:LINE:COLUMN: expected ...".
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace openwfp::policy {

// An address or prefix: family 4 or 6, bytes in network order (v4 in addr[0..3]).
struct Prefix {
  uint8_t family = 4;
  std::array<uint8_t, 16> addr{};
  uint8_t length = 32;  // 32 / 128 for one address
  std::string str() const;  // "10.0.0.0/8", "::1"
};

struct HostPort {
  uint8_t family = 4;
  std::array<uint8_t, 16> addr{};
  uint16_t port = 0;
  std::string str() const;  // "127.0.0.1:1080", "[::1]:1080"
};

enum class UpstreamKind : uint8_t { Direct, Socks5, Http };

struct Upstream {
  UpstreamKind kind = UpstreamKind::Direct;
  HostPort server;  // Socks5 / Http
  std::string user, password;  // optional (SOCKS5: RFC 1929; HTTP: Basic)
  std::string str() const;     // the URL, the password shown as "***"
};

enum class ActionKind : uint8_t { Permit, Block, Redirect, Proxy };

struct Rule {
  uint32_t line = 0, column = 0;  // of the [[rule]] header
  std::optional<std::string> app;  // glob: '*' any run of bytes (also '/'), '?' one byte
  std::optional<uint32_t> uid;
  std::optional<Prefix> remote;
  std::optional<std::pair<uint16_t, uint16_t>> port;  // inclusive range
  std::optional<uint8_t> protocol;                    // 6 / 17
  ActionKind action = ActionKind::Permit;
  int blockErrno = 0;  // Block
  HostPort redirect;   // Redirect
  Upstream upstream;   // Proxy
  std::string summary() const;  // "rule 2 (line 7): app=/usr/bin/* port=80-443 -> proxy socks5://..."
};

struct Policy {
  std::string source;  // file name as given
  std::vector<Rule> rules;
  bool hasProxyRules() const;
};

struct ParseResult {
  std::optional<Policy> policy;
  std::string error;  // one line, "FILE:LINE:COLUMN: expected ..." (or "FILE: cannot read: ...")
  explicit operator bool() const { return policy.has_value(); }
};

// Parses the file at `path` (errors name it as given).
ParseResult parseFile(const std::string& path);
// Parses `text`, naming it `source` in errors.
ParseResult parseText(std::string_view text, const std::string& source);

// The pieces, also for the CLI and the proxy: nullopt (and `why`: "expected ...") when invalid.
std::optional<Upstream> parseUpstream(std::string_view url, std::string* why);
std::optional<HostPort> parseHostPort(std::string_view text, std::string* why);
std::optional<Prefix> parsePrefix(std::string_view text, std::string* why);
// "ECONNREFUSED" (any case) or a number 1..4095; -1 when unknown.
int errnoFromName(std::string_view name);
// "ECONNREFUSED" for 111; the number as text when it has no name here.
std::string errnoName(int value);

// The rule set as the policy driver's IOCTL_POLICY_LOAD input (POLICY_RULES + rules); empty and
// `why` set when it does not fit (more than POLICY_MAX_RULES rules).
std::vector<uint8_t> encode(const Policy& policy, std::string* why);

}  // namespace openwfp::policy

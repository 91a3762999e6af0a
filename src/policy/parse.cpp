// The TOML side of the rules file: which keys, which types, where an error is (policy.h).
#include <toml++/toml.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "policy/policy.h"

namespace openwfp::policy {

namespace {

struct Located {
  uint32_t line = 0, column = 0;
  std::string what;
};

class Fail {
 public:
  explicit Fail(Located l) : l_(std::move(l)) {}
  const Located& where() const { return l_; }

 private:
  Located l_;
};

[[noreturn]] void fail(const toml::source_region& at, std::string what) {
  throw Fail(Located{at.begin.line, at.begin.column, std::move(what)});
}

std::string quoted(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      out += '?';
      continue;
    }
    out += c;
  }
  return out + "\"";
}

std::string typeName(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    default: return "a date or time";
  }
}

const std::string& needString(const toml::node& n, const char* key, const char* expected) {
  if (!n.is_string()) fail(n.source(), std::string("expected ") + key + " = " + expected + ", got " + typeName(n));
  return n.as_string()->get();
}

void parsePort(const toml::node& n, Rule& r) {
  auto bad = [&](const std::string& got) {
    fail(n.source(), "expected port = a number 1-65535 or a range \"A-B\" (1 <= A <= B <= 65535), got " + got);
  };
  if (n.is_integer()) {
    const int64_t v = n.as_integer()->get();
    if (v < 1 || v > 65535) bad(std::to_string(v));
    r.port = {static_cast<uint16_t>(v), static_cast<uint16_t>(v)};
    return;
  }
  if (!n.is_string()) bad(typeName(n));
  const std::string& s = n.as_string()->get();
  auto number = [](std::string_view t, long& out) {
    if (t.empty() || t.size() > 5) return false;
    out = 0;
    for (char c : t) {
      if (c < '0' || c > '9') return false;
      out = out * 10 + (c - '0');
    }
    return true;
  };
  const auto dash = s.find('-');
  long lo = 0, hi = 0;
  const bool ok = dash == std::string::npos ? number(s, lo) && (hi = lo, true)
                                           : number(std::string_view(s).substr(0, dash), lo) &&
                                                 number(std::string_view(s).substr(dash + 1), hi);
  if (!ok || lo < 1 || hi > 65535 || lo > hi) bad(quoted(s));
  r.port = {static_cast<uint16_t>(lo), static_cast<uint16_t>(hi)};
}

void parseRule(const toml::table& t, Rule& r) {
  const toml::node* action = nullptr;
  const toml::key* actionNode = nullptr;
  std::string actionKey;
  for (auto&& [key, node] : t) {
    const std::string_view k = key.str();
    const bool isAction = k == "permit" || k == "block" || k == "redirect" || k == "proxy";
    if (isAction) {
      if (action != nullptr) {
        // Name the one that comes later in the file (tables iterate in key order).
        const auto& a = actionNode->source().begin;
        const auto& b = key.source().begin;
        const bool thisLater = b.line > a.line || (b.line == a.line && b.column > a.column);
        fail(thisLater ? key.source() : actionNode->source(),
             "expected exactly one action per rule, but this rule has both " +
                 (thisLater ? actionKey + " and " + std::string(k) : std::string(k) + " and " + actionKey));
      }
      action = &node;
      actionNode = &key;
      actionKey = std::string(k);
      continue;
    }
    std::string why;
    if (k == "app") {
      const std::string& s = needString(node, "app", "\"GLOB\" (an executable path, '*' and '?' allowed)");
      if (s.empty() || s.size() >= 256 || s.find('\0') != std::string::npos)
        fail(node.source(), "expected app = a non-empty glob of at most 255 bytes");
      r.app = s;
    } else if (k == "uid") {
      if (!node.is_integer()) fail(node.source(), "expected uid = a number 0-4294967294, got " + typeName(node));
      const int64_t v = node.as_integer()->get();
      if (v < 0 || v >= 4294967295LL) fail(node.source(), "expected uid = a number 0-4294967294, got " + std::to_string(v));
      r.uid = static_cast<uint32_t>(v);
    } else if (k == "remote") {
      const std::string& s = needString(node, "remote", "\"ADDRESS\" or \"ADDRESS/PREFIX\"");
      auto p = parsePrefix(s, &why);
      if (!p) fail(node.source(), why + ", got " + quoted(s));
      r.remote = *p;
    } else if (k == "port") {
      parsePort(node, r);
    } else if (k == "protocol") {
      const std::string& s = needString(node, "protocol", "\"tcp\" or \"udp\"");
      if (s == "tcp") {
        r.protocol = 6;
      } else if (s == "udp") {
        r.protocol = 17;
      } else {
        fail(node.source(), "expected protocol = \"tcp\" or \"udp\", got " + quoted(s));
      }
    } else {
      fail(key.source(), "expected a rule key (app, uid, remote, port, protocol; one of permit, block, redirect, "
                         "proxy), got unknown key " + quoted(k));
    }
  }
  if (action == nullptr)
    fail(t.source(), "expected one action in this rule: permit = true, block = \"ERRNO\" or true, redirect = "
                     "\"HOST:PORT\" or proxy = \"URL\"");
  const toml::node& n = *action;
  std::string why;
  if (actionKey == "permit") {
    if (!n.is_boolean() || !n.as_boolean()->get()) fail(n.source(), "expected permit = true");
    r.action = ActionKind::Permit;
  } else if (actionKey == "block") {
    r.action = ActionKind::Block;
    if (n.is_boolean() && n.as_boolean()->get()) {
      r.blockErrno = 0;  // the session's block errno
    } else if (n.is_string()) {
      r.blockErrno = errnoFromName(n.as_string()->get());
      if (r.blockErrno < 0)
        fail(n.source(), "expected block = an errno name such as \"ECONNREFUSED\" or \"EACCES\" (or true), got " +
                             quoted(n.as_string()->get()));
    } else {
      fail(n.source(), "expected block = true or block = \"ERRNO\", got " + typeName(n));
    }
  } else if (actionKey == "redirect") {
    const std::string& s = needString(n, "redirect", "\"HOST:PORT\"");
    auto hp = parseHostPort(s, &why);
    if (!hp) fail(n.source(), why + ", got " + quoted(s));
    r.action = ActionKind::Redirect;
    r.redirect = *hp;
  } else {
    const std::string& s = needString(n, "proxy", "\"direct\", \"socks5://[USER:PASS@]HOST:PORT\" or \"http://HOST:PORT\"");
    auto up = parseUpstream(s, &why);
    if (!up) fail(n.source(), why + ", got " + quoted(s));
    r.action = ActionKind::Proxy;
    r.upstream = *up;
  }
}

std::string located(const std::string& source, uint32_t line, uint32_t column, const std::string& what) {
  return source + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + what;
}

}  // namespace

ParseResult parseText(std::string_view text, const std::string& source) {
  ParseResult result;
  toml::table root;
  try {
    root = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    std::string what(e.description());
    for (char& c : what)
      if (c == '\n' || c == '\r') c = ' ';
    result.error = located(source, e.source().begin.line, e.source().begin.column, "expected valid TOML: " + what);
    return result;
  }
  Policy policy;
  policy.source = source;
  try {
    for (auto&& [key, node] : root) {
      if (key.str() != "rule")
        fail(key.source(), "expected only [[rule]] tables at the top level, got " + quoted(key.str()));
      if (!node.is_array_of_tables()) fail(key.source(), "expected [[rule]] tables (an array of tables), got " + typeName(node));
      for (auto&& element : *node.as_array()) {
        const toml::table& t = *element.as_table();
        Rule r;
        r.line = t.source().begin.line;
        r.column = t.source().begin.column;
        parseRule(t, r);
        policy.rules.push_back(std::move(r));
      }
    }
    if (policy.rules.size() > 1024)
      throw Fail(Located{policy.rules[1024].line, policy.rules[1024].column, "expected at most 1024 rules"});
  } catch (const Fail& f) {
    result.error = located(source, f.where().line, f.where().column, f.where().what);
    return result;
  }
  result.policy = std::move(policy);
  return result;
}

ParseResult parseFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ParseResult r;
    r.error = path + ": cannot read: " + std::strerror(errno);
    return r;
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (text.str().size() > (4u << 20)) {
    ParseResult r;
    r.error = path + ": cannot read: larger than 4 MiB";
    return r;
  }
  return parseText(text.str(), path);
}

}  // namespace openwfp::policy

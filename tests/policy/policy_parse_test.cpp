// The rules file (SPEC S17.1, S17.3, docs/policy.md): valid rule sets in file order, and one
// line "FILE:LINE:COLUMN: expected ..." for each kind of invalid input.
#include <gtest/gtest.h>

#include <cerrno>
#include <string>

#include "openwfp/policy_channel.h"
#include "policy/policy.h"

using namespace openwfp::policy;

namespace {

std::string errorOf(const std::string& text) {
  auto r = parseText(text, "rules.toml");
  EXPECT_FALSE(r) << "accepted:\n" << text;
  EXPECT_EQ(r.error.find('\n'), std::string::npos) << "one line: " << r.error;
  return r.error;
}

::testing::AssertionResult startsWith(const std::string& s, const std::string& prefix) {
  if (s.rfind(prefix, 0) == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "'" << s << "' does not start with '" << prefix << "'";
}

}  // namespace

TEST(PolicyParse, S17_1_RulesKeepFileOrderWithTheirKeysAndActions) {
  auto r = parseText(R"([[rule]]
app = "/usr/bin/*"
remote = "203.0.113.0/24"
port = "80-443"
proxy = "socks5://127.0.0.1:9050"

[[rule]]
uid = 1000
remote = "2001:db8::/32"
protocol = "udp"
block = "ehostunreach"

[[rule]]
port = 53
permit = true

[[rule]]
redirect = "127.0.0.1:3128"

[[rule]]
proxy = "http://alice:p%40ss@[::1]:8080/"

[[rule]]
block = true
)",
                     "rules.toml");
  ASSERT_TRUE(r) << r.error;
  const auto& rules = r.policy->rules;
  ASSERT_EQ(rules.size(), 6u);
  EXPECT_EQ(rules[0].line, 1u);
  EXPECT_EQ(*rules[0].app, "/usr/bin/*");
  EXPECT_EQ(rules[0].remote->str(), "203.0.113.0/24");
  EXPECT_EQ(rules[0].port->first, 80);
  EXPECT_EQ(rules[0].port->second, 443);
  EXPECT_EQ(rules[0].action, ActionKind::Proxy);
  EXPECT_EQ(rules[0].upstream.kind, UpstreamKind::Socks5);
  EXPECT_EQ(rules[0].upstream.server.str(), "127.0.0.1:9050");
  EXPECT_EQ(rules[1].line, 7u);
  EXPECT_EQ(*rules[1].uid, 1000u);
  EXPECT_EQ(rules[1].remote->family, 6);
  EXPECT_EQ(rules[1].remote->length, 32);
  EXPECT_EQ(*rules[1].protocol, 17);
  EXPECT_EQ(rules[1].action, ActionKind::Block);
  EXPECT_EQ(rules[1].blockErrno, EHOSTUNREACH) << "errno names in any case";
  EXPECT_EQ(rules[2].port->first, 53);
  EXPECT_EQ(rules[2].port->second, 53);
  EXPECT_EQ(rules[2].action, ActionKind::Permit);
  EXPECT_EQ(rules[3].action, ActionKind::Redirect);
  EXPECT_EQ(rules[3].redirect.str(), "127.0.0.1:3128");
  EXPECT_EQ(rules[4].upstream.kind, UpstreamKind::Http);
  EXPECT_EQ(rules[4].upstream.user, "alice");
  EXPECT_EQ(rules[4].upstream.password, "p@ss") << "percent-decoded";
  EXPECT_EQ(rules[4].upstream.server.str(), "[::1]:8080");
  EXPECT_EQ(rules[5].blockErrno, 0) << "block = true: the session's errno";
  EXPECT_TRUE(r.policy->hasProxyRules());
  std::string why;
  EXPECT_EQ(encode(*r.policy, &why).size(), sizeof(POLICY_RULES) + 6 * sizeof(POLICY_RULE)) << why;
}

TEST(PolicyParse, S17_1_AnEmptyFileIsAnEmptyRuleSet) {
  auto r = parseText("# nothing yet\n", "empty.toml");
  ASSERT_TRUE(r) << r.error;
  EXPECT_TRUE(r.policy->rules.empty());
  EXPECT_FALSE(r.policy->hasProxyRules());
}

TEST(PolicyParse, S17_3_BadTomlNamesLineAndColumn) {
  EXPECT_TRUE(startsWith(errorOf("[[rule]]\nport = 80\npermit = tru\n"), "rules.toml:3:13: expected valid TOML: Error while parsing boolean"));
  EXPECT_TRUE(startsWith(errorOf("[[rule]\n"), "rules.toml:1:8: expected valid TOML: Error while parsing table header"));
}

TEST(PolicyParse, S17_3_UnknownKeyNamesItsPosition) {
  EXPECT_EQ(errorOf("[[rule]]\n  adress = \"10.0.0.1\"\npermit = true\n"),
            "rules.toml:2:3: expected a rule key (app, uid, remote, port, protocol; one of permit, block, redirect, "
            "proxy), got unknown key \"adress\"");
  EXPECT_TRUE(startsWith(errorOf("[options]\nx = 1\n"), "rules.toml:1:2: expected only [[rule]] tables"));
}

TEST(PolicyParse, S17_3_TwoActionsNameTheSecond) {
  EXPECT_EQ(errorOf("[[rule]]\nproxy = \"direct\"\nport = 1\nblock = true\n"),
            "rules.toml:4:1: expected exactly one action per rule, but this rule has both proxy and block");
  EXPECT_EQ(errorOf("[[rule]]\nport = 1\n"),
            "rules.toml:1:1: expected one action in this rule: permit = true, block = \"ERRNO\" or true, redirect = "
            "\"HOST:PORT\" or proxy = \"URL\"");
}

TEST(PolicyParse, S17_3_BadPrefixNamesTheValue) {
  EXPECT_TRUE(startsWith(errorOf("[[rule]]\nremote = \"10.0.0.0/33\"\npermit = true\n"),
                         "rules.toml:2:10: expected a prefix length 0-32 after '/'"));
  EXPECT_TRUE(startsWith(errorOf("[[rule]]\nremote = \"10.0.0.1/8\"\npermit = true\n"),
                         "rules.toml:2:10: expected the network address of the prefix (10.0.0.0/8)"));
  EXPECT_TRUE(startsWith(errorOf("[[rule]]\nremote = \"example.org\"\npermit = true\n"),
                         "rules.toml:2:10: expected remote = an IPv4 or IPv6 address"));
  EXPECT_TRUE(startsWith(errorOf("[[rule]]\nremote = \"2001:db8::/129\"\npermit = true\n"),
                         "rules.toml:2:10: expected a prefix length 0-128"));
}

TEST(PolicyParse, S17_3_PortOutOfRangeNamesTheValue) {
  const std::string expected = "expected port = a number 1-65535 or a range \"A-B\" (1 <= A <= B <= 65535), got ";
  EXPECT_EQ(errorOf("[[rule]]\nport = 70000\npermit = true\n"), "rules.toml:2:8: " + expected + "70000");
  EXPECT_EQ(errorOf("[[rule]]\nport = 0\npermit = true\n"), "rules.toml:2:8: " + expected + "0");
  EXPECT_EQ(errorOf("[[rule]]\nport = \"443-80\"\npermit = true\n"), "rules.toml:2:8: " + expected + "\"443-80\"");
  EXPECT_EQ(errorOf("[[rule]]\nport = \"1-65536\"\npermit = true\n"), "rules.toml:2:8: " + expected + "\"1-65536\"");
}

TEST(PolicyParse, S17_3_UnknownSchemeAndBadUpstreams) {
  EXPECT_TRUE(startsWith(errorOf("[[rule]]\nproxy = \"socks4://127.0.0.1:1080\"\n"),
                         "rules.toml:2:9: expected proxy = \"direct\", \"socks5://[USER:PASS@]HOST:PORT\" or "
                         "\"http://[USER:PASS@]HOST:PORT\" (unknown scheme)"));
  EXPECT_TRUE(startsWith(errorOf("[[rule]]\nproxy = \"socks5://proxy.example:1080\"\n"),
                         "rules.toml:2:9: expected \"HOST:PORT\" with a numeric IPv4 address"));
  EXPECT_TRUE(startsWith(errorOf("[[rule]]\nproxy = \"http://127.0.0.1:0\"\n"),
                         "rules.toml:2:9: expected a port 1-65535 after the host"));
  EXPECT_TRUE(startsWith(errorOf("[[rule]]\nproxy = \"socks5://:pw@127.0.0.1:1\"\n"),
                         "rules.toml:2:9: expected USER:PASS@ before the host"));
  EXPECT_TRUE(startsWith(errorOf("[[rule]]\nredirect = \"127.0.0.1\"\n"), "rules.toml:2:12: expected \"HOST:PORT\""));
}

TEST(PolicyParse, S17_3_UnknownErrnoAndWrongTypes) {
  EXPECT_TRUE(startsWith(errorOf("[[rule]]\nblock = \"ENOTANERRNO\"\n"),
                         "rules.toml:2:9: expected block = an errno name"));
  EXPECT_TRUE(startsWith(errorOf("[[rule]]\npermit = false\n"), "rules.toml:2:10: expected permit = true"));
  EXPECT_TRUE(startsWith(errorOf("[[rule]]\nuid = \"root\"\npermit = true\n"), "rules.toml:2:7: expected uid = a number"));
  EXPECT_TRUE(startsWith(errorOf("[[rule]]\nprotocol = \"icmp\"\npermit = true\n"),
                         "rules.toml:2:12: expected protocol = \"tcp\" or \"udp\""));
  EXPECT_TRUE(startsWith(errorOf("[[rule]]\napp = \"\"\npermit = true\n"), "rules.toml:2:7: expected app = a non-empty glob"));
  EXPECT_TRUE(startsWith(errorOf("rule = 1\n"), "rules.toml:1:1: expected [[rule]] tables"));
}

TEST(PolicyParse, S17_3_UnreadableFileIsOneLine) {
  auto r = parseFile("/nonexistent/rules.toml");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error, "/nonexistent/rules.toml: cannot read: No such file or directory");
}

// The built-in policy driver (drivers/policy.so) in the simulated stack (SPEC S17.1, S17.2):
// rules loaded with host::loadPolicy become filters whose weights follow rule order; the first
// rule that matches decides (permit, block with its errno, app glob falling through to the next
// rule); proxy rules fail closed without a registered proxy and, with one, complete with the
// upstream's errno (verify-before-accept); a reload replaces the rules.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <future>
#include <vector>

#include "host/policy_session.h"
#include "openwfp/device.h"
#include "openwfp/openwfp.h"
#include "openwfp/policy_channel.h"
#include "openwfp/sim.h"
#include "policy/policy.h"
#include "redirect/history.h"

using namespace openwfp;

namespace {

constexpr uint64_t kProxyPid = 777;

policy::Policy rulesOf(const std::string& text) {
  auto r = policy::parseText(text, "test.toml");
  EXPECT_TRUE(r) << r.error;
  return r ? *r.policy : policy::Policy{};
}

class PolicyDriver : public ::testing::Test {
 protected:
  void SetUp() override {
    unsetenv("OPENWFP_SOCKET");
    Runtime::reset();
  }
  void TearDown() override {
    auto leaks = drivers.unloadAll();
    for (const auto& l : leaks) ADD_FAILURE() << "leak at unload: " << l.what;
  }
  std::string load(const std::string& text) {
    return host::loadPolicy(drivers, rulesOf(text), std::string(OPENWFP_BINARY_DIR) + "/drivers/policy.so");
  }
  host::DriverHost drivers;
};

int connectError(sim::Process& p, const char* to, Protocol proto = Protocol::Tcp) {
  auto ep = *Endpoint::parse(to);
  int s = p.socket(ep.version, proto);
  return p.connect(s, ep).error;
}

}  // namespace

TEST_F(PolicyDriver, S17_1_FirstMatchingRuleDecidesWithItsErrno) {
  ASSERT_EQ(load(R"([[rule]]
remote = "192.0.2.0/24"
port = 22
permit = true

[[rule]]
remote = "192.0.2.0/24"
block = "EHOSTUNREACH"

[[rule]]
port = "8000-8999"
protocol = "tcp"
block = true
)"),
            "");
  sim::Stack stack;
  auto& app = stack.process(4242, "/usr/bin/curl", 1000);
  auto& host = stack.remoteHost("192.0.2.7");
  int l = host.socket(IpVersion::V4, Protocol::Tcp);
  ASSERT_EQ(host.bind(l, *Endpoint::parse("192.0.2.7:22")), 0);
  ASSERT_EQ(host.listen(l), 0);
  auto& other = stack.remoteHost("198.51.100.1");
  int l2 = other.socket(IpVersion::V4, Protocol::Tcp);
  ASSERT_EQ(other.bind(l2, *Endpoint::parse("198.51.100.1:9000")), 0);
  ASSERT_EQ(other.listen(l2), 0);
  EXPECT_EQ(connectError(app, "192.0.2.7:22"), 0) << "rule 1 (heavier) permits before rule 2 blocks";
  EXPECT_EQ(connectError(app, "192.0.2.7:80"), EHOSTUNREACH) << "rule 2's errno";
  EXPECT_EQ(connectError(app, "198.51.100.1:8080"), ECONNREFUSED) << "block = true: the session's errno";
  EXPECT_EQ(connectError(app, "[::ffff:192.0.2.7]:80"), EHOSTUNREACH) << "a v4 rule also matches v4-mapped";
  EXPECT_EQ(connectError(app, "198.51.100.1:9000"), 0) << "no rule matches: the connection passes";
}

TEST_F(PolicyDriver, S17_1_AppGlobThatDoesNotMatchFallsThroughToTheNextRule) {
  ASSERT_EQ(load(R"([[rule]]
app = "*/cu?l"
remote = "192.0.2.9"
block = "EACCES"

[[rule]]
remote = "192.0.2.9"
block = "ENETUNREACH"
)"),
            "");
  sim::Stack stack;
  auto& curl = stack.process(1, "/usr/bin/curl", 1000);
  auto& wget = stack.process(2, "/usr/bin/wget", 1000);
  EXPECT_EQ(connectError(curl, "192.0.2.9:80"), EACCES);
  EXPECT_EQ(connectError(wget, "192.0.2.9:80"), ENETUNREACH);
  auto lines = host::describePolicyFilters(rulesOf(R"([[rule]]
app = "*/cu?l"
remote = "192.0.2.9"
block = "EACCES"

[[rule]]
remote = "192.0.2.9"
block = "ENETUNREACH"
)"));
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_NE(lines[0].find("rule 1 (line 1): ALE_CONNECT_REDIRECT_V4 weight 1024"), std::string::npos) << lines[0];
  EXPECT_NE(lines[2].find("rule 2 (line 6): ALE_CONNECT_REDIRECT_V4 weight 1023"), std::string::npos) << lines[2];
}

TEST_F(PolicyDriver, S17_1_ReloadReplacesTheRules) {
  ASSERT_EQ(load("[[rule]]\nremote = \"192.0.2.1\"\nblock = \"EPERM\"\n"), "");
  sim::Stack stack;
  auto& app = stack.process(1, "/usr/bin/app", 1000);
  EXPECT_EQ(connectError(app, "192.0.2.1:80"), EPERM);
  ASSERT_EQ(load("[[rule]]\nremote = \"192.0.2.1\"\nblock = \"EACCES\"\n"), "");
  EXPECT_EQ(connectError(app, "192.0.2.1:80"), EACCES);
  ASSERT_EQ(host::unloadPolicy(drivers), "");
  EXPECT_NE(connectError(app, "192.0.2.1:80"), EACCES);
}

TEST_F(PolicyDriver, S17_2_ProxyRuleFailsClosedWithoutAProxy) {
  ASSERT_EQ(load("[[rule]]\nport = 80\nproxy = \"socks5://127.0.0.1:1080\"\n"), "");
  sim::Stack stack;
  auto& app = stack.process(1, "/usr/bin/app", 1000);
  EXPECT_EQ(connectError(app, "192.0.2.1:80"), ECONNREFUSED);
  EXPECT_EQ(connectError(app, "192.0.2.1:80", Protocol::Udp), ENETUNREACH) << "UDP is not relayed upstream";
}

TEST_F(PolicyDriver, S17_2_UpstreamRefusalIsTheApplicationsConnectErrno) {
  ASSERT_EQ(load("[[rule]]\nport = 80\nproxy = \"socks5://127.0.0.1:1080\"\n"), "");
  sim::Stack stack;
  auto& app = stack.process(4242, "/usr/bin/app", 1000);
  int h = device::open(POLICY_USER_PATH, kProxyPid);
  ASSERT_GE(h, 0);
  VP_REGISTER reg{8080, 0, 0, 0};
  ASSERT_EQ(device::ioctl(h, IOCTL_VP_REGISTER, &reg, sizeof reg, nullptr, 0, nullptr, kProxyPid), 0);
  auto next = std::async(std::launch::async, [h] {
    POLICY_PROXY_REQUEST req{};
    size_t returned = 0;
    int rc = device::ioctl(h, IOCTL_VP_NEXT, nullptr, 0, &req, sizeof req, &returned, kProxyPid);
    return std::make_pair(rc == 0 && returned == sizeof req ? 0 : -1, req);
  });
  int s = app.socket(IpVersion::V4, Protocol::Tcp);
  sim::PendingConnect pending = app.connectAsync(s, *Endpoint::parse("192.0.2.1:80"));
  ASSERT_EQ(next.wait_for(std::chrono::seconds(5)), std::future_status::ready) << "NEXT completed";
  auto [rc, req] = next.get();
  ASSERT_EQ(rc, 0);
  EXPECT_EQ(req.ruleIndex, 0u);
  EXPECT_EQ(req.upstream.kind, POLICY_UPSTREAM_SOCKS5);
  EXPECT_EQ(req.upstream.server.port, 1080);
  EXPECT_EQ(req.request.originalDestination.port, 80);
  EXPECT_FALSE(pending.ready());
  VP_OUTCOME outcome{req.request.id, EHOSTUNREACH};  // e.g. SOCKS5 reply 4
  ASSERT_EQ(device::ioctl(h, IOCTL_VP_OUTCOME, &outcome, sizeof outcome, nullptr, 0, nullptr, kProxyPid), 0);
  auto result = pending.waitFor(std::chrono::seconds(5));
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->error, EHOSTUNREACH);
  device::close(h, kProxyPid);
}

// redirect = "HOST:PORT" to a loopback transparent proxy (issue 14): until a process claims the
// target with IOCTL_POLICY_CLAIM the rule blocks (fail closed); once claimed, the connect lands on
// the claimant's listener, the claimant is the redirect target PID, and the accepted socket's
// redirect context names the rule and the original destination; when the claiming handle closes,
// the rule blocks again. A second claimant of the same endpoint is refused.
TEST_F(PolicyDriver, S17_1_RedirectRuleGoesToTheClaimedLoopbackProxyAndBlocksUnclaimed) {
  ASSERT_EQ(load("[[rule]]\nremote = \"192.0.2.0/24\"\nport = 80\nredirect = \"127.0.0.1:9300\"\n"), "");
  sim::Stack stack;
  auto& app = stack.process(4242, "/usr/bin/curl", 1000);
  auto& proxy = stack.process(kProxyPid, "/usr/bin/tproxy", 1000);
  int l = proxy.socket(IpVersion::V4, Protocol::Tcp);
  ASSERT_EQ(proxy.bind(l, *Endpoint::parse("127.0.0.1:9300")), 0);
  ASSERT_EQ(proxy.listen(l), 0);

  EXPECT_EQ(connectError(app, "192.0.2.5:80"), ECONNREFUSED) << "unclaimed loopback target: blocked";
  EXPECT_EQ(proxy.accept(l).error, EAGAIN) << "nothing reached the proxy while unclaimed";

  int h = device::open(POLICY_USER_PATH, kProxyPid);
  ASSERT_GE(h, 0);
  VP_ENDPOINT ep{};
  ep.family = 4;
  ep.port = 9300;
  ep.addr[0] = 127;
  ep.addr[3] = 1;
  ASSERT_EQ(device::ioctl(h, IOCTL_POLICY_CLAIM, &ep, sizeof ep, nullptr, 0, nullptr, kProxyPid), 0);
  int h2 = device::open(POLICY_USER_PATH, 999);
  ASSERT_GE(h2, 0);
  EXPECT_NE(device::ioctl(h2, IOCTL_POLICY_CLAIM, &ep, sizeof ep, nullptr, 0, nullptr, 999), 0)
      << "one claimant per endpoint";
  device::close(h2, 999);

  int s = app.socket(IpVersion::V4, Protocol::Tcp);
  auto r = app.connect(s, *Endpoint::parse("192.0.2.5:80"));
  ASSERT_EQ(r.error, 0) << r.reason;
  EXPECT_TRUE(r.redirected);
  EXPECT_EQ(r.remote, *Endpoint::parse("127.0.0.1:9300"));
  auto accepted = proxy.accept(l, std::chrono::seconds(5));
  ASSERT_EQ(accepted.error, 0);
  auto info = proxy.connection(accepted.fd);
  ASSERT_TRUE(info.has_value());
  EXPECT_TRUE(info->redirected);
  EXPECT_EQ(info->redirectTargetPid, kProxyPid) << "the claimant is the redirect target PID";
  ASSERT_NE(info->history, nullptr);
  std::vector<uint8_t> ctx;
  ASSERT_TRUE(info->history->newestContext(ctx)) << "the redirect context (SIO_QUERY_..._CONTEXT)";
  ASSERT_EQ(ctx.size(), sizeof(VP_CONTEXT));
  VP_CONTEXT c;
  std::memcpy(&c, ctx.data(), sizeof c);
  EXPECT_EQ(c.id, 1u) << "rule 1";
  EXPECT_EQ(c.originalDestination.family, 4);
  EXPECT_EQ(c.originalDestination.port, 80);
  EXPECT_EQ(c.originalDestination.addr[0], 192);
  EXPECT_EQ(c.originalDestination.addr[3], 5);
  auto& remote = stack.remoteHost("192.0.2.5");
  int rl = remote.socket(IpVersion::V4, Protocol::Tcp);
  ASSERT_EQ(remote.bind(rl, *Endpoint::parse("192.0.2.5:443")), 0);
  ASSERT_EQ(remote.listen(rl), 0);
  EXPECT_EQ(connectError(app, "192.0.2.5:443"), 0) << "port 443: no rule matches, the connection passes";

  device::close(h, kProxyPid);
  EXPECT_EQ(connectError(app, "192.0.2.5:80"), ECONNREFUSED) << "the claim ended with its handle: blocked";
  EXPECT_EQ(proxy.accept(l).error, EAGAIN);
}

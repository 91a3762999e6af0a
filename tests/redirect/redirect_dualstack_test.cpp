// Redirect identity is the redirect handle (S7.3): a dual-stack redirector that uses one handle
// for its V4 and V6 filters recognises its proxy's own connections; one that uses a handle per
// filter sees them as redirected by someone else and would redirect them again (a loop).
#include <gtest/gtest.h>

#include "redirect/handles.h"
#include "redirect/records.h"

namespace openwfp::redirect {
namespace {

const std::array<uint8_t, 16> kProvider{0x42};

Endpoint v6Loopback(uint16_t port) {
  std::array<uint8_t, 16> a{};
  a[15] = 1;
  return Endpoint::v6(a, port);
}

// The client's v4 connection to 127.0.0.1:80 is redirected by the callout of the V4 filter
// (using v4Handle) to the proxy; the proxy takes the records from its accepted socket and sets
// them on its outbound socket, which connects over v6 (a dual-stack proxy). The V6 filter's
// callout, using v6Handle, then asks for the redirect state of that outbound connection.
RedirectState stateSeenByV6Callout(uint64_t v4Handle, uint64_t v6Handle) {
  RecordsSealer sealer;
  auto client = History::create();
  sealer.track(client);
  Entry e;
  e.redirectHandle = v4Handle;
  e.targetPid = 1000;
  e.originalDestination = Endpoint::v4(0x7f000001, 80);
  e.redirectedTo = Endpoint::v4(0x7f000001, 3128);
  client->add(e, {});

  const std::vector<uint8_t> records = sealer.seal(*client);  // SIO_QUERY on the accepted socket
  auto proxied = sealer.open(records);                        // SIO_SET on the outbound socket
  EXPECT_EQ(proxied, client);
  auto outbound = History::create(proxied);  // the proxy's connect to [::1]:80
  return queryState(outbound.get(), v6Handle).state;
}

TEST(RedirectDualStack, S7_3_OneHandleForV4AndV6SeesOwnProxyConnectionAsBySelf) {
  HandleRegistry reg;
  const uint64_t shared = reg.create(kProvider, "proxy_driver");
  EXPECT_EQ(stateSeenByV6Callout(shared, shared), RedirectState::BySelf);
}

TEST(RedirectDualStack, S7_3_SeparateV4AndV6HandlesSeeOwnProxyConnectionAsByOther) {
  HandleRegistry reg;
  const uint64_t v4 = reg.create(kProvider, "proxy_driver");
  const uint64_t v6 = reg.create(kProvider, "proxy_driver");  // same provider, different handle
  ASSERT_NE(v4, v6);
  EXPECT_EQ(stateSeenByV6Callout(v4, v6), RedirectState::ByOther);
}

TEST(RedirectDualStack, S7_3_ProxyConnectionRedirectedAgainIsPreviouslyBySelf) {
  // A second redirector (another handle) redirects the proxy's outbound connection too; the
  // first redirector then sees it as previously redirected by itself.
  const uint64_t first = 0x100;
  const uint64_t second = 0x200;
  int ctx = 7;
  auto client = History::create();
  Entry e;
  e.redirectHandle = first;
  e.context = &ctx;
  e.originalDestination = Endpoint::v4(0x7f000001, 80);
  e.redirectedTo = v6Loopback(3128);
  client->add(e, {});
  auto outbound = History::create(client);
  Entry again = e;
  again.redirectHandle = second;
  again.context = nullptr;
  outbound->add(again, {});
  const StateResult r = queryState(outbound.get(), first);
  EXPECT_EQ(r.state, RedirectState::PreviouslyBySelf);
  EXPECT_EQ(r.context, &ctx);
  EXPECT_EQ(queryState(outbound.get(), second).state, RedirectState::BySelf);
}

}  // namespace
}  // namespace openwfp::redirect

// The proxy's relay (S10.2: once the classify completes PERMIT the proxy relays both ways).
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "proxy/relay.h"
#include "support/loopback.h"

using namespace openwfp;
using namespace openwfp::testing;

namespace {
// A connected TCP pair over loopback: returns {a, b}.
std::pair<int, int> tcpPair() {
  uint16_t port = 0;
  int l = listenLoopback(&port);
  int a = connectLoopback(port);
  int b = accept4(l, nullptr, nullptr, SOCK_CLOEXEC);
  close(l);
  return {a, b};
}

struct Waiter {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<proxy::RelayStats> done;
  proxy::Relay::Finished cb() {
    return [this](const proxy::RelayStats& s) {
      std::lock_guard lk(mu);
      done.push_back(s);
      cv.notify_all();
    };
  }
  bool waitFor(size_t n) {
    std::unique_lock lk(mu);
    return cv.wait_for(lk, std::chrono::seconds(20), [&] { return done.size() >= n; });
  }
};
}  // namespace

TEST(S10_2, RelayMovesBytesBothWaysAndForwardsHalfClose) {
  auto [client, proxyIn] = tcpPair();      // client <-> proxy's accepted socket
  auto [proxyOut, upstream] = tcpPair();   // proxy's outbound socket <-> upstream server
  Waiter w;
  proxy::Relay relay;
  ASSERT_TRUE(relay.add(proxyIn, proxyOut, w.cb()));

  std::string request(300000, 'q');
  std::thread clientSide([&, c = client] {
    EXPECT_TRUE(writeAll(c, request.data(), request.size()));
    shutdown(c, SHUT_WR);  // half-close: the server must still be able to answer
  });
  std::string got = readAll(upstream);  // ends when the relay forwards the half-close
  EXPECT_EQ(got, request);
  std::string reply = "response after the client's half-close";
  ASSERT_TRUE(writeAll(upstream, reply.data(), reply.size()));
  shutdown(upstream, SHUT_WR);
  EXPECT_EQ(readAll(client), reply);
  clientSide.join();
  ASSERT_TRUE(w.waitFor(1));
  EXPECT_EQ(w.done[0].clientToUpstream, request.size());
  EXPECT_EQ(w.done[0].upstreamToClient, reply.size());
  EXPECT_EQ(w.done[0].error, 0);
  EXPECT_EQ(relay.active(), 0u);
  close(client);
  close(upstream);
}

TEST(S10_2, RelayServesManyConcurrentPairs) {
  constexpr int kPairs = 64;
  Waiter w;
  proxy::Relay relay;
  std::vector<int> clients, upstreams;
  for (int i = 0; i < kPairs; ++i) {
    auto [c, in] = tcpPair();
    auto [out, up] = tcpPair();
    ASSERT_GE(c, 0);
    ASSERT_GE(up, 0);
    ASSERT_TRUE(relay.add(in, out, w.cb()));
    clients.push_back(c);
    upstreams.push_back(up);
  }
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < kPairs; ++i) {
    threads.emplace_back([&, i] {
      std::string msg = "pair " + std::to_string(i) + std::string(10000 + i, 'x');
      writeAll(clients[i], msg.data(), msg.size());
      shutdown(clients[i], SHUT_WR);
      std::string at = readAll(upstreams[i]);
      std::string echo = "echo:" + at;
      writeAll(upstreams[i], echo.data(), echo.size());
      shutdown(upstreams[i], SHUT_WR);
      if (readAll(clients[i]) == "echo:" + msg) ++ok;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), kPairs);
  ASSERT_TRUE(w.waitFor(kPairs));
  for (int fd : clients) close(fd);
  for (int fd : upstreams) close(fd);
}

TEST(S10_2, RelayEndsBothSidesWhenUpstreamResets) {
  auto [client, proxyIn] = tcpPair();
  auto [proxyOut, upstream] = tcpPair();
  Waiter w;
  proxy::Relay relay;
  ASSERT_TRUE(relay.add(proxyIn, proxyOut, w.cb()));
  linger lg{1, 0};  // close with RST
  setsockopt(upstream, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  close(upstream);
  ASSERT_TRUE(w.waitFor(1));
  EXPECT_NE(w.done[0].error, 0);
  // The client sees its connection end (EOF or reset), not a hang.
  char c;
  ssize_t n = read(client, &c, 1);
  EXPECT_LE(n, 0);
  close(client);
}

// A pair whose whole exchange is already waiting when it is added (the request written and
// half-closed by the client, the answer written and half-closed by the upstream) can be served
// to its end from the first side's event alone. The relay used to publish the pair after
// registering side 0 only, so the loop could finish and free it while add() still registered
// side 1 (a use after free: epoll_ctl on a stale fd). Every pair must be relayed and counted,
// each exactly once, under ASan too.
TEST(S10_2, RelayPairServedToItsEndBeforeAddReturnsIsSafe) {
  constexpr int kPairs = 300;
  Waiter w;
  proxy::Relay relay;
  std::vector<int> clients, upstreams;
  for (int i = 0; i < kPairs; ++i) {
    auto [c, in] = tcpPair();
    auto [out, up] = tcpPair();
    ASSERT_GE(c, 0);
    ASSERT_GE(up, 0);
    ASSERT_TRUE(writeAll(c, "request", 7));
    shutdown(c, SHUT_WR);
    ASSERT_TRUE(writeAll(up, "answer!", 7));
    shutdown(up, SHUT_WR);
    ASSERT_TRUE(relay.add(in, out, w.cb())) << "pair " << i;
    clients.push_back(c);
    upstreams.push_back(up);
  }
  ASSERT_TRUE(w.waitFor(kPairs)) << "only " << w.done.size() << " of " << kPairs << " pairs finished in 20 s";
  for (const auto& s : w.done) {
    EXPECT_EQ(s.clientToUpstream, 7u);
    EXPECT_EQ(s.upstreamToClient, 7u);
    EXPECT_EQ(s.error, 0);
  }
  EXPECT_EQ(w.done.size(), static_cast<size_t>(kPairs));
  for (int i = 0; i < kPairs; ++i) {
    EXPECT_EQ(readAll(clients[i]), "answer!");
    EXPECT_EQ(readAll(upstreams[i]), "request");
    close(clients[i]);
    close(upstreams[i]);
  }
  EXPECT_EQ(relay.active(), 0u);
}

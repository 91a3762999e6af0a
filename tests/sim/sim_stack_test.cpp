// Tests of the simulated network stack (include/openwfp/sim.h) with a scriptable classifier:
// classification of connect/bind, synchronous and pended completion, TCP/UDP, v4/v6, errors,
// connection close reporting, concurrency.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <set>
#include <thread>

#include "openwfp/sim.h"
#include "support/sim_fake_classifier.h"

using namespace std::chrono_literals;
using openwfp::Action;
using openwfp::BindRequest;
using openwfp::BindVerdict;
using openwfp::ConnectRequest;
using openwfp::ConnectVerdict;
using openwfp::Endpoint;
using openwfp::IpVersion;
using openwfp::Protocol;
using openwfp::Runtime;
using openwfp::testing::ep;
using openwfp::testing::FakeClassifier;
using openwfp::testing::permitVerdict;
using openwfp::testing::redirectVerdict;
namespace sim = openwfp::sim;

namespace {

class SimStack : public ::testing::Test {
 protected:
  void SetUp() override { Runtime::reset(); }

  // A listener of `p` at `at`; returns its fd.
  int listenAt(sim::Process& p, const char* at, Protocol proto = Protocol::Tcp) {
    const Endpoint e = ep(at);
    const int fd = p.socket(e.version, proto);
    EXPECT_EQ(p.bind(fd, e), 0);
    if (proto == Protocol::Tcp) {
      EXPECT_EQ(p.listen(fd), 0);
    }
    return fd;
  }

  FakeClassifier fake;
  sim::Stack stack{fake};
  sim::Process& client = stack.process(4242, "/usr/bin/curl", 1000);
  sim::Process& proxy = stack.process(777, "/usr/sbin/proxy", 0);
};

// ---- classification -----------------------------------------------------------------------

TEST_F(SimStack, S4_4_UnpendedConnectCompletesInsideTheCall) {
  const int l = listenAt(proxy, "127.0.0.1:8080");
  const int s = client.socket(IpVersion::V4, Protocol::Tcp);
  sim::PendingConnect pc = client.connectAsync(s, ep("127.0.0.1:8080"));
  // Nobody pended: the result is there when connectAsync returns, decided on this thread.
  ASSERT_TRUE(pc.ready());
  EXPECT_EQ(pc.poll()->error, 0);
  ASSERT_EQ(fake.connectThreads().size(), 1u);
  EXPECT_EQ(fake.connectThreads()[0], std::this_thread::get_id());
  EXPECT_TRUE(proxy.accept(l).ok());
}

TEST_F(SimStack, S4_1_ConnectRequestCarriesProcessTupleAndSocket) {
  listenAt(proxy, "127.0.0.1:8080");
  const int s = client.socket(IpVersion::V4, Protocol::Tcp);
  ASSERT_TRUE(client.connect(s, ep("127.0.0.1:8080")).ok());
  ASSERT_EQ(fake.connects().size(), 1u);
  const ConnectRequest r = fake.connects()[0];
  EXPECT_EQ(r.process.pid, 4242u);
  EXPECT_EQ(r.process.uid, 1000u);
  EXPECT_EQ(r.process.imagePath, "/usr/bin/curl");
  EXPECT_EQ(r.protocol, Protocol::Tcp);
  EXPECT_EQ(r.remote, ep("127.0.0.1:8080"));
  // Implicit bind before the classify: loopback source, first ephemeral port.
  EXPECT_EQ(r.local, ep("127.0.0.1:49152"));
  EXPECT_EQ(r.socketId, static_cast<uint64_t>(s));
  EXPECT_EQ(r.proxiedRecords, nullptr);
}

TEST_F(SimStack, S4_1_ExternalDestinationUsesTheHostAddressAsSource) {
  // In-memory only: stack.remoteHost() is a host inside the simulated stack (192.0.2.0/24 is the
  // documentation range, 10.0.0.5 the simulated host's own address); no real socket is created
  // and nothing is dialled. An off-loopback destination is the point: source selection differs.
  auto& server = stack.remoteHost("192.0.2.80");
  listenAt(server, "192.0.2.80:80");
  const int s = client.socket(IpVersion::V4, Protocol::Tcp);
  const sim::ConnectResult r = client.connect(s, ep("192.0.2.80:80"));
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.local, ep("10.0.0.5:49152"));
  EXPECT_EQ(r.remote, ep("192.0.2.80:80"));
}

TEST_F(SimStack, S4_1_BindIsClassifiedAndTheVerdictMayMoveTheLocalAddress) {
  fake.onBind = [](const BindRequest& r) {
    BindVerdict v;
    v.finalLocal = ep("127.0.0.2:7000");
    v.redirected = r.local == ep("127.0.0.1:0");
    if (!v.redirected) v.finalLocal = r.local;
    return v;
  };
  const int fd = client.socket(IpVersion::V4, Protocol::Tcp);
  ASSERT_EQ(client.bind(fd, ep("127.0.0.1:0")), 0);
  ASSERT_EQ(fake.binds().size(), 1u);
  EXPECT_EQ(fake.binds()[0].local, ep("127.0.0.1:0"));
  EXPECT_EQ(fake.binds()[0].process.pid, 4242u);
  EXPECT_EQ(fake.binds()[0].socketId, static_cast<uint64_t>(fd));
  Endpoint local;
  ASSERT_EQ(client.getsockname(fd, local), 0);
  EXPECT_EQ(local, ep("127.0.0.2:7000"));
}

TEST_F(SimStack, S4_1_BlockedOrTimedOutBindFails) {
  fake.onBind = [](const BindRequest& r) {
    BindVerdict v;
    v.finalLocal = r.local;
    v.action = Action::Block;
    v.timedOut = r.local.port == 9;
    return v;
  };
  const int a = client.socket(IpVersion::V4, Protocol::Tcp);
  EXPECT_EQ(client.bind(a, ep("127.0.0.1:8000")), EACCES);
  const int b = client.socket(IpVersion::V4, Protocol::Tcp);
  EXPECT_EQ(client.bind(b, ep("127.0.0.1:9")), ETIMEDOUT);
  Endpoint local;
  ASSERT_EQ(client.getsockname(a, local), 0);
  EXPECT_EQ(local.port, 0) << "a refused bind leaves the socket unbound";
}

// ---- redirect, accept, relay --------------------------------------------------------------

TEST_F(SimStack, S5_8_RedirectedConnectArrivesAtTheFinalDestinationWithItsHistory) {
  const int l = listenAt(proxy, "127.0.0.1:8080");
  fake.onConnect = [](const ConnectRequest& r) {
    return redirectVerdict(r, ep("127.0.0.1:8080"), 777, 0x101, "ctx");
  };
  const int s = client.socket(IpVersion::V4, Protocol::Tcp);
  const sim::ConnectResult r = client.connect(s, ep("192.0.2.80:80"));
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_TRUE(r.redirected);
  EXPECT_EQ(r.remote, ep("127.0.0.1:8080"));
  EXPECT_EQ(r.local, ep("10.0.0.5:49152"));

  const sim::AcceptResult a = proxy.accept(l);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a.local, ep("127.0.0.1:8080"));
  EXPECT_EQ(a.peer, ep("10.0.0.5:49152"));
  auto info = proxy.connection(a.fd);
  ASSERT_TRUE(info.has_value());
  ASSERT_NE(info->history, nullptr);
  EXPECT_TRUE(info->redirected);
  EXPECT_EQ(info->redirectTargetPid, 777u);
  ASSERT_EQ(info->history->entries().size(), 1u);
  EXPECT_EQ(info->history->entries()[0].originalDestination, ep("192.0.2.80:80"));
  // Both ends refer to the same connection.
  EXPECT_EQ(client.connection(s)->history, info->history);
}

TEST_F(SimStack, S10_4_TcpConnectionCarriesBytesBothWaysAndEndOfStream) {
  const int l = listenAt(proxy, "127.0.0.1:8080");
  const int s = client.socket(IpVersion::V4, Protocol::Tcp);
  ASSERT_TRUE(client.connect(s, ep("127.0.0.1:8080")).ok());
  const int a = proxy.accept(l).fd;
  ASSERT_GE(a, sim::kFirstFd);

  std::string got;
  EXPECT_EQ(proxy.recv(a, got).error, EAGAIN) << "recv does not block without a timeout";
  EXPECT_EQ(client.send(s, "GET / HTTP/1.0\r\n\r\n").bytes, 18u);
  ASSERT_TRUE(proxy.recv(a, got).ok());
  EXPECT_EQ(got, "GET / HTTP/1.0\r\n\r\n");
  ASSERT_TRUE(proxy.send(a, "HTTP/1.0 200 OK").ok());
  uint8_t buf[4];
  sim::IoResult part = client.recv(s, std::span<uint8_t>(buf));
  ASSERT_EQ(part.bytes, 4u);
  EXPECT_EQ(std::string(buf, buf + 4), "HTTP");
  ASSERT_TRUE(client.recv(s, got).ok());
  EXPECT_EQ(got, "/1.0 200 OK");

  ASSERT_EQ(proxy.close(a), 0);
  const sim::IoResult eof = client.recv(s, got);
  EXPECT_EQ(eof.error, 0);
  EXPECT_EQ(eof.bytes, 0u) << "end of stream after the peer closed";
  EXPECT_EQ(client.send(s, "x").error, EPIPE);
}

TEST_F(SimStack, S10_4_RecvAndAcceptWithTimeoutWaitForTheOtherThread) {
  const int l = listenAt(proxy, "127.0.0.1:8080");
  std::thread connector([&] {
    std::this_thread::sleep_for(20ms);
    const int s = client.socket(IpVersion::V4, Protocol::Tcp);
    ASSERT_TRUE(client.connect(s, ep("127.0.0.1:8080")).ok());
    std::this_thread::sleep_for(20ms);
    client.send(s, "late");
  });
  const sim::AcceptResult a = proxy.accept(l, 10s);
  ASSERT_TRUE(a.ok());
  std::string got;
  ASSERT_TRUE(proxy.recv(a.fd, got, 10s).ok());
  EXPECT_EQ(got, "late");
  connector.join();
  EXPECT_EQ(proxy.accept(l, 10ms).error, EAGAIN);
}

TEST_F(SimStack, S10_4_Ipv6ConnectListenAccept) {
  const int l = listenAt(proxy, "[::1]:8443");
  const int s = client.socket(IpVersion::V6, Protocol::Tcp);
  const sim::ConnectResult r = client.connect(s, ep("[::1]:8443"));
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.local, ep("[::1]:49152"));
  const sim::AcceptResult a = proxy.accept(l);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a.peer, ep("[::1]:49152"));
  ASSERT_TRUE(client.send(s, "v6").ok());
  std::string got;
  ASSERT_TRUE(proxy.recv(a.fd, got).ok());
  EXPECT_EQ(got, "v6");
  // A v6 destination on a v4 socket, and a v6 verdict for a v4 socket, are refused.
  const int v4 = client.socket(IpVersion::V4, Protocol::Tcp);
  EXPECT_EQ(client.connect(v4, ep("[::1]:8443")).error, EAFNOSUPPORT);
  fake.onConnect = [](const ConnectRequest& req) {
    return redirectVerdict(req, ep("[::1]:8443"), 777, 0x101);
  };
  EXPECT_EQ(client.connect(v4, ep("127.0.0.1:80")).error, EAFNOSUPPORT);
}

TEST_F(SimStack, S10_4_Ipv6ExternalDestinationUsesTheHostV6Address) {
  auto& server = stack.remoteHost("2001:db8:1::1");
  const int l = listenAt(server, "[2001:db8:1::1]:443");
  const int s = client.socket(IpVersion::V6, Protocol::Tcp);
  const sim::ConnectResult r = client.connect(s, ep("[2001:db8:1::1]:443"));
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.local, ep("[2001:db8::5]:49152"));
  EXPECT_EQ(server.accept(l).peer, ep("[2001:db8::5]:49152"));
}

TEST_F(SimStack, S10_4_OwnHostAddressAndWildcardListener) {
  const int l = listenAt(proxy, "0.0.0.0:9000");
  const int s = client.socket(IpVersion::V4, Protocol::Tcp);
  const sim::ConnectResult r = client.connect(s, ep("10.0.0.5:9000"));
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.local, ep("10.0.0.5:49152"));
  const sim::AcceptResult a = proxy.accept(l);
  EXPECT_EQ(a.local, ep("10.0.0.5:9000"));
  // Loopback reaches the same wildcard listener.
  const int s2 = client.socket(IpVersion::V4, Protocol::Tcp);
  EXPECT_TRUE(client.connect(s2, ep("127.0.0.1:9000")).ok());
}

TEST_F(SimStack, S10_4_OwnAddressesAreConfigurable) {
  FakeClassifier other;
  sim::Options options;
  options.ownAddresses = {"127.0.0.0/8", "192.168.7.9/24"};
  sim::Stack custom(other, options);
  auto& p = custom.process(1, "/bin/p", 0);
  const int l = p.socket(IpVersion::V4, Protocol::Tcp);
  EXPECT_EQ(p.bind(l, ep("10.0.0.5:80")), EADDRNOTAVAIL);
  EXPECT_EQ(p.bind(l, ep("192.168.7.200:80")), 0) << "the whole /24 is the host's";
  ASSERT_EQ(p.listen(l), 0);
  const int s = p.socket(IpVersion::V4, Protocol::Tcp);
  const sim::ConnectResult r = p.connect(s, ep("192.168.7.200:80"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.local.addr, ep("192.168.7.200:0").addr);
  const int v6 = p.socket(IpVersion::V6, Protocol::Tcp);
  EXPECT_EQ(p.connect(v6, ep("[2001:db8:1::1]:80")).error, ENETUNREACH) << "no v6 address";
}

// ---- errors --------------------------------------------------------------------------------

TEST_F(SimStack, S13_3_ConnectWithNoListenerFailsWithEconnrefused) {
  const int s = client.socket(IpVersion::V4, Protocol::Tcp);
  EXPECT_EQ(client.connect(s, ep("127.0.0.1:1")).error, ECONNREFUSED);
  EXPECT_EQ(client.connect(s, ep("203.0.113.1:80")).error, ECONNREFUSED)
      << "nothing exists outside the simulation";
  // A failed connect leaves the socket usable for another attempt.
  listenAt(proxy, "127.0.0.1:8080");
  EXPECT_TRUE(client.connect(s, ep("127.0.0.1:8080")).ok());
}

TEST_F(SimStack, S13_3_BlockedConnectFailsWithEconnrefusedByDefault) {
  listenAt(proxy, "127.0.0.1:8080");
  fake.onConnect = [](const ConnectRequest&) {
    ConnectVerdict v;
    v.action = Action::Block;
    v.reason = "blocked by test";
    return v;
  };
  const int s = client.socket(IpVersion::V4, Protocol::Tcp);
  const sim::ConnectResult r = client.connect(s, ep("127.0.0.1:8080"));
  EXPECT_EQ(r.error, ECONNREFUSED);
  EXPECT_EQ(r.reason, "blocked by test");
  EXPECT_EQ(proxy.accept(proxy.socket(IpVersion::V4, Protocol::Tcp)).error, EINVAL);
}

TEST_F(SimStack, S13_3_BlockErrnoIsConfigurable) {
  FakeClassifier blocker;
  blocker.onConnect = [](const ConnectRequest&) {
    ConnectVerdict v;
    v.action = Action::Block;
    return v;
  };
  sim::Options options;
  options.blockErrno = EACCES;
  sim::Stack custom(blocker, options);
  auto& p = custom.process(1, "/bin/p", 0);
  const int s = p.socket(IpVersion::V4, Protocol::Tcp);
  EXPECT_EQ(p.connect(s, ep("127.0.0.1:80")).error, EACCES);
}

TEST_F(SimStack, S6_4_TimedOutClassifyFailsConnectWithEtimedout) {
  fake.onConnect = [](const ConnectRequest&) {
    ConnectVerdict v;
    v.action = Action::Block;
    v.timedOut = true;
    return v;
  };
  const int s = client.socket(IpVersion::V4, Protocol::Tcp);
  EXPECT_EQ(client.connect(s, ep("127.0.0.1:80")).error, ETIMEDOUT);
}

TEST_F(SimStack, S10_4_SocketCallErrorsAreErrnoStyle) {
  const int l = listenAt(proxy, "127.0.0.1:8080");
  const int s = client.socket(IpVersion::V4, Protocol::Tcp);
  EXPECT_EQ(proxy.close(s), EBADF) << "a process may only use its own fds";
  EXPECT_EQ(proxy.connect(s, ep("127.0.0.1:8080")).error, EBADF);
  ASSERT_TRUE(client.connect(s, ep("127.0.0.1:8080")).ok());
  EXPECT_EQ(client.connect(s, ep("127.0.0.1:8080")).error, EISCONN);
  EXPECT_EQ(proxy.connect(l, ep("127.0.0.1:8080")).error, EISCONN);
  EXPECT_EQ(client.bind(s, ep("127.0.0.1:0")), EINVAL);
  EXPECT_EQ(client.listen(s), EINVAL);
  const int fresh = client.socket(IpVersion::V4, Protocol::Tcp);
  EXPECT_EQ(client.send(fresh, "x").error, ENOTCONN);
  std::string got;
  EXPECT_EQ(client.recv(fresh, got).error, ENOTCONN);
  Endpoint peer;
  EXPECT_EQ(client.getpeername(fresh, peer), ENOTCONN);
  EXPECT_EQ(client.bind(fresh, ep("[::1]:0")), EAFNOSUPPORT);
  EXPECT_EQ(client.bind(fresh, ep("192.0.2.80:0")), EADDRNOTAVAIL);
  EXPECT_EQ(client.close(fresh), 0);
  EXPECT_EQ(client.close(fresh), EBADF);
  EXPECT_FALSE(client.connection(fresh).has_value());
}

TEST_F(SimStack, S10_4_BindReportsAddressInUseAndEphemeralPortsCountUp) {
  listenAt(proxy, "127.0.0.1:8080");
  const int dup = client.socket(IpVersion::V4, Protocol::Tcp);
  EXPECT_EQ(client.bind(dup, ep("127.0.0.1:8080")), EADDRINUSE);
  EXPECT_EQ(client.bind(dup, ep("0.0.0.0:8080")), EADDRINUSE) << "wildcard overlaps";
  EXPECT_EQ(client.bind(dup, ep("127.0.0.2:8080")), 0) << "another address is free";
  const int udp = client.socket(IpVersion::V4, Protocol::Udp);
  EXPECT_EQ(client.bind(udp, ep("127.0.0.1:8080")), 0) << "UDP has its own ports";
  const int v6 = client.socket(IpVersion::V6, Protocol::Tcp);
  EXPECT_EQ(client.bind(v6, ep("[::1]:8080")), 0) << "v6 sockets are v6-only";

  Endpoint a, b;
  const int s1 = client.socket(IpVersion::V4, Protocol::Tcp);
  const int s2 = client.socket(IpVersion::V4, Protocol::Tcp);
  ASSERT_EQ(client.bind(s1, ep("127.0.0.1:0")), 0);
  ASSERT_EQ(client.bind(s2, ep("127.0.0.1:0")), 0);
  client.getsockname(s1, a);
  client.getsockname(s2, b);
  EXPECT_EQ(a.port, 49152);
  EXPECT_EQ(b.port, 49153);
  // A closed socket frees its port.
  const int again = proxy.socket(IpVersion::V4, Protocol::Tcp);
  ASSERT_EQ(client.close(s1), 0);
  EXPECT_EQ(proxy.bind(again, ep("127.0.0.1:49152")), 0);
}

// ---- UDP -----------------------------------------------------------------------------------

TEST_F(SimStack, S9_5_UdpConnectIsClassifiedAndDatagramsFollowTheVerdict) {
  const int dns = listenAt(proxy, "127.0.0.1:5353", Protocol::Udp);
  fake.onConnect = [](const ConnectRequest& r) {
    return redirectVerdict(r, ep("127.0.0.1:5353"), 777, 0x101);
  };
  const int s = client.socket(IpVersion::V4, Protocol::Udp);
  const sim::ConnectResult r = client.connect(s, ep("8.8.8.8:53"));
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.remote, ep("127.0.0.1:5353"));
  ASSERT_EQ(fake.connects().size(), 1u);
  EXPECT_EQ(fake.connects()[0].protocol, Protocol::Udp);
  ASSERT_TRUE(client.send(s, "query").ok());
  std::string got;
  const sim::IoResult in = proxy.recv(dns, got);
  ASSERT_TRUE(in.ok());
  EXPECT_EQ(got, "query");
  EXPECT_EQ(in.from, ep("10.0.0.5:49152"));
  // Datagram boundaries are kept; a short buffer truncates the datagram.
  ASSERT_TRUE(client.send(s, "abcdef").ok());
  ASSERT_TRUE(client.send(s, "gh").ok());
  uint8_t buf[3];
  EXPECT_EQ(proxy.recv(dns, std::span<uint8_t>(buf)).bytes, 3u);
  ASSERT_TRUE(proxy.recv(dns, got).ok());
  EXPECT_EQ(got, "gh");
}

TEST_F(SimStack, S9_5_UnconnectedUdpClassifiesTheFirstDatagramOfEachFlow) {
  const int dns = listenAt(proxy, "127.0.0.1:5353", Protocol::Udp);
  fake.onConnect = [](const ConnectRequest& r) {
    if (r.remote.port == 53) return redirectVerdict(r, ep("127.0.0.1:5353"), 777, 0x101);
    ConnectVerdict v;
    v.action = Action::Block;
    return v;
  };
  const int s = client.socket(IpVersion::V4, Protocol::Udp);
  EXPECT_TRUE(client.sendTo(s, ep("8.8.8.8:53"), "one").ok());
  EXPECT_TRUE(client.sendTo(s, ep("8.8.8.8:53"), "two").ok());
  EXPECT_TRUE(client.sendTo(s, ep("1.1.1.1:53"), "three").ok());
  EXPECT_EQ(client.sendTo(s, ep("1.1.1.1:123"), "ntp").error, ECONNREFUSED);
  EXPECT_EQ(fake.connects().size(), 3u) << "once per destination, not per datagram";
  std::string got;
  for (const char* want : {"one", "two", "three"}) {
    ASSERT_TRUE(proxy.recv(dns, got).ok());
    EXPECT_EQ(got, want);
  }
  EXPECT_EQ(proxy.recv(dns, got).error, EAGAIN);
}

// ---- pended classifies and concurrency ---------------------------------------------------

TEST_F(SimStack, S6_2_PendedConnectBlocksOnlyItsThreadUntilCompleted) {
  const int l = listenAt(proxy, "127.0.0.1:8080");
  fake.setPend(true);
  std::atomic<bool> returned{false};
  sim::ConnectResult result;
  std::thread t([&] {
    const int s = client.socket(IpVersion::V4, Protocol::Tcp);
    result = client.connect(s, ep("127.0.0.1:8080"));
    returned = true;
  });
  ASSERT_TRUE(fake.waitPended(1));
  // The stack stays usable from other threads while the connect is pended.
  const int other = proxy.socket(IpVersion::V4, Protocol::Tcp);
  EXPECT_EQ(proxy.bind(other, ep("127.0.0.1:0")), 0);
  EXPECT_EQ(proxy.accept(l).error, EAGAIN);
  std::this_thread::sleep_for(20ms);
  EXPECT_FALSE(returned.load());
  fake.complete();
  t.join();
  EXPECT_TRUE(result.ok()) << result.error;
  EXPECT_TRUE(proxy.accept(l).ok());
}

TEST_F(SimStack, S6_2_ConnectAsyncCanBePolledAndWaitedOn) {
  listenAt(proxy, "127.0.0.1:8080");
  fake.setPend(true);
  const int s = client.socket(IpVersion::V4, Protocol::Tcp);
  sim::PendingConnect pc = client.connectAsync(s, ep("127.0.0.1:8080"));
  EXPECT_FALSE(pc.ready());
  EXPECT_FALSE(pc.poll().has_value());
  EXPECT_FALSE(pc.waitFor(10ms).has_value());
  EXPECT_EQ(client.connect(s, ep("127.0.0.1:8080")).error, EALREADY);
  std::thread completer([&] { fake.complete(); });
  const sim::ConnectResult r = pc.wait();
  completer.join();
  EXPECT_TRUE(r.ok());
  ASSERT_TRUE(pc.poll().has_value());
  EXPECT_EQ(pc.poll()->remote, ep("127.0.0.1:8080"));
}

TEST_F(SimStack, S6_3_EightThreadsConnectConcurrently) {
  const int l = listenAt(proxy, "127.0.0.1:8080");
  proxy.listen(l, 100000);
  constexpr int kThreads = 8;
  constexpr int kPerThread = 50;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto& p = stack.process(1000 + static_cast<uint64_t>(t), "/bin/worker", 1);
      for (int i = 0; i < kPerThread; ++i) {
        const int s = p.socket(IpVersion::V4, Protocol::Tcp);
        if (p.connect(s, ep("127.0.0.1:8080")).ok() && p.send(s, "x").ok()) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), kThreads * kPerThread);
  std::set<uint16_t> ports;
  for (int i = 0; i < kThreads * kPerThread; ++i) {
    const sim::AcceptResult a = proxy.accept(l);
    ASSERT_TRUE(a.ok());
    ports.insert(a.peer.port);
  }
  EXPECT_EQ(ports.size(), static_cast<size_t>(kThreads * kPerThread)) << "distinct ports";
}

TEST_F(SimStack, S6_3_PendedConnectsOfEightThreadsCompleteInAnyOrder) {
  const int l = listenAt(proxy, "127.0.0.1:8080");
  fake.setPend(true);
  constexpr int kThreads = 8;
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      const int s = client.socket(IpVersion::V4, Protocol::Tcp);
      if (client.connect(s, ep("127.0.0.1:8080")).ok()) ++ok;
    });
  }
  ASSERT_TRUE(fake.waitPended(kThreads));
  for (int i = 0; i < kThreads; ++i) fake.complete(/*newest=*/i % 2 == 0);
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), kThreads);
  for (int i = 0; i < kThreads; ++i) EXPECT_TRUE(proxy.accept(l).ok());
}

// ---- close and connectionClosed --------------------------------------------------------

TEST_F(SimStack, S5_6_ConnectionClosedIsReportedWhenTheLastEndCloses) {
  const int l = listenAt(proxy, "127.0.0.1:8080");
  const int s = client.socket(IpVersion::V4, Protocol::Tcp);
  ASSERT_TRUE(client.connect(s, ep("127.0.0.1:8080")).ok());
  const auto history = client.connection(s)->history;
  ASSERT_NE(history, nullptr);
  const int a = proxy.accept(l).fd;
  ASSERT_EQ(client.close(s), 0);
  EXPECT_TRUE(fake.closed().empty()) << "the accepted end is still open";
  ASSERT_EQ(proxy.close(a), 0);
  ASSERT_EQ(fake.closed().size(), 1u);
  EXPECT_EQ(fake.closed()[0], history);
}

TEST_F(SimStack, S5_6_FailedOrAbandonedConnectsReportTheirHistoryAtClose) {
  // Permitted but nobody listens: the flow ended; reported when the socket closes (not from
  // inside the classify's completion, where a driver still holds its classify handle).
  const int s = client.socket(IpVersion::V4, Protocol::Tcp);
  ASSERT_EQ(client.connect(s, ep("127.0.0.1:1")).error, ECONNREFUSED);
  EXPECT_TRUE(fake.closed().empty());
  ASSERT_EQ(client.close(s), 0);
  ASSERT_EQ(fake.closed().size(), 1u);
  // Closed while the classify was pended: the late verdict's history is reported with the next
  // close.
  listenAt(proxy, "127.0.0.1:8080");
  fake.setPend(true);
  const int t = client.socket(IpVersion::V4, Protocol::Tcp);
  sim::PendingConnect pc = client.connectAsync(t, ep("127.0.0.1:8080"));
  ASSERT_EQ(client.close(t), 0);
  fake.complete();
  EXPECT_EQ(pc.wait().error, EBADF);
  EXPECT_EQ(fake.closed().size(), 1u);
  ASSERT_EQ(client.close(client.socket(IpVersion::V4, Protocol::Tcp)), 0);
  EXPECT_EQ(fake.closed().size(), 2u);
}

TEST_F(SimStack, S5_6_ClosingAListenerOrTheStackClosesEverything) {
  FakeClassifier local;
  {
    sim::Stack scoped(local);
    auto& server = scoped.process(1, "/bin/server", 0);
    auto& c = scoped.process(2, "/bin/client", 0);
    const int l = server.socket(IpVersion::V4, Protocol::Tcp);
    ASSERT_EQ(server.bind(l, ep("127.0.0.1:80")), 0);
    ASSERT_EQ(server.listen(l), 0);
    const int s1 = c.socket(IpVersion::V4, Protocol::Tcp);
    const int s2 = c.socket(IpVersion::V4, Protocol::Tcp);
    ASSERT_TRUE(c.connect(s1, ep("127.0.0.1:80")).ok());
    ASSERT_TRUE(c.connect(s2, ep("127.0.0.1:80")).ok());
    ASSERT_EQ(server.close(l), 0);  // both queued connections go with it
    std::string got;
    EXPECT_EQ(c.recv(s1, got).bytes, 0u) << "end of stream";
    EXPECT_EQ(local.closed().size(), 0u) << "the client ends are still open";
    ASSERT_EQ(c.close(s1), 0);
    EXPECT_EQ(local.closed().size(), 1u);
    EXPECT_EQ(scoped.openSockets(), 1u);
  }
  EXPECT_EQ(local.closed().size(), 2u) << "the Stack destructor closed s2";
}

// ---- remote hosts --------------------------------------------------------------------------

TEST_F(SimStack, S10_4_RemoteHostServesTheOriginalDestinationUnclassified) {
  auto& server = stack.remoteHost("192.0.2.80");
  EXPECT_EQ(&server, &stack.remoteHost("192.0.2.80"));
  EXPECT_THROW(stack.remoteHost("10.0.0.5"), std::invalid_argument);
  EXPECT_THROW(stack.remoteHost("not an address"), std::invalid_argument);
  const int l = server.socket(IpVersion::V4, Protocol::Tcp);
  EXPECT_EQ(server.bind(l, ep("127.0.0.1:80")), EADDRNOTAVAIL);
  ASSERT_EQ(server.bind(l, ep("192.0.2.80:80")), 0);
  ASSERT_EQ(server.listen(l), 0);
  EXPECT_TRUE(fake.binds().empty()) << "remote hosts are not classified";
  const int s = client.socket(IpVersion::V4, Protocol::Tcp);
  ASSERT_TRUE(client.connect(s, ep("192.0.2.80:80")).ok());
  const sim::AcceptResult a = server.accept(l);
  ASSERT_TRUE(a.ok());
  // The server answers over its own connect-free path; its calls stay unclassified.
  ASSERT_TRUE(server.send(a.fd, "hello").ok());
  std::string got;
  ASSERT_TRUE(client.recv(s, got).ok());
  EXPECT_EQ(got, "hello");
  EXPECT_EQ(fake.connects().size(), 1u);
}

}  // namespace

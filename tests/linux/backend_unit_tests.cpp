// tests/linux/backend_unit_tests.cpp - the Linux backend's pure parts: sockaddr decoding of
// untrusted bytes (S12.4, S13.2), sockaddr encoding for redirects (S13.3), and the connection
// table (lookups for the control channel, closed connections for S5.6).
#include <arpa/inet.h>
#include <sys/resource.h>
#include <condition_variable>
#include <future>
#include <optional>
#include <algorithm>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <fcntl.h>
#include <netinet/udp.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include <cstddef>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "linux/call_deadlines.h"
#include "support/loopback.h"
#include "linux/connection_table.h"
#include "linux/datagram.h"
#include "linux/flow_cache.h"
#include "linux/inet_sockets.h"
#include "linux/performer.h"
#include "linux/task_cache.h"
#include "linux/tree_guard.h"
#include "net/uring_calls.h"
#include "net/sockaddr_codec.h"
#include "support/sockaddr_codec_properties.h"
#include "redirect/history.h"

using namespace openwfp;
using namespace openwfp::linux_backend;
namespace props = openwfp::linux_backend::props;

namespace {

std::vector<uint8_t> sin4(const char* addr, uint16_t port, sa_family_t family = AF_INET) {
  sockaddr_in s{};
  s.sin_family = family;
  s.sin_port = htons(port);
  inet_pton(AF_INET, addr, &s.sin_addr);
  std::vector<uint8_t> b(sizeof s);
  std::memcpy(b.data(), &s, sizeof s);
  return b;
}

std::vector<uint8_t> sin6(const char* addr, uint16_t port) {
  sockaddr_in6 s{};
  s.sin6_family = AF_INET6;
  s.sin6_port = htons(port);
  inet_pton(AF_INET6, addr, &s.sin6_addr);
  std::vector<uint8_t> b(sizeof s);
  std::memcpy(b.data(), &s, sizeof s);
  return b;
}

Endpoint ep(const char* text) { return *Endpoint::parse(text); }

TEST(BackendCodec, S13_2_InetConnectDecodesV4) {
  auto b = sin4("127.0.0.2", 8080);
  auto e = net::decodeCallAddress(b, 16, AF_INET, net::CallKind::Connect, false);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(*e, ep("127.0.0.2:8080"));
}

TEST(BackendCodec, S13_2_V4MappedOnInet6StaysV6) {
  auto b = sin6("::ffff:127.0.0.2", 80);
  auto e = net::decodeCallAddress(b, 28, AF_INET6, net::CallKind::Connect, false);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->version, IpVersion::V6);
  EXPECT_EQ(*e, ep("[::ffff:127.0.0.2]:80"));
}

TEST(BackendCodec, S13_2_InetAddressOnInet6UdpConnectBecomesMapped) {
  auto b = sin4("127.0.0.3", 53);
  auto udp = net::decodeCallAddress(b, 16, AF_INET6, net::CallKind::Connect, true);
  ASSERT_TRUE(udp.has_value());
  EXPECT_EQ(*udp, ep("[::ffff:127.0.0.3]:53"));
  // TCP and bind fail in the kernel (EAFNOSUPPORT / EINVAL): nothing to classify.
  EXPECT_FALSE(net::decodeCallAddress(b, 16, AF_INET6, net::CallKind::Connect, false).has_value());
  EXPECT_FALSE(net::decodeCallAddress(b, 16, AF_INET6, net::CallKind::Bind, true).has_value());
}

TEST(BackendCodec, S13_4_NonIpAndDisconnectPassThrough) {
  auto unspec = sin4("0.0.0.0", 0, AF_UNSPEC);
  EXPECT_FALSE(net::decodeCallAddress(unspec, 16, AF_INET, net::CallKind::Connect, true).has_value());
  auto local = sin4("1.2.3.4", 5, AF_UNIX);
  EXPECT_FALSE(net::decodeCallAddress(local, 16, AF_INET, net::CallKind::Connect, false).has_value());
  auto v6 = sin6("::1", 80);
  EXPECT_FALSE(net::decodeCallAddress(v6, 28, AF_INET, net::CallKind::Connect, false).has_value());
}

TEST(BackendCodec, S13_1_UnspecBindOfAnyAddressBindsLikeInet) {
  // inet_bind() accepts AF_UNSPEC with INADDR_ANY: classifying it closes that side door.
  auto any = sin4("0.0.0.0", 4444, AF_UNSPEC);
  auto e = net::decodeCallAddress(any, 16, AF_INET, net::CallKind::Bind, false);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(*e, ep("0.0.0.0:4444"));
  auto notAny = sin4("127.0.0.1", 4444, AF_UNSPEC);
  EXPECT_FALSE(net::decodeCallAddress(notAny, 16, AF_INET, net::CallKind::Bind, false).has_value());
}

TEST(BackendCodec, S12_4_ShortOrInconsistentInputIsRejected) {
  auto b4 = sin4("127.0.0.1", 1);
  auto b6 = sin6("::1", 1);
  // Lengths the kernel refuses (EINVAL) and byte spans shorter than the structure.
  EXPECT_FALSE(net::decodeCallAddress(b4, 15, AF_INET, net::CallKind::Connect, false).has_value());
  EXPECT_FALSE(net::decodeCallAddress(std::span(b4).first(8), 16, AF_INET, net::CallKind::Connect, false).has_value());
  EXPECT_FALSE(net::decodeCallAddress(b6, 23, AF_INET6, net::CallKind::Connect, false).has_value());
  EXPECT_FALSE(net::decodeCallAddress(std::span(b6).first(20), 28, AF_INET6, net::CallKind::Connect, false).has_value());
  EXPECT_FALSE(net::decodeCallAddress(std::span(b4).first(1), 1, AF_INET, net::CallKind::Connect, false).has_value());
  EXPECT_FALSE(net::decodeCallAddress({}, 0, AF_INET, net::CallKind::Connect, false).has_value());
  // More bytes than the call's length: a caller bug, refused.
  EXPECT_FALSE(net::decodeCallAddress(b6, 16, AF_INET, net::CallKind::Connect, false).has_value());
  // A 24-byte sockaddr_in6 (RFC 2133, no scope id) is what the kernel accepts at minimum.
  auto e = net::decodeCallAddress(std::span(b6).first(24), 24, AF_INET6, net::CallKind::Connect, false);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(*e, ep("[::1]:1"));
  // Unknown socket domains never decode.
  EXPECT_FALSE(net::decodeCallAddress(b4, 16, AF_UNIX, net::CallKind::Connect, false).has_value());
}

TEST(BackendCodec, S12_4_EveryPrefixAndFamilyIsSafe) {
  // Exhaustive over lengths and a sweep of family values: no out-of-bounds read (ASan), and
  // exactly what the kernel would use (tests/support/sockaddr_codec_properties.h).
  auto b6 = sin6("::ffff:10.0.0.1", 7);
  for (uint16_t family = 0; family < 64; ++family) {
    std::memcpy(b6.data(), &family, sizeof family);
    for (size_t n = 0; n <= b6.size(); ++n) {
      for (int domain : {AF_INET, AF_INET6, AF_UNIX}) {
        for (net::CallKind kind : {net::CallKind::Connect, net::CallKind::Bind}) {
          for (bool udp : {false, true}) {
            const std::string f = props::checkCall(std::span(b6).first(n), static_cast<uint32_t>(n), domain, kind, udp);
            ASSERT_EQ(f, "") << "family " << family << ", length " << n << ", domain " << domain;
          }
        }
      }
    }
  }
}

TEST(BackendCodec, S12_4_LengthBeyondSockaddrStorageIsRejected) {
  // connect()/bind() fail a length beyond sizeof(sockaddr_storage) with EINVAL (and a negative
  // int is such a length as uint32_t): the decoder once took any length >= the structure's.
  auto b4 = sin4("127.0.0.1", 80);
  b4.resize(sizeof(sockaddr_storage) + 1);
  auto b6 = sin6("::1", 80);
  for (uint32_t len : {129u, 200u, 0x7fffffffu, 0x80000000u, 0xffffffffu}) {
    EXPECT_FALSE(net::decodeCallAddress(std::span(b4).first(16), len, AF_INET, net::CallKind::Connect, false).has_value()) << len;
    EXPECT_FALSE(net::decodeCallAddress(std::span(b4).first(net::kMaxSockaddrRead), len, AF_INET, net::CallKind::Bind, false).has_value()) << len;
    EXPECT_FALSE(net::decodeCallAddress(b6, len, AF_INET6, net::CallKind::Connect, false).has_value()) << len;
    EXPECT_FALSE(net::decodeCallAddress(std::span(b4).first(16), len, AF_INET6, net::CallKind::Connect, true).has_value()) << len;
  }
  // The largest length the kernel takes still decodes.
  EXPECT_TRUE(net::decodeCallAddress(std::span(b4).first(net::kMaxSockaddrRead), 128, AF_INET, net::CallKind::Connect, false).has_value());
  EXPECT_TRUE(net::decodeCallAddress(b6, 128, AF_INET6, net::CallKind::Bind, false).has_value());
}

// The properties of tests/support/sockaddr_codec_properties.h (shared with the libFuzzer target
// fuzz/sockaddr_decode_fuzz.cpp) over a deterministic corpus: every length (0..40 and the edges
// of the kernel's limit) of every seed on every socket kind, every truncation of the bytes the
// caller hands over, then tens of thousands of mutants.
TEST(BackendCodec, S12_4_SockaddrDecoderSurvivesRandomInput) {
  std::vector<std::vector<uint8_t>> seeds = {
      sin4("127.0.0.2", 8080),       sin4("0.0.0.0", 4444, AF_UNSPEC), sin4("10.1.2.3", 5, AF_UNSPEC),
      sin4("1.2.3.4", 5, AF_UNIX),   sin6("::1", 80),                  sin6("::ffff:127.0.0.2", 443),
      sin6("fe80::1", 53),           sin6("2001:db8::5", 65535),
  };
  for (auto& s : seeds) s.resize(sizeof(sockaddr_storage), 0xA5);  // the rest of the process's buffer
  const uint32_t scope = 7;  // a link-local address with its scope id
  std::memcpy(seeds[6].data() + offsetof(sockaddr_in6, sin6_scope_id), &scope, sizeof scope);
  const int domains[] = {AF_INET, AF_INET6, AF_UNIX, AF_UNSPEC};
  int failures = 0;
  size_t decoded = 0;
  const auto expectHolds = [&](const std::string& failure, const char* what, std::span<const uint8_t> bytes,
                               uint32_t len, int domain, net::CallKind kind, bool udp) {
    if (failure.empty()) return;
    ADD_FAILURE() << what << ": " << failure << "\n  length " << len << ", domain " << domain << ", "
                  << (kind == net::CallKind::Bind ? "bind" : "connect") << (udp ? " udp" : " tcp")
                  << ", bytes: " << testing_support::hexBytes(bytes);
    ++failures;
  };
  const auto call = [&](std::span<const uint8_t> bytes, uint32_t len, int domain, net::CallKind kind, bool udp) {
    expectHolds(props::checkCall(bytes, len, domain, kind, udp), "net::decodeCallAddress", bytes, len, domain, kind, udp);
    if (net::decodeCallAddress(bytes, len, domain, kind, udp)) ++decoded;
  };

  std::vector<uint32_t> lengths;
  for (uint32_t n = 0; n <= 40; ++n) lengths.push_back(n);
  for (uint32_t n : {64u, 127u, 128u, 129u, 1000u, 0x7fffffffu, 0x80000000u, 0xffffffffu}) lengths.push_back(n);
  for (const auto& seed : seeds) {
    for (uint32_t len : lengths) {
      for (int domain : domains) {
        for (net::CallKind kind : {net::CallKind::Connect, net::CallKind::Bind}) {
          for (bool udp : {false, true}) {
            // What the interceptor hands over, then every other span a caller could get wrong.
            call(std::span(seed).first(std::min<size_t>(len, net::kMaxSockaddrRead)), len, domain, kind, udp);
            if (len <= 40) {
              for (size_t n = 0; n <= 40; n += 3) call(std::span(seed).first(n), len, domain, kind, udp);
            }
          }
        }
      }
      expectHolds(props::checkSockname(seed, len), "net::endpointFromSockaddr", seed, len, 0, net::CallKind::Connect, false);
    }
    if (failures > 5) return;
  }
  const size_t exhaustiveDecoded = decoded;

  std::mt19937 rng(20261126);
  const uint16_t families[] = {AF_INET, AF_INET6, AF_UNSPEC, AF_UNIX, AF_NETLINK, 0xffff};
  for (int iter = 0; iter < 40000 && failures <= 5; ++iter) {
    std::vector<uint8_t> b = seeds[rng() % seeds.size()];
    for (int ops = 1 + static_cast<int>(rng() % 3); ops > 0; --ops) {
      switch (rng() % 4) {
        case 0: {
          const uint16_t family = rng() % 4 == 0 ? static_cast<uint16_t>(rng()) : families[rng() % std::size(families)];
          std::memcpy(b.data(), &family, sizeof family);
          break;
        }
        case 1:  // the address or port
          b[2 + rng() % 22] = static_cast<uint8_t>(rng());
          break;
        case 2:  // INADDR_ANY, for AF_UNSPEC binds
          std::memset(b.data() + 4, 0, 4);
          break;
        default:
          b[rng() % b.size()] = static_cast<uint8_t>(rng());
          break;
      }
    }
    const uint32_t len = rng() % 4 == 0 ? static_cast<uint32_t>(rng()) : lengths[rng() % lengths.size()];
    const int domain = rng() % 16 == 0 ? static_cast<int>(rng() % 64) : domains[rng() % 2];
    const net::CallKind kind = rng() % 2 == 0 ? net::CallKind::Connect : net::CallKind::Bind;
    const bool udp = rng() % 2 == 0;
    const size_t n = rng() % 8 == 0 ? rng() % (b.size() + 1) : std::min<size_t>(len, net::kMaxSockaddrRead);
    call(std::span(b).first(n), len, domain, kind, udp);
    expectHolds(props::checkSockname(b, len), "net::endpointFromSockaddr", b, len, 0, net::CallKind::Connect, false);
    Endpoint e;  // as the engine makes them: a V4 address has zero bytes past its four
    e.version = rng() % 2 == 0 ? IpVersion::V4 : IpVersion::V6;
    std::memcpy(e.addr.data(), b.data() + 8, e.version == IpVersion::V4 ? 4 : 16);
    if (e.version == IpVersion::V6 && rng() % 4 == 0) std::memcpy(e.addr.data(), seeds[5].data() + 8, 12);  // v4-mapped
    e.port = static_cast<uint16_t>(rng());
    expectHolds(props::checkEncode(e, domain), "net::sockaddrFor", b, len, domain, kind, udp);
  }
  // The corpus reaches the decoding paths, not only the refusals.
  EXPECT_GT(exhaustiveDecoded, 500u);
  EXPECT_GT(decoded - exhaustiveDecoded, 2000u);
}

TEST(BackendCodec, S13_3_RedirectSockaddrMatchesTheSocketFamily) {
  sockaddr_storage ss;
  socklen_t len;
  // V4 final on an AF_INET6 socket: v4-mapped.
  ASSERT_TRUE(net::sockaddrFor(ep("127.0.0.1:81"), AF_INET6, ss, len));
  EXPECT_EQ(len, sizeof(sockaddr_in6));
  auto back = net::endpointFromSockaddr(ss, len);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, ep("[::ffff:127.0.0.1]:81"));
  // v4-mapped final on an AF_INET socket: plain V4.
  ASSERT_TRUE(net::sockaddrFor(ep("[::ffff:127.0.0.1]:82"), AF_INET, ss, len));
  EXPECT_EQ(len, sizeof(sockaddr_in));
  EXPECT_EQ(*net::endpointFromSockaddr(ss, len), ep("127.0.0.1:82"));
  // A real V6 address cannot go on an AF_INET socket.
  EXPECT_FALSE(net::sockaddrFor(ep("[::1]:83"), AF_INET, ss, len));
  EXPECT_EQ(net::formatEndpoint(ep("[::1]:83")), "[::1]:83");
  EXPECT_EQ(net::formatEndpoint(ep("10.1.2.3:4")), "10.1.2.3:4");
}

ConnectionInfo info(uint64_t cookie, const char* local, const char* remote, bool known,
                    Protocol proto = Protocol::Tcp) {
  ConnectionInfo i;
  i.socketCookie = cookie;
  i.protocol = proto;
  i.local = ep(local);
  i.remote = ep(remote);
  i.originalRemote = i.remote;
  i.tupleKnown = known;
  i.history = redirect::History::create();
  return i;
}

DiagSocket diag(uint64_t cookie, const char* local, const char* remote, uint8_t state) {
  return DiagSocket{cookie, state, ep(local), ep(remote)};
}

TEST(BackendTable, S13_3_PerformedConnectIsFoundByTupleAndCookie) {
  ConnectionTable t;
  auto i = info(7, "127.0.0.1:40000", "127.0.0.1:8080", true);
  EXPECT_EQ(t.add(i), nullptr);
  auto byTuple = t.find(ep("127.0.0.1:40000"), ep("127.0.0.1:8080"));
  ASSERT_TRUE(byTuple.has_value());
  EXPECT_EQ(byTuple->history, i.history);
  EXPECT_FALSE(t.find(ep("127.0.0.1:8080"), ep("127.0.0.1:40000")).has_value());
  ASSERT_TRUE(t.findByCookie(7).has_value());
  EXPECT_FALSE(t.hasUnresolved());
}

TEST(BackendTable, S13_3_ResolveIndexesAConnectRecordedBeforeItWasMade) {
  ConnectionTable t;
  t.add(info(8, "0.0.0.0:0", "127.0.0.1:8080", false));
  EXPECT_TRUE(t.hasUnresolved());
  t.resolve(8, ep("127.0.0.1:40001"), ep("127.0.0.1:8080"));
  EXPECT_TRUE(t.find(ep("127.0.0.1:40001"), ep("127.0.0.1:8080")).has_value());
  EXPECT_FALSE(t.hasUnresolved());
}

// A proxy that accepts and asks for the redirect context at once can be a moment ahead of the
// supervisor's connect() returning: the lookup waits for the tuple instead of scanning every
// socket of the host, and a lookup for a destination nothing is connecting to never waits.
TEST(BackendTable, S13_3_LookupWaitsForAConnectBeingPerformedToThatRemote) {
  ConnectionTable t;
  t.add(info(20, "0.0.0.0:0", "127.0.0.1:8080", false));
  const auto far = ConnectionTable::Clock::now() + std::chrono::seconds(10);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(t.waitResolved(ep("127.0.0.1:40010"), ep("127.0.0.1:9999"), far));  // nothing going there
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1)) << "waited without a reason";
  std::thread performer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    t.resolve(20, ep("127.0.0.1:40010"), ep("127.0.0.1:8080"));
  });
  EXPECT_TRUE(t.waitResolved(ep("127.0.0.1:40010"), ep("127.0.0.1:8080"), far));
  performer.join();
  EXPECT_TRUE(t.find(ep("127.0.0.1:40010"), ep("127.0.0.1:8080")).has_value());
  EXPECT_FALSE(t.hasUnresolved());
  // Resolved to another tuple, or removed (its connect failed): the wait ends, with false.
  t.add(info(21, "0.0.0.0:0", "127.0.0.1:8080", false));
  std::thread other([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    t.remove(21);
  });
  t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(t.waitResolved(ep("127.0.0.1:40011"), ep("127.0.0.1:8080"), far));
  other.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5)) << "the removal did not end the wait";
  // Bounded: nobody resolves it.
  t.add(info(22, "0.0.0.0:0", "127.0.0.1:8080", false));
  EXPECT_FALSE(t.waitResolved(ep("127.0.0.1:40012"), ep("127.0.0.1:8080"),
                              ConnectionTable::Clock::now() + std::chrono::milliseconds(20)));
  EXPECT_TRUE(t.hasUnresolved());
}

TEST(BackendTable, S13_2_ScanResolvesContinuedConnects) {
  ConnectionTable t;
  auto now = ConnectionTable::Clock::now();
  t.add(info(9, "0.0.0.0:0", "127.0.0.1:8080", false), now);
  auto closed = t.applyScan({diag(9, "127.0.0.1:40002", "127.0.0.1:8080", TCP_ESTABLISHED)}, 0xf, now);
  EXPECT_TRUE(closed.empty());
  EXPECT_TRUE(t.find(ep("127.0.0.1:40002"), ep("127.0.0.1:8080")).has_value());
}

TEST(BackendTable, S5_6_EndedConnectionsAreReturnedAfterTheGracePeriod) {
  ConnectionTable t;
  auto t0 = ConnectionTable::Clock::now();
  auto a = info(10, "127.0.0.1:40003", "127.0.0.1:8080", true);
  auto b = info(11, "127.0.0.1:40004", "127.0.0.1:8080", true);
  auto c = info(12, "127.0.0.1:40005", "127.0.0.1:8080", true);
  t.add(a, t0);
  t.add(b, t0);
  t.add(c, t0);
  // Young entries are kept even if gone (a continued connect may not have happened yet).
  EXPECT_TRUE(t.applyScan({}, 0xf, t0).empty());
  EXPECT_TRUE(t.applyScan({}, 0xf, t0).empty());
  auto later = t0 + ConnectionTable::kGrace + std::chrono::milliseconds(1);
  // a: TIME_WAIT (over), b: still established, c: gone (missed twice by now).
  auto closed = t.applyScan({diag(10, "127.0.0.1:40003", "127.0.0.1:8080", TCP_TIME_WAIT),
                             diag(11, "127.0.0.1:40004", "127.0.0.1:8080", TCP_ESTABLISHED)},
                            0xf, later);
  ASSERT_EQ(closed.size(), 2u);
  EXPECT_TRUE((closed[0] == a.history && closed[1] == c.history) ||
              (closed[0] == c.history && closed[1] == a.history));
  EXPECT_TRUE(t.findByCookie(11).has_value());
  EXPECT_FALSE(t.find(ep("127.0.0.1:40003"), ep("127.0.0.1:8080")).has_value());
  // A listing that did not cover an entry's family/protocol does not count against it.
  auto u = info(13, "127.0.0.1:5000", "127.0.0.1:53", true, Protocol::Udp);
  t.add(u, t0);
  std::vector<DiagSocket> onlyB{diag(11, "127.0.0.1:40004", "127.0.0.1:8080", TCP_ESTABLISHED)};
  EXPECT_TRUE(t.applyScan(onlyB, 0x1 /* TCP v4 only */, later).empty());
  EXPECT_TRUE(t.applyScan(onlyB, 0x1, later).empty());
  EXPECT_TRUE(t.findByCookie(13).has_value());
  auto all = t.takeAll();
  EXPECT_EQ(all.size(), 2u);
  EXPECT_TRUE(t.empty());
}

TEST(BackendTable, S5_6_ReconnectReplacesAndReturnsTheOldHistory) {
  ConnectionTable t;
  auto first = info(14, "127.0.0.1:5001", "127.0.0.1:53", true, Protocol::Udp);
  auto second = info(14, "127.0.0.1:5001", "127.0.0.1:54", true, Protocol::Udp);
  t.add(first);
  EXPECT_EQ(t.add(second), first.history);
  EXPECT_FALSE(t.find(ep("127.0.0.1:5001"), ep("127.0.0.1:53")).has_value());
  EXPECT_TRUE(t.find(ep("127.0.0.1:5001"), ep("127.0.0.1:54")).has_value());
  EXPECT_EQ(t.remove(14), second.history);
  EXPECT_EQ(t.remove(14), nullptr);
}

TEST(BackendTable, S9_4_AttachedRecordsAreKeptBySocketCookie) {
  ConnectionTable t;
  auto h = redirect::History::create();
  EXPECT_EQ(t.attachedRecords(20), nullptr);
  t.attachRecords(20, h);
  EXPECT_EQ(t.attachedRecords(20), h);
  auto later = ConnectionTable::Clock::now() + ConnectionTable::kAttachmentLifetime + std::chrono::seconds(1);
  t.applyScan({}, 0, later);  // an attachment whose socket never connected ages out
  EXPECT_EQ(t.attachedRecords(20), nullptr);
}

// ---- S13.9, S13.10, S13.8: task cache eviction, deadlines, ELF kinds ----

TEST(BackendTaskCache, S13_9_AnExitedTaskIsEvictedByItsExitEvent) {
  TaskCache tasks;
  ASSERT_GE(tasks.exitFd(), 0);
  int gate[2];
  ASSERT_EQ(::pipe(gate), 0);
  pid_t child = ::fork();
  if (child == 0) {
    ::close(gate[1]);
    ::alarm(10);  // bounded even if the test fails before closing the gate
    char c;
    [[maybe_unused]] ssize_t n = ::read(gate[0], &c, 1);
    ::_exit(0);
  }
  ::close(gate[0]);
  int err = 0;
  bool fresh = false;
  ASSERT_NE(tasks.get(child, err, fresh), nullptr) << err;
  EXPECT_EQ(tasks.size(), 1u);
  pollfd p{tasks.exitFd(), POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 0), 0) << "no exit yet";
  ::close(gate[1]);  // the child exits
  ::waitpid(child, nullptr, 0);
  ASSERT_EQ(::poll(&p, 1, 2000), 1) << "the exit is an event of the set";
  tasks.evictExited();
  EXPECT_EQ(tasks.size(), 0u);
  EXPECT_EQ(::poll(&p, 1, 0), 0) << "nothing left to report";
}

// The caches of all supervisors in one process (an engine serving several sessions) share one
// pidfd budget (RLIMIT_NOFILE / 4, at least 16): without it each took its own and together they
// could use up the process's descriptors.
TEST(BackendTaskCache, S13_9_AllCachesOfAProcessShareOneDescriptorBudget) {
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  std::optional<TaskCache> a, b;
  {
    rlimit low = saved;
    low.rlim_cur = 64;  // a budget of 16 entries, read when a cache is made
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
    a.emplace();
    b.emplace();
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);
  }
  const size_t before = TaskCache::cachedInProcess();
  // 40 live tasks of this process to look up.
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  std::vector<pid_t> tids(40, 0);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < tids.size(); ++i) {
    threads.emplace_back([&, i] {
      std::unique_lock lock(mu);
      tids[i] = static_cast<pid_t>(::gettid());
      cv.notify_all();
      cv.wait_for(lock, std::chrono::seconds(10), [&] { return release; });
    });
  }
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(5), [&] {
      return std::all_of(tids.begin(), tids.end(), [](pid_t t) { return t != 0; });
    })) << "the threads did not start within 5 s";
  }
  for (size_t i = 0; i < tids.size(); ++i) {
    int err = 0;
    bool fresh = false;
    TaskCache& c = i % 2 == 0 ? *a : *b;
    auto e = c.get(tids[i], err, fresh);
    ASSERT_NE(e, nullptr) << "task " << tids[i] << ": " << std::strerror(err);
    EXPECT_TRUE(fresh);
    EXPECT_EQ(e->process.pid, static_cast<uint64_t>(::getpid()));
  }
  EXPECT_LE(TaskCache::cachedInProcess() - before, 16u) << "cache a: " << a->size() << ", cache b: " << b->size();
  EXPECT_EQ(a->size() + b->size(), TaskCache::cachedInProcess() - before);
  EXPECT_GT(a->size(), 0u);
  EXPECT_GT(b->size(), 0u);
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  for (auto& t : threads) t.join();
  a.reset();
  b.reset();
  EXPECT_EQ(TaskCache::cachedInProcess(), before) << "a destroyed cache gives its entries back";
}

// A miss in a full cache makes room from the exits the epoll set reports before it drops a live
// entry (it used to poll every entry's pidfd on each miss: 10,000 new threads cost 67 polls
// each). Child processes, so that every entry is cacheable without PIDFD_THREAD.
TEST(BackendTaskCache, S13_9_AFullCacheMakesRoomFromExitedTasksFirst) {
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  ASSERT_EQ(TaskCache::cachedInProcess(), 0u) << "another cache of this process holds entries";
  std::optional<TaskCache> cache;
  {
    rlimit low = saved;
    low.rlim_cur = 64;  // a budget of 16 entries, read when the cache is made
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
    cache.emplace();
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);
  }
  ASSERT_GE(cache->exitFd(), 0);
  struct Child {
    pid_t pid = -1;
    int gate = -1;  // closing it ends the child
  };
  std::vector<Child> children;
  auto spawn = [&]() -> pid_t {
    int gate[2];
    if (::pipe(gate) != 0) return -1;
    pid_t pid = ::fork();
    if (pid == 0) {
      ::close(gate[1]);
      for (const Child& other : children) ::close(other.gate);  // only the parent ends a child
      ::alarm(10);  // bounded even if the test fails before closing the gate
      char c;
      [[maybe_unused]] ssize_t n = ::read(gate[0], &c, 1);
      ::_exit(0);
    }
    ::close(gate[0]);
    children.push_back({pid, gate[1]});
    return pid;
  };
  auto lookUp = [&](pid_t pid, bool& fresh) {
    int err = 0;
    auto e = cache->get(pid, err, fresh);
    EXPECT_NE(e, nullptr) << "task " << pid << ": " << std::strerror(err);
    return e != nullptr;
  };
  bool fresh = false;
  for (int i = 0; i < 16; ++i) {
    pid_t pid = spawn();
    ASSERT_GT(pid, 0);
    ASSERT_TRUE(lookUp(pid, fresh));
  }
  ASSERT_EQ(cache->size(), 16u) << "the budget is full";
  // The first child exits; its exit event is not consumed (the waiter thread has not run).
  ::close(children[0].gate);
  children[0].gate = -1;
  ::waitpid(children[0].pid, nullptr, 0);
  pollfd p{cache->exitFd(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 2000), 1) << "the exit did not reach the set within 2 s";
  const pid_t newcomer = spawn();
  ASSERT_GT(newcomer, 0);
  ASSERT_TRUE(lookUp(newcomer, fresh));
  EXPECT_TRUE(fresh);
  EXPECT_EQ(cache->size(), 16u);
  EXPECT_EQ(::poll(&p, 1, 0), 0) << "the exit was consumed";
  for (size_t i = 1; i < children.size(); ++i) {
    ASSERT_TRUE(lookUp(children[i].pid, fresh));
    EXPECT_FALSE(fresh) << "live task " << children[i].pid << " was dropped while an exited one was cached";
  }
  // All alive: a miss drops one live entry of its own and caches the new task.
  const pid_t last = spawn();
  ASSERT_GT(last, 0);
  ASSERT_TRUE(lookUp(last, fresh));
  EXPECT_TRUE(fresh);
  EXPECT_EQ(cache->size(), 16u);
  EXPECT_EQ(TaskCache::cachedInProcess(), 16u);
  ASSERT_TRUE(lookUp(last, fresh));
  EXPECT_FALSE(fresh) << "the new task was not cached";
  for (auto& c : children) {
    if (c.gate >= 0) ::close(c.gate);
    if (c.pid != children[0].pid) ::waitpid(c.pid, nullptr, 0);
  }
  cache.reset();
  EXPECT_EQ(TaskCache::cachedInProcess(), 0u);
}

TEST(BackendDeadlines, S13_10_DeadlinesExpireInTimeOrderAndNotAfterStop) {
  CallDeadlines d;
  std::mutex mu;
  std::vector<int> order;
  auto t0 = CallDeadlines::Clock::now();
  d.arm(t0 + std::chrono::milliseconds(120), [&] { std::lock_guard l(mu); order.push_back(2); });
  d.arm(t0 + std::chrono::milliseconds(40), [&] { std::lock_guard l(mu); order.push_back(1); });
  d.arm(t0 + std::chrono::seconds(30), [&] { std::lock_guard l(mu); order.push_back(3); });
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < deadline) {
    {
      std::lock_guard l(mu);
      if (order.size() >= 2) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_GE(CallDeadlines::Clock::now() - t0, std::chrono::milliseconds(120));
  d.stop();
  std::lock_guard l(mu);
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
  EXPECT_EQ(d.pending(), 0u);
}

// The decoder's SO_TYPE, SO_PROTOCOL and SO_COOKIE in one system call (net/uring_calls.h) say
// what getsockopt says, for each kind of socket it meets; with an error it says nothing.
TEST(BackendUringOptions, S13_2_SocketOptionsInOneCallAreGetsockopts) {
  struct Kind {
    int domain, type, protocol;
  };
  const Kind kinds[] = {{AF_INET, SOCK_STREAM, 0}, {AF_INET6, SOCK_STREAM, IPPROTO_TCP}, {AF_INET, SOCK_DGRAM, 0},
                        {AF_INET6, SOCK_DGRAM, IPPROTO_UDP}, {AF_UNIX, SOCK_STREAM, 0}, {AF_UNIX, SOCK_DGRAM, 0}};
  int batched = 0;
  for (const Kind& k : kinds) {
    const int fd = ::socket(k.domain, k.type | SOCK_CLOEXEC, k.protocol);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    int type = -1, protocol = -1;
    uint64_t cookie = 0;
    net::SocketOption options[] = {{SO_TYPE, &type, sizeof type},
                                   {SO_PROTOCOL, &protocol, sizeof protocol},
                                   {SO_COOKIE, &cookie, sizeof cookie}};
    if (net::UringSocketOptions::get(fd, options)) {
      ++batched;
      int wantType = 0, wantProtocol = 0;
      uint64_t wantCookie = 0;
      socklen_t len = sizeof wantType;
      ASSERT_EQ(::getsockopt(fd, SOL_SOCKET, SO_TYPE, &wantType, &len), 0);
      len = sizeof wantProtocol;
      ASSERT_EQ(::getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &wantProtocol, &len), 0);
      len = sizeof wantCookie;
      ASSERT_EQ(::getsockopt(fd, SOL_SOCKET, SO_COOKIE, &wantCookie, &len), 0);
      EXPECT_EQ(type, wantType) << "domain " << k.domain;
      EXPECT_EQ(protocol, wantProtocol) << "domain " << k.domain;
      EXPECT_EQ(cookie, wantCookie) << "domain " << k.domain;
      EXPECT_NE(cookie, 0u);
      EXPECT_EQ(options[0].len, sizeof(int));
      EXPECT_EQ(options[2].len, sizeof(uint64_t));
    }
    ::close(fd);
  }
  // An option the socket does not have: not done, so that the caller asks getsockopt (whose
  // errno it then gets); a socket's facts never stay unread.
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int value = 0, type = 0;
  net::SocketOption odd[] = {{-1, &value, sizeof value}, {SO_TYPE, &type, sizeof type}};
  EXPECT_FALSE(net::UringSocketOptions::get(fd, odd));
  ::close(fd);
  if (batched == 0) {
    // Not used here (no io_uring, a kernel before 6.7, or OPENWFP_IO_URING=0): the decoder makes
    // the getsockopt calls itself.
    std::printf("io_uring socket commands are not used here: the decoder makes three getsockopt calls\n");
  } else {
    EXPECT_EQ(batched, static_cast<int>(std::size(kinds)));
  }
}

TEST(BackendDeadlines, S13_10_SendTimeoutIsReadOnlyForBlockingSockets) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(sendTimeoutOf(fd).count(), 0);
  timeval tv{1, 250000};
  ASSERT_EQ(::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv), 0);
  EXPECT_NEAR(static_cast<double>(sendTimeoutOf(fd).count()), 1250000, 10000);  // kept in jiffies
  ::fcntl(fd, F_SETFL, O_NONBLOCK);
  EXPECT_EQ(sendTimeoutOf(fd).count(), 0) << "a non-blocking connect never waits";
  ::close(fd);
}

TEST(BackendTreeGuard, S13_8_ElfKindTellsI386AndX32FromX8664) {
  char tmpl[] = "/tmp/openwfp-elf-XXXXXX";
  int fd = ::mkstemp(tmpl);
  ASSERT_GE(fd, 0);
  auto write = [&](unsigned char cls, unsigned char machine) {
    unsigned char h[20] = {0x7f, 'E', 'L', 'F', cls, 1, 1};
    h[18] = machine;
    EXPECT_EQ(::pwrite(fd, h, sizeof h, 0), 20);
    return elfKind(tmpl);
  };
  EXPECT_EQ(write(1, 3), 32);     // i386
  EXPECT_EQ(write(1, 62), 0x32);  // x32
  EXPECT_EQ(write(2, 62), 64);    // x86-64
  EXPECT_EQ(write(1, 40), 0);     // 32-bit ARM: not ours to judge
  EXPECT_EQ(elfKind("/bin/sh"), 64);
  EXPECT_EQ(elfKind("/nonexistent/openwfp"), 0);
  ::close(fd);
  ::unlink(tmpl);
}

}  // namespace

// ---- S13.7: unconnected UDP, control messages, flows, bind privileges (no processes) ----
namespace {

RawSockaddr rawOf(const void* sa, uint32_t len) {
  RawSockaddr r;
  std::memcpy(r.bytes.data(), sa, len);
  r.len = len;
  return r;
}

}  // namespace

TEST(BackendDatagram, S13_7_UdpSendDestinationFollowsTheKernel) {
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_port = htons(53);
  in.sin_addr.s_addr = htonl(0x7f000009);
  int err = -1;
  auto d = udpSendDestination(rawOf(&in, sizeof in), AF_INET, err);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(err, 0);
  EXPECT_EQ(d->str(), "127.0.0.9:53");
  // AF_UNSPEC on an AF_INET socket is sent like AF_INET (udp_sendmsg): it must be classified.
  in.sin_family = AF_UNSPEC;
  d = udpSendDestination(rawOf(&in, sizeof in), AF_INET, err);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->str(), "127.0.0.9:53");
  // ... but on an AF_INET6 socket it means no name.
  d = udpSendDestination(rawOf(&in, sizeof in), AF_INET6, err);
  EXPECT_FALSE(d.has_value());
  EXPECT_EQ(err, 0);
  in.sin_family = AF_INET;
  d = udpSendDestination(rawOf(&in, 15), AF_INET, err);
  EXPECT_FALSE(d.has_value());
  EXPECT_EQ(err, EINVAL);
  // An AF_INET name on an AF_INET6 socket: its v4-mapped address.
  d = udpSendDestination(rawOf(&in, sizeof in), AF_INET6, err);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->str(), "[::ffff:127.0.0.9]:53");
  in.sin_family = AF_UNIX;
  d = udpSendDestination(rawOf(&in, sizeof in), AF_INET, err);
  EXPECT_EQ(err, EAFNOSUPPORT);
  d = udpSendDestination(RawSockaddr{}, AF_INET, err);
  EXPECT_FALSE(d.has_value());
  EXPECT_EQ(err, 0);
}

TEST(BackendDatagram, S13_7_OnlyListedControlMessagesPass) {
  auto one = [](int level, int type, size_t dataLen) {
    std::vector<uint8_t> buf(CMSG_SPACE(dataLen));
    auto* c = reinterpret_cast<cmsghdr*>(buf.data());
    c->cmsg_len = CMSG_LEN(dataLen);
    c->cmsg_level = level;
    c->cmsg_type = type;
    return buf;
  };
  EXPECT_EQ(checkControl(one(SOL_IP, IP_PKTINFO, sizeof(in_pktinfo))), 0);
  EXPECT_EQ(checkControl(one(SOL_IP, IP_TTL, sizeof(int))), 0);
  EXPECT_EQ(checkControl(one(SOL_IPV6, IPV6_TCLASS, sizeof(int))), 0);
  EXPECT_EQ(checkControl(one(SOL_UDP, 103 /* UDP_SEGMENT */, sizeof(uint16_t))), 0);
  EXPECT_EQ(checkControl(one(SOL_SOCKET, SO_MARK, sizeof(int))), EPERM);
  EXPECT_EQ(checkControl(one(SOL_SOCKET, SCM_RIGHTS, sizeof(int))), EPERM);
  EXPECT_EQ(checkControl(one(SOL_IP, IP_RETOPTS, 8)), EPERM);
  auto bad = one(SOL_IP, IP_TTL, sizeof(int));
  reinterpret_cast<cmsghdr*>(bad.data())->cmsg_len = bad.size() + 8;  // beyond the buffer
  EXPECT_EQ(checkControl(bad), EINVAL);
  // A listed message followed by a refused one: refused.
  auto both = one(SOL_IP, IP_TTL, sizeof(int));
  auto mark = one(SOL_SOCKET, SO_MARK, sizeof(int));
  both.insert(both.end(), mark.begin(), mark.end());
  EXPECT_EQ(checkControl(both), EPERM);
}

TEST(BackendFlows, S13_7_AFlowVerdictIsReusedAndDroppedWithItsSocket) {
  FlowCache cache;
  Endpoint a = *Endpoint::parse("127.0.0.9:53"), b = *Endpoint::parse("127.0.0.1:53");
  FlowVerdict blocked;
  blocked.blocked = true;
  blocked.blockErrno = ECONNREFUSED;
  FlowVerdict permitted;
  permitted.finalRemote = b;
  permitted.history = redirect::History::create();
  EXPECT_TRUE(cache.add(1, a, blocked).empty());
  EXPECT_TRUE(cache.add(1, b, permitted).empty());
  ASSERT_TRUE(cache.find(1, a).has_value());
  EXPECT_TRUE(cache.find(1, a)->blocked);
  EXPECT_FALSE(cache.find(1, b)->blocked);
  EXPECT_FALSE(cache.find(2, a).has_value());  // another socket: another flow
  // The socket is gone: its flows go, the permitted one's history is to be reported closed.
  auto closed = cache.keepOnly({}, FlowCache::Clock::now() + FlowCache::kGrace);
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0], permitted.history);
  EXPECT_FALSE(cache.find(1, b).has_value());
}

TEST(BackendFlows, S13_7_TheFlowCacheIsBounded) {
  FlowCache cache;
  FlowVerdict v;
  v.finalRemote = *Endpoint::parse("127.0.0.1:1");
  for (uint32_t i = 0; i < FlowCache::kFlowsPerSocket + 10; ++i) {
    Endpoint e = *Endpoint::parse("127.0.0.1:" + std::to_string(1000 + i));
    cache.add(7, e, v);
  }
  EXPECT_FALSE(cache.find(7, *Endpoint::parse("127.0.0.1:1000")).has_value());  // oldest went
  EXPECT_TRUE(cache.find(7, *Endpoint::parse("127.0.0.1:" + std::to_string(1009 + FlowCache::kFlowsPerSocket))).has_value());
  for (uint64_t s = 100; s < 100 + FlowCache::kSockets + 5; ++s) cache.add(s, v.finalRemote, v);
  EXPECT_EQ(cache.sockets(), FlowCache::kSockets);
}

TEST(BackendPrivileges, S13_7_BindServiceIsReadFromCapEff) {
  EXPECT_TRUE(Performer::hasBindService(uint64_t{1} << 10));
  EXPECT_FALSE(Performer::hasBindService(~(uint64_t{1} << 10)));
  EXPECT_EQ(Performer::bindPrivilegeCheck(::gettid(), 0), 0);      // port 0: never privileged
  EXPECT_EQ(Performer::bindPrivilegeCheck(::gettid(), 65535), 0);  // above the start
  pid_t tgid = 0;
  uint32_t euid = 0;
  uint64_t caps = 0;
  ASSERT_EQ(readTaskStatus(::gettid(), tgid, euid, &caps), 0);
  if (Performer::unprivilegedPortStart() > 80) {
    EXPECT_EQ(Performer::bindPrivilegeCheck(::gettid(), 80), Performer::hasBindService(caps) ? 0 : EACCES);
  }
}

TEST(BackendTaskCache, S13_9_StatusOfAGoneTaskIsEsrchAndOtherFailuresKeepTheirErrno) {
  pid_t tgid = 0;
  uint32_t euid = 0;
  EXPECT_EQ(readTaskStatus(0x3ffffff0, tgid, euid), ESRCH);  // beyond pid_max: no such task
  EXPECT_EQ(readTaskStatus(::getpid(), tgid, euid), 0);
  EXPECT_EQ(tgid, ::getpid());
}

namespace {

// The TCP state of the IPv4 socket from localPort to remotePort, from /proc/net/tcp, or -1.
// Both ports: a TIME_WAIT entry of an earlier connection may hold the same local port.
int procTcpState(uint16_t localPort, uint16_t remotePort) {
  std::FILE* f = std::fopen("/proc/net/tcp", "re");
  if (f == nullptr) return -1;
  char line[512];
  int state = -1;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    unsigned lport = 0, rport = 0, st = 0;
    if (std::sscanf(line, " %*d: %*8X:%4X %*8X:%4X %2X", &lport, &rport, &st) == 3 && lport == localPort &&
        rport == remotePort) {
      state = static_cast<int>(st);
    }
  }
  std::fclose(f);
  return state;
}

}  // namespace

TEST(BackendSockDiag, S5_6_TheListingLeavesOutTimeWaitSockets) {
  // The reaper's sock_diag dumps skip TIME_WAIT (tens of thousands after a burst of loopback
  // connections); a remembered connection in TIME_WAIT is ended by being missing (two scans).
  sockaddr_in sa{};
  const int listener = openwfp::testing::listenLoopbackAt(4, sa);
  ASSERT_GE(listener, 0) << std::strerror(errno);
  socklen_t len = 0;
  int client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_EQ(::connect(client, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  int accepted = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  ASSERT_GE(accepted, 0);
  sockaddr_in local{};
  len = sizeof local;
  ASSERT_EQ(::getsockname(client, reinterpret_cast<sockaddr*>(&local), &len), 0);
  const uint16_t port = ntohs(local.sin_port);
  const uint16_t serverPort = ntohs(sa.sin_port);
  uint64_t cookie = 0;
  socklen_t cookieLen = sizeof cookie;
  ASSERT_EQ(::getsockopt(client, SOL_SOCKET, SO_COOKIE, &cookie, &cookieLen), 0);
  auto listed = [&] {
    auto all = dumpSockets(AF_INET, IPPROTO_TCP);
    EXPECT_TRUE(all.has_value());
    return all && std::any_of(all->begin(), all->end(), [&](const DiagSocket& d) { return d.cookie == cookie; });
  };
  // A dump is not a snapshot: sockets made and closed meanwhile (other tests running at the same
  // time) shift the kernel's place in a hash chain, and it can step over a socket. The reaper
  // ends a connection only after two scans miss it; here one of five dumps must list it.
  bool seen = false;
  for (int attempt = 0; attempt < 5 && !seen; ++attempt) seen = listed();
  EXPECT_TRUE(seen) << "an established connection is listed (in none of 5 dumps)";
  ::close(client);  // the active close: the client's side ends in TIME_WAIT
  ::close(accepted);
  ::close(listener);
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (procTcpState(port, serverPort) != TCP_TIME_WAIT && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(procTcpState(port, serverPort), TCP_TIME_WAIT) << "the client's side did not reach TIME_WAIT within 5 s";
  EXPECT_FALSE(listed()) << "a TIME_WAIT socket is listed";
}

// ---- S5.6: the reapers of a process share their sock_diag dumps ----

// A listing that began before an entry was added does not count it missing: the socket may have
// connected after the walk passed its place, and a shared listing can be that old.
TEST(BackendTable, S5_6_AListingOlderThanAnEntryDoesNotCountItMissing) {
  ConnectionTable t;
  const auto t0 = ConnectionTable::Clock::now();
  t.add(info(30, "127.0.0.1:40030", "127.0.0.1:8080", true), t0);
  const auto later = t0 + ConnectionTable::kGrace + std::chrono::seconds(1);
  auto listed = [](ConnectionTable::Clock::time_point started) {
    ConnectionTable::Listings l;
    auto one = std::make_shared<const SocketListing>(started, std::vector<DiagSocket>{});
    for (auto& slot : l) slot = one;
    return l;
  };
  const auto older = listed(t0 - std::chrono::milliseconds(1));
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(t.applyScan(older, later).empty()) << "scan " << i;
  EXPECT_TRUE(t.findByCookie(30).has_value()) << "an older listing ended a connection";
  EXPECT_TRUE(t.applyScan(listed(t0 + std::chrono::milliseconds(1)), later).empty())
      << "one miss is not an end";
  EXPECT_EQ(t.applyScan(listed(t0 + std::chrono::milliseconds(2)), later).size(), 1u)
      << "missing from two newer listings: ended";
  EXPECT_FALSE(t.findByCookie(30).has_value());
}

TEST(BackendSockDiag, S5_6_ListingsAreSharedWhileInUseAndNeverOlderThanAsked) {
  std::atomic<int> calls{0};
  SharedSocketListings shared([&](int, int) -> std::optional<std::vector<DiagSocket>> {
    ++calls;
    return std::vector<DiagSocket>{diag(7, "127.0.0.1:1", "127.0.0.1:2", TCP_ESTABLISHED)};
  });
  const auto t0 = SharedSocketListings::Clock::now();
  auto a = shared.get(AF_INET, IPPROTO_TCP, t0);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(a->find(7), nullptr);
  EXPECT_EQ(a->find(8), nullptr);
  EXPECT_GE(a->started, t0);
  auto b = shared.get(AF_INET, IPPROTO_TCP, t0);
  EXPECT_EQ(a, b) << "a listing in use that began after t0 is shared";
  auto v6 = shared.get(AF_INET6, IPPROTO_TCP, t0);
  EXPECT_NE(v6, a) << "each (family, protocol) has its own";
  EXPECT_EQ(calls.load(), 2);
  auto c = shared.get(AF_INET, IPPROTO_TCP, a->started + std::chrono::nanoseconds(1));
  EXPECT_NE(c, a) << "a listing older than asked is not given";
  EXPECT_GT(c->started, a->started);
  EXPECT_EQ(calls.load(), 3);
  a.reset();
  b.reset();
  c.reset();
  auto d = shared.get(AF_INET, IPPROTO_TCP, t0);
  EXPECT_EQ(calls.load(), 4) << "a listing nobody uses is not kept";
  EXPECT_EQ(shared.dumps(), 4u);
}

TEST(BackendSockDiag, S5_6_CallersDuringADumpWaitForItAndShareIt) {
  std::mutex mu;
  std::condition_variable cv;
  bool entered = false, release = false;
  std::atomic<int> calls{0};
  SharedSocketListings shared([&](int, int) -> std::optional<std::vector<DiagSocket>> {
    std::unique_lock lock(mu);
    ++calls;
    entered = true;
    cv.notify_all();
    cv.wait_for(lock, std::chrono::seconds(10), [&] { return release; });
    return std::vector<DiagSocket>{};
  });
  const auto t0 = SharedSocketListings::Clock::now();
  std::shared_ptr<const SocketListing> first, second, third;
  std::thread dumper([&] { first = shared.get(AF_INET, IPPROTO_TCP, t0); });
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(5), [&] { return entered; }))
        << "the dump did not start within 5 s";
  }
  std::thread waiter1([&] { second = shared.get(AF_INET, IPPROTO_TCP, t0); });
  std::thread waiter2([&] { third = shared.get(AF_INET, IPPROTO_TCP, t0); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // let them reach the wait
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  dumper.join();
  waiter1.join();
  waiter2.join();
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first, second);
  EXPECT_EQ(first, third);
  EXPECT_EQ(calls.load(), 1) << "the callers during the dump made their own";
}

TEST(BackendSockDiag, S5_6_AFailedDumpIsNullAndNotShared) {
  std::atomic<int> calls{0};
  SharedSocketListings shared([&](int, int) -> std::optional<std::vector<DiagSocket>> {
    ++calls;
    return std::nullopt;
  });
  const auto t0 = SharedSocketListings::Clock::now();
  EXPECT_EQ(shared.get(AF_INET, IPPROTO_UDP, t0), nullptr);
  EXPECT_EQ(shared.get(AF_INET, IPPROTO_UDP, t0), nullptr);
  EXPECT_EQ(calls.load(), 2);
}

// A periodic and an on-demand scan can apply one shared listing: it counts a miss once.
TEST(BackendTable, S5_6_OneListingAppliedTwiceCountsOneMiss) {
  ConnectionTable t;
  const auto t0 = ConnectionTable::Clock::now();
  t.add(info(31, "127.0.0.1:40031", "127.0.0.1:8080", true), t0);
  const auto later = t0 + ConnectionTable::kGrace + std::chrono::seconds(1);
  auto listed = [&] {
    ConnectionTable::Listings l;
    auto one = std::make_shared<const SocketListing>(t0 + std::chrono::milliseconds(1),
                                                     std::vector<DiagSocket>{});
    for (auto& slot : l) slot = one;
    return l;
  };
  const auto first = listed();
  EXPECT_TRUE(t.applyScan(first, later).empty());
  EXPECT_TRUE(t.applyScan(first, later).empty()) << "the same listing counted a second miss";
  EXPECT_TRUE(t.findByCookie(31).has_value());
  EXPECT_EQ(t.applyScan(listed(), later).size(), 1u) << "a second listing misses it too: ended";
}

// An entry made after a listing began is not judged by it at all: no tuple from it either (a
// UDP socket connected again would get its old peer).
TEST(BackendTable, S5_6_AListingOlderThanAnEntryGivesItNoTuple) {
  ConnectionTable t;
  const auto t0 = ConnectionTable::Clock::now();
  t.add(info(32, "0.0.0.0:0", "127.0.0.1:5300", false, Protocol::Udp), t0);
  ConnectionTable::Listings l;
  auto old = std::make_shared<const SocketListing>(
      t0 - std::chrono::milliseconds(1),
      std::vector<DiagSocket>{diag(32, "127.0.0.1:40032", "127.0.0.1:5299", TCP_ESTABLISHED)});
  for (auto& slot : l) slot = old;
  EXPECT_TRUE(t.applyScan(l, t0).empty());
  EXPECT_FALSE(t.find(ep("127.0.0.1:40032"), ep("127.0.0.1:5299")).has_value())
      << "the tuple came from a listing older than the entry";
  auto fresh = std::make_shared<const SocketListing>(
      t0 + std::chrono::milliseconds(1),
      std::vector<DiagSocket>{diag(32, "127.0.0.1:40032", "127.0.0.1:5300", TCP_ESTABLISHED)});
  for (auto& slot : l) slot = fresh;
  EXPECT_TRUE(t.applyScan(l, t0).empty());
  EXPECT_TRUE(t.find(ep("127.0.0.1:40032"), ep("127.0.0.1:5300")).has_value());
}

TEST(BackendSockDiag, S5_6_ADumpThatThrowsFreesItsSlot) {
  std::atomic<int> calls{0};
  SharedSocketListings shared([&](int, int) -> std::optional<std::vector<DiagSocket>> {
    if (++calls == 1) throw std::bad_alloc();
    return std::vector<DiagSocket>{};
  });
  const auto t0 = SharedSocketListings::Clock::now();
  EXPECT_THROW(shared.get(AF_INET, IPPROTO_TCP, t0), std::bad_alloc);
  auto next = std::async(std::launch::async, [&] { return shared.get(AF_INET, IPPROTO_TCP, t0); });
  ASSERT_EQ(next.wait_for(std::chrono::seconds(5)), std::future_status::ready)
      << "a get after a throwing dump waited for it (5 s)";
  EXPECT_NE(next.get(), nullptr);
  EXPECT_EQ(calls.load(), 2);
}

// A UDP socket is listed only once its first datagram has bound it, after its flow was
// classified: a listing does not drop the flows of a socket cached just before it began.
TEST(BackendFlows, S5_6_AListingDropsOnlyFlowsCachedAGraceBeforeIt) {
  FlowCache cache;
  const auto t0 = FlowCache::Clock::now();
  FlowVerdict permitted;
  permitted.finalRemote = ep("127.0.0.1:5301");
  permitted.history = redirect::History::create();
  EXPECT_TRUE(cache.add(41, ep("127.0.0.1:5301"), permitted, t0).empty());
  EXPECT_TRUE(cache.keepOnly({}, t0 + std::chrono::milliseconds(5)).empty())
      << "a socket not yet bound (not listed) lost its flows";
  EXPECT_TRUE(cache.find(41, ep("127.0.0.1:5301")).has_value());
  auto closed = cache.keepOnly({}, t0 + FlowCache::kGrace);
  ASSERT_EQ(closed.size(), 1u) << "a socket missing from a listing a grace later is gone";
  EXPECT_EQ(closed[0], permitted.history);
  EXPECT_TRUE(cache.empty());
}

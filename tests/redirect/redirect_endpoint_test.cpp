// openwfp::Endpoint (include/openwfp/stack.h): text form, address classes. Text comes from
// policy files and the command line, so parse() must refuse anything malformed (S12.4).
#include <gtest/gtest.h>

#include "openwfp/stack.h"

namespace openwfp {
namespace {

std::array<uint8_t, 16> bytes(std::initializer_list<uint8_t> head, std::initializer_list<uint8_t> tail = {}) {
  std::array<uint8_t, 16> a{};
  size_t i = 0;
  for (uint8_t b : head) a[i++] = b;
  i = 16 - tail.size();
  for (uint8_t b : tail) a[i++] = b;
  return a;
}

TEST(RedirectEndpoint, S12_4_V4ConstructorAndHostOrder) {
  const Endpoint e = Endpoint::v4(0xc0a80102, 8080);
  EXPECT_EQ(e.version, IpVersion::V4);
  EXPECT_EQ(e.addr[0], 192);
  EXPECT_EQ(e.addr[1], 168);
  EXPECT_EQ(e.addr[2], 1);
  EXPECT_EQ(e.addr[3], 2);
  EXPECT_EQ(e.port, 8080);
  EXPECT_EQ(e.v4HostOrder(), 0xc0a80102u);
  EXPECT_EQ(e.str(), "192.168.1.2:8080");
}

TEST(RedirectEndpoint, S12_4_ParsesV4) {
  auto e = Endpoint::parse("127.0.0.1:80");
  ASSERT_TRUE(e);
  EXPECT_EQ(*e, Endpoint::v4(0x7f000001, 80));
  EXPECT_EQ(Endpoint::parse("0.0.0.0:0"), Endpoint::v4(0, 0));
  EXPECT_EQ(Endpoint::parse("255.255.255.255:65535"), Endpoint::v4(0xffffffff, 65535));
}

TEST(RedirectEndpoint, S12_4_ParsesV6) {
  EXPECT_EQ(Endpoint::parse("[::1]:443"), Endpoint::v6(bytes({}, {0, 1}), 443));
  EXPECT_EQ(Endpoint::parse("[::]:1"), Endpoint::v6(bytes({}), 1));
  EXPECT_EQ(Endpoint::parse("[2001:DB8::8:800:200c:417a]:5"),
            Endpoint::v6(bytes({0x20, 0x01, 0x0d, 0xb8}, {0, 8, 8, 0, 0x20, 0x0c, 0x41, 0x7a}), 5));
  EXPECT_EQ(Endpoint::parse("[1:2:3:4:5:6:7:8]:9"),
            Endpoint::v6(bytes({0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8}), 9));
  EXPECT_EQ(Endpoint::parse("[1::]:9"), Endpoint::v6(bytes({0, 1}), 9));
  EXPECT_EQ(Endpoint::parse("[::ffff:127.0.0.1]:80"), Endpoint::v6(bytes({}, {0xff, 0xff, 127, 0, 0, 1}), 80));
  EXPECT_EQ(Endpoint::parse("[1:2:3:4:5:6:1.2.3.4]:80"),
            Endpoint::v6(bytes({0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 1, 2, 3, 4}), 80));
}

TEST(RedirectEndpoint, S12_4_RefusesMalformedText) {
  for (const char* bad :
       {"", ":", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:8x", "127.0.0.1:123456",
        "127.0.0:80", "127.0.0.1.1:80", "256.0.0.1:80", "01.2.3.4:80", "1..2.3:80", " 1.2.3.4:80", "1.2.3.4 :80",
        "a.b.c.d:80", "::1:80", "[::1]", "[::1]80", "[::1]:", "[::1:80", "::1]:80", "[:::1]:80", "[1::2::3]:80",
        "[12345::]:80", "[1:2:3:4:5:6:7:8:9]:80", "[1:2:3:4:5:6:7]:80", "[1:2:3:4:5:6:7::8]:80", "[g::]:80",
        "[::1%eth0]:80", "[1.2.3.4::]:80", "[::1.2.3]:80", "[::1.2.3.4.5]:80", "[1:2:3:4:5:6:7:1.2.3.4]:80",
        "[:1::]:80", "[1:]:80", "[::1]:99999", "1.2.3.4:+80"}) {
    EXPECT_FALSE(Endpoint::parse(bad)) << '"' << bad << '"';
  }
}

TEST(RedirectEndpoint, S12_4_StrWritesCanonicalTextThatParsesBack) {
  const std::pair<const char*, const char*> cases[] = {
      {"[::1]:443", "[::1]:443"},
      {"[::]:0", "[::]:0"},
      {"[2001:DB8:0:0:8:800:200C:417A]:1", "[2001:db8::8:800:200c:417a]:1"},
      {"[1:0:0:2:0:0:0:3]:1", "[1:0:0:2::3]:1"},     // longest zero run is compressed
      {"[1:0:0:2:0:0:3:4]:1", "[1::2:0:0:3:4]:1"},   // first one on a tie
      {"[1:0:2:3:4:5:6:7]:1", "[1:0:2:3:4:5:6:7]:1"},  // a single zero group stays
      {"[::ffff:7f00:1]:80", "[::ffff:127.0.0.1]:80"},
      {"[1:2:3:4:5:6:7:8]:65535", "[1:2:3:4:5:6:7:8]:65535"},
      {"10.0.0.1:5", "10.0.0.1:5"},
  };
  for (const auto& [in, want] : cases) {
    auto e = Endpoint::parse(in);
    ASSERT_TRUE(e) << in;
    EXPECT_EQ(e->str(), want) << in;
    EXPECT_EQ(Endpoint::parse(e->str()), e) << in;
  }
}

TEST(RedirectEndpoint, S12_4_AddressClasses) {
  EXPECT_TRUE(Endpoint::parse("127.0.0.1:1")->isLoopback());
  EXPECT_TRUE(Endpoint::parse("127.255.1.2:1")->isLoopback());
  EXPECT_FALSE(Endpoint::parse("128.0.0.1:1")->isLoopback());
  EXPECT_TRUE(Endpoint::parse("[::1]:1")->isLoopback());
  EXPECT_FALSE(Endpoint::parse("[::2]:1")->isLoopback());
  EXPECT_FALSE(Endpoint::parse("[1::1]:1")->isLoopback());
  EXPECT_TRUE(Endpoint::parse("[::ffff:127.1.2.3]:1")->isLoopback());
  EXPECT_FALSE(Endpoint::parse("[::ffff:10.0.0.1]:1")->isLoopback());

  EXPECT_TRUE(Endpoint::parse("0.0.0.0:80")->isUnspecified());
  EXPECT_TRUE(Endpoint::parse("[::]:80")->isUnspecified());
  EXPECT_FALSE(Endpoint::parse("0.0.0.1:80")->isUnspecified());
  EXPECT_FALSE(Endpoint::parse("[::1]:80")->isUnspecified());
  EXPECT_TRUE(Endpoint{}.isUnspecified());

  EXPECT_TRUE(Endpoint::parse("[::ffff:1.2.3.4]:1")->isV4Mapped());
  EXPECT_FALSE(Endpoint::parse("[::fffe:1.2.3.4]:1")->isV4Mapped());
  EXPECT_FALSE(Endpoint::parse("[1::ffff:1.2.3.4]:1")->isV4Mapped());
  EXPECT_FALSE(Endpoint::parse("1.2.3.4:1")->isV4Mapped());
}

}  // namespace
}  // namespace openwfp

// The upstream's refusal becomes the application's connect errno (SPEC S17.2, docs/policy.md).
#include <gtest/gtest.h>

#include <cerrno>

#include "proxy/upstream.h"

using namespace openwfp::proxy;

TEST(UpstreamErrno, S17_2_Socks5RepliesMapToConnectErrnos) {
  EXPECT_EQ(socks5ReplyErrno(0), 0);
  EXPECT_EQ(socks5ReplyErrno(1), ECONNREFUSED);
  EXPECT_EQ(socks5ReplyErrno(2), EACCES);
  EXPECT_EQ(socks5ReplyErrno(3), ENETUNREACH);
  EXPECT_EQ(socks5ReplyErrno(4), EHOSTUNREACH);
  EXPECT_EQ(socks5ReplyErrno(5), ECONNREFUSED);
  EXPECT_EQ(socks5ReplyErrno(6), ETIMEDOUT);
  EXPECT_EQ(socks5ReplyErrno(7), EPROTO);
  EXPECT_EQ(socks5ReplyErrno(8), EPROTO);
  EXPECT_EQ(socks5ReplyErrno(0x42), EPROTO);
}

TEST(UpstreamErrno, S17_2_HttpStatusesMapToConnectErrnos) {
  EXPECT_EQ(httpStatusErrno(200), 0);
  EXPECT_EQ(httpStatusErrno(403), EACCES);
  EXPECT_EQ(httpStatusErrno(407), EACCES);
  EXPECT_EQ(httpStatusErrno(502), ECONNREFUSED);
  EXPECT_EQ(httpStatusErrno(503), ENETUNREACH);
  EXPECT_EQ(httpStatusErrno(504), ETIMEDOUT);
  EXPECT_EQ(httpStatusErrno(500), ECONNREFUSED);
}

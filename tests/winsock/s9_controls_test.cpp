// SPEC S9 (proxy-side socket controls) and S12.1 (only the redirect target may query), through
// openwfp_ioctl and the WSAIoctl shim, on simulated sockets decided by a scriptable classifier,
// and on plain OS sockets (the fallback backend).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "openwfp/sim.h"
#include "openwfp/winsock.h"
#include "redirect/records.h"
#include "support/sim_fake_classifier.h"

using openwfp::ConnectRequest;
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

constexpr uint32_t kProxyPid = 777;
const std::string kContext = "original=192.0.2.80:80";

// openwfp_ioctl returning 0 or the errno it set (and checking the -1 convention).
int ioctlErr(int fd, unsigned code, const void* in, size_t inLen, void* out, size_t outLen,
             size_t* returned) {
  errno = 0;
  const int rc = openwfp_ioctl(fd, code, in, inLen, out, outLen, returned);
  if (rc == 0) return 0;
  EXPECT_EQ(rc, -1);
  return errno;
}

int queryErr(int fd, unsigned code, void* out, size_t outLen, size_t* returned) {
  return ioctlErr(fd, code, nullptr, 0, out, outLen, returned);
}

int wsaErr(SOCKET s, DWORD code, void* in, DWORD inLen, void* out, DWORD outLen,
           DWORD* returned) {
  WSASetLastError(0);
  const int rc = WSAIoctl(s, code, in, inLen, out, outLen, returned, nullptr, nullptr);
  if (rc == 0) return 0;
  EXPECT_EQ(rc, SOCKET_ERROR);
  return WSAGetLastError();
}

class S9Controls : public ::testing::Test {
 protected:
  void SetUp() override {
    Runtime::reset();
    fake.onConnect = [this](const ConnectRequest& r) {
      // Like a redirect callout: connects that carry records (the proxy's own) are left alone.
      if (r.remote == original && !r.proxiedRecords) {
        return redirectVerdict(r, proxyAt, targetPid, 0x101, context);
      }
      return permitVerdict(r);
    };
    listener = proxy.socket(IpVersion::V4, Protocol::Tcp);
    ASSERT_EQ(proxy.bind(listener, proxyAt), 0);
    ASSERT_EQ(proxy.listen(listener), 0);
    serverListener = server.socket(IpVersion::V4, Protocol::Tcp);
    ASSERT_EQ(server.bind(serverListener, original), 0);
    ASSERT_EQ(server.listen(serverListener), 0);
  }

  // The client connects to the original destination, the callout redirects it to the proxy,
  // the proxy accepts: returns the accepted fd (owned by the proxy).
  int redirectedAccept() {
    clientFd = client.socket(IpVersion::V4, Protocol::Tcp);
    const sim::ConnectResult r = client.connect(clientFd, original);
    EXPECT_TRUE(r.ok()) << r.error;
    EXPECT_TRUE(r.redirected);
    const sim::AcceptResult a = proxy.accept(listener);
    EXPECT_TRUE(a.ok());
    return a.fd;
  }

  std::vector<uint8_t> queryRecords(int fd) {
    size_t need = 0;
    EXPECT_EQ(queryErr(fd, SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS, nullptr, 0, &need), ENOBUFS);
    std::vector<uint8_t> records(need);
    size_t got = 0;
    EXPECT_EQ(queryErr(fd, SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS, records.data(),
                       records.size(), &got),
              0);
    EXPECT_EQ(got, need);
    return records;
  }

  const openwfp::redirect::RecordsSealer& sealer() { return Runtime::current().sealer(); }

  const Endpoint original = ep("192.0.2.80:80");
  const Endpoint proxyAt = ep("127.0.0.1:8080");
  uint32_t targetPid = kProxyPid;
  std::string context = kContext;
  FakeClassifier fake;
  sim::Stack stack{fake};
  sim::Process& client = stack.process(4242, "/usr/bin/curl", 1000);
  sim::Process& proxy = stack.process(kProxyPid, "/usr/sbin/proxy", 0);
  sim::Process& server = stack.remoteHost("192.0.2.80");
  int listener = -1;
  int serverListener = -1;
  int clientFd = -1;
};

// ---- S9.1 records ---------------------------------------------------------------------------

TEST_F(S9Controls, S9_1_QueryRecordsOnTheAcceptedSocketReturnsTheSealedRecords) {
  const int a = redirectedAccept();
  const auto history = proxy.connection(a)->history;
  ASSERT_NE(history, nullptr);

  size_t need = 12345;
  EXPECT_EQ(queryErr(a, SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS, nullptr, 0, &need), ENOBUFS);
  EXPECT_EQ(need, sealer().sealedSize(*history));
  std::vector<uint8_t> shortBuf(need - 1, 0xAA);
  size_t got = 0;
  EXPECT_EQ(queryErr(a, SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS, shortBuf.data(),
                     shortBuf.size(), &got),
            ENOBUFS);
  EXPECT_EQ(got, need);
  EXPECT_EQ(shortBuf, std::vector<uint8_t>(need - 1, 0xAA)) << "nothing written";

  std::vector<uint8_t> records(need + 16, 0);
  ASSERT_EQ(queryErr(a, SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS, records.data(),
                     records.size(), &got),
            0);
  ASSERT_EQ(got, need);
  records.resize(got);
  EXPECT_EQ(records, sealer().seal(*history));
  EXPECT_EQ(sealer().open(records), history) << "the records name the live connection history";
  // returned may be NULL.
  EXPECT_EQ(queryErr(a, SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS, records.data(),
                     records.size(), nullptr),
            0);
}

TEST_F(S9Controls, S9_1_WsaIoctlSizeProbeAndQuery) {
  const int a = redirectedAccept();
  DWORD need = 0;
  EXPECT_EQ(wsaErr(a, SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS, nullptr, 0, nullptr, 0, &need),
            ERROR_INSUFFICIENT_BUFFER);
  EXPECT_GT(need, 0u);
  std::vector<uint8_t> records(need);
  DWORD got = 0;
  EXPECT_EQ(wsaErr(a, SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS, nullptr, 0, records.data(),
                   need, &got),
            0);
  EXPECT_EQ(got, need);
  EXPECT_NE(sealer().open(records), nullptr);
}

// ---- S9.2 context ---------------------------------------------------------------------------

TEST_F(S9Controls, S9_2_QueryContextReturnsACopyOfTheCalloutsContext) {
  const int a = redirectedAccept();
  size_t need = 0;
  EXPECT_EQ(queryErr(a, SIO_QUERY_WFP_CONNECTION_REDIRECT_CONTEXT, nullptr, 0, &need), ENOBUFS);
  EXPECT_EQ(need, kContext.size());
  std::string shortBuf(need - 1, '#');
  EXPECT_EQ(queryErr(a, SIO_QUERY_WFP_CONNECTION_REDIRECT_CONTEXT, shortBuf.data(),
                     shortBuf.size(), &need),
            ENOBUFS);
  EXPECT_EQ(shortBuf, std::string(kContext.size() - 1, '#'));
  std::string got(64, '\0');
  size_t n = 0;
  ASSERT_EQ(queryErr(a, SIO_QUERY_WFP_CONNECTION_REDIRECT_CONTEXT, got.data(), got.size(), &n), 0);
  got.resize(n);
  EXPECT_EQ(got, kContext);

  DWORD wsaNeed = 0;
  EXPECT_EQ(wsaErr(a, SIO_QUERY_WFP_CONNECTION_REDIRECT_CONTEXT, nullptr, 0, nullptr, 0, &wsaNeed),
            ERROR_INSUFFICIENT_BUFFER);
  EXPECT_EQ(wsaNeed, kContext.size());
}

TEST_F(S9Controls, S9_2_NoContextIsNotFound) {
  context.clear();
  const int a = redirectedAccept();
  char buf[64];
  size_t n = 99;
  EXPECT_EQ(queryErr(a, SIO_QUERY_WFP_CONNECTION_REDIRECT_CONTEXT, buf, sizeof buf, &n), ENOENT);
  DWORD w = 0;
  EXPECT_EQ(wsaErr(a, SIO_QUERY_WFP_CONNECTION_REDIRECT_CONTEXT, nullptr, 0, buf, sizeof buf, &w),
            OPENWFP_WSA_NOT_FOUND);
  EXPECT_EQ(static_cast<uint32_t>(OPENWFP_WSA_NOT_FOUND), 0x80320008u);
  // The records are still there.
  EXPECT_FALSE(queryRecords(a).empty());
}

// ---- S9.3 errors ----------------------------------------------------------------------------

TEST_F(S9Controls, S9_3_ConnectionThatWasNotRedirectedIsNotFound) {
  const int l = proxy.socket(IpVersion::V4, Protocol::Tcp);
  ASSERT_EQ(proxy.bind(l, ep("127.0.0.1:9090")), 0);
  ASSERT_EQ(proxy.listen(l), 0);
  const int s = client.socket(IpVersion::V4, Protocol::Tcp);
  ASSERT_TRUE(client.connect(s, ep("127.0.0.1:9090")).ok());
  const int a = proxy.accept(l).fd;
  char buf[512];
  size_t n = 0;
  EXPECT_EQ(queryErr(a, SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS, buf, sizeof buf, &n), ENOENT);
  EXPECT_EQ(queryErr(a, SIO_QUERY_WFP_CONNECTION_REDIRECT_CONTEXT, buf, sizeof buf, &n), ENOENT);
  DWORD w = 0;
  EXPECT_EQ(wsaErr(a, SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS, nullptr, 0, buf, sizeof buf, &w),
            OPENWFP_WSA_NOT_FOUND);
}

TEST_F(S9Controls, S9_3_ListeningUnconnectedOrConnectingSocketIsNotConnected) {
  char buf[512];
  size_t n = 0;
  DWORD w = 0;
  // The listening socket is the classic mistake: query the accepted one.
  redirectedAccept();
  EXPECT_EQ(queryErr(listener, SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS, buf, sizeof buf, &n),
            ENOTCONN);
  EXPECT_EQ(wsaErr(listener, SIO_QUERY_WFP_CONNECTION_REDIRECT_CONTEXT, nullptr, 0, buf,
                   sizeof buf, &w),
            WSAENOTCONN);
  const int fresh = proxy.socket(IpVersion::V4, Protocol::Tcp);
  EXPECT_EQ(queryErr(fresh, SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS, buf, sizeof buf, &n),
            ENOTCONN);
  fake.setPend(true);
  const int s = proxy.socket(IpVersion::V4, Protocol::Tcp);
  sim::PendingConnect pc = proxy.connectAsync(s, original);
  EXPECT_EQ(queryErr(s, SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS, buf, sizeof buf, &n), ENOTCONN);
  fake.complete();
  EXPECT_EQ(pc.wait().error, 0);
}

TEST_F(S9Controls, S9_3_SomethingThatIsNotASocketIsNotSock) {
  int pipeFds[2];
  ASSERT_EQ(pipe(pipeFds), 0);
  char buf[64];
  size_t n = 0;
  DWORD w = 0;
  EXPECT_EQ(queryErr(pipeFds[0], SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS, buf, sizeof buf, &n),
            ENOTSOCK);
  EXPECT_EQ(wsaErr(pipeFds[0], SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS, nullptr, 0, buf,
                   sizeof buf, &w),
            WSAENOTSOCK);
  EXPECT_EQ(ioctlErr(pipeFds[1], SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS, buf, sizeof buf,
                     nullptr, 0, &n),
            ENOTSOCK);
  close(pipeFds[0]);
  close(pipeFds[1]);
  // A closed sim socket is no socket any more.
  const int s = client.socket(IpVersion::V4, Protocol::Tcp);
  ASSERT_EQ(client.close(s), 0);
  EXPECT_EQ(queryErr(s, SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS, buf, sizeof buf, &n), ENOTSOCK);
  EXPECT_EQ(wsaErr(INVALID_SOCKET, SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS, nullptr, 0, buf,
                   sizeof buf, &w),
            WSAENOTSOCK);
}

TEST_F(S9Controls, S9_3_PlainOsSocketsAnswerNotConnectedOrNotFound) {
  // Real loopback sockets that openwfp never saw: the fallback backend describes them.
  const int lfd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(lfd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(lfd, 1), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const int cfd = socket(AF_INET, SOCK_STREAM, 0);
  char buf[64];
  size_t n = 0;
  EXPECT_EQ(queryErr(cfd, SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS, buf, sizeof buf, &n), ENOTCONN);
  EXPECT_EQ(queryErr(lfd, SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS, buf, sizeof buf, &n), ENOTCONN);
  ASSERT_EQ(connect(cfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  const int afd = accept(lfd, nullptr, nullptr);
  ASSERT_GE(afd, 0);
  EXPECT_EQ(queryErr(afd, SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS, buf, sizeof buf, &n), ENOENT);
  EXPECT_EQ(queryErr(afd, SIO_QUERY_WFP_CONNECTION_REDIRECT_CONTEXT, buf, sizeof buf, &n), ENOENT);
  close(afd);
  close(cfd);
  close(lfd);
}

TEST_F(S9Controls, S9_3_UnknownCodeAndWinsockArgumentErrors) {
  const int a = redirectedAccept();
  char buf[512];
  size_t n = 0;
  DWORD w = 0;
  EXPECT_EQ(queryErr(a, 0x980000FFu, buf, sizeof buf, &n), EOPNOTSUPP);
  EXPECT_EQ(wsaErr(a, 0x980000FFu, nullptr, 0, buf, sizeof buf, &w), WSAEOPNOTSUPP);
  // lpcbBytesReturned is required; completion routines are not supported.
  EXPECT_EQ(WSAIoctl(a, SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS, nullptr, 0, buf, sizeof buf,
                     nullptr, nullptr, nullptr),
            SOCKET_ERROR);
  EXPECT_EQ(WSAGetLastError(), WSAEFAULT);
  auto routine = [](DWORD, DWORD, LPWSAOVERLAPPED, DWORD) {};
  EXPECT_EQ(WSAIoctl(a, SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS, nullptr, 0, buf, sizeof buf,
                     &w, nullptr, routine),
            SOCKET_ERROR);
  EXPECT_EQ(WSAGetLastError(), WSAEOPNOTSUPP);
  // A successful call leaves the last error alone; errno is untouched by WSAIoctl.
  WSASetLastError(1234);
  errno = 77;
  EXPECT_EQ(WSAIoctl(a, SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS, nullptr, 0, buf, sizeof buf,
                     &w, nullptr, nullptr),
            0);
  EXPECT_EQ(WSAGetLastError(), 1234);
  EXPECT_EQ(errno, 77);
}

// ---- S12.1 caller check ---------------------------------------------------------------------

TEST_F(S9Controls, S12_1_OnlyTheRedirectTargetProcessMayQuery) {
  redirectedAccept();
  // The client's own end of the same connection: the client is not the target PID.
  char buf[512];
  size_t n = 0;
  DWORD w = 0;
  EXPECT_EQ(queryErr(clientFd, SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS, buf, sizeof buf, &n),
            EACCES);
  EXPECT_EQ(queryErr(clientFd, SIO_QUERY_WFP_CONNECTION_REDIRECT_CONTEXT, buf, sizeof buf, &n),
            EACCES);
  EXPECT_EQ(wsaErr(clientFd, SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS, nullptr, 0, buf,
                   sizeof buf, &w),
            WSAEACCES);
}

TEST_F(S9Controls, S12_1_AcceptingProcessThatIsNotTheTargetIsRefused) {
  targetPid = 999;  // the callout named another process as the target
  const int a = redirectedAccept();
  char buf[512];
  size_t n = 0;
  EXPECT_EQ(queryErr(a, SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS, buf, sizeof buf, &n), EACCES);
  EXPECT_EQ(queryErr(a, SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS, nullptr, 0, &n), EACCES)
      << "a size probe tells a stranger nothing either";
  EXPECT_EQ(queryErr(a, SIO_QUERY_WFP_CONNECTION_REDIRECT_CONTEXT, buf, sizeof buf, &n), EACCES);
}

// ---- S9.4 SIO_SET ---------------------------------------------------------------------------

TEST_F(S9Controls, S9_4_SetRecordsBeforeConnectClassifiesTheConnectWithThem) {
  const int a = redirectedAccept();
  const auto history = proxy.connection(a)->history;
  const std::vector<uint8_t> records = queryRecords(a);

  const int out = proxy.socket(IpVersion::V4, Protocol::Tcp);
  size_t n = 99;
  ASSERT_EQ(ioctlErr(out, SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS, records.data(), records.size(),
                     nullptr, 0, &n),
            0);
  EXPECT_EQ(n, 0u);
  const sim::ConnectResult r = proxy.connect(out, original);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_FALSE(r.redirected) << "the fake, like a callout, leaves connects with records alone";
  const auto connects = fake.connects();
  ASSERT_EQ(connects.size(), 2u);
  EXPECT_EQ(connects[1].process.pid, kProxyPid);
  EXPECT_EQ(connects[1].proxiedRecords, history) << "the live history of the proxied connection";
  EXPECT_TRUE(server.accept(serverListener).ok());
  // Without SIO_SET a connect carries no records.
  const int plain = proxy.socket(IpVersion::V4, Protocol::Tcp);
  proxy.connect(plain, ep("127.0.0.1:8080"));
  EXPECT_EQ(fake.connects().back().proxiedRecords, nullptr);
}

TEST_F(S9Controls, S9_4_SetThroughWsaIoctl) {
  const int a = redirectedAccept();
  std::vector<uint8_t> records = queryRecords(a);
  const int out = proxy.socket(IpVersion::V4, Protocol::Tcp);
  DWORD w = 5;
  ASSERT_EQ(wsaErr(out, SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS, records.data(),
                   static_cast<DWORD>(records.size()), nullptr, 0, &w),
            0);
  EXPECT_EQ(w, 0u);
  ASSERT_TRUE(proxy.connect(out, original).ok());
  EXPECT_NE(fake.connects().back().proxiedRecords, nullptr);
  EXPECT_EQ(wsaErr(out, SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS, records.data(),
                   static_cast<DWORD>(records.size()), nullptr, 0, &w),
            WSAEISCONN);
}

// S14.9: records are bound to the process they were issued to (the target PID of their newest
// redirect). The application, or any process that got hold of them, cannot SIO_SET them to make
// its own connect look like the proxy's (REDIRECTED_BY_SELF: it would go direct).
TEST_F(S9Controls, S14_9_RecordsSetByAnotherProcessFailWithEacces) {
  const int a = redirectedAccept();
  std::vector<uint8_t> records = queryRecords(a);
  const size_t connectsBefore = fake.connects().size();
  const int mine = client.socket(IpVersion::V4, Protocol::Tcp);
  size_t n = 99;
  EXPECT_EQ(ioctlErr(mine, SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS, records.data(), records.size(),
                     nullptr, 0, &n),
            EACCES);
  DWORD w = 0;
  EXPECT_EQ(wsaErr(mine, SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS, records.data(),
                   static_cast<DWORD>(records.size()), nullptr, 0, &w),
            WSAEACCES);
  // Nothing was attached: the application's connect is redirected like any other.
  const sim::ConnectResult r = client.connect(mine, original);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_TRUE(r.redirected);
  ASSERT_EQ(fake.connects().size(), connectsBefore + 1);
  EXPECT_EQ(fake.connects().back().proxiedRecords, nullptr);
  ASSERT_TRUE(proxy.accept(listener).ok());  // the application's connection, redirected to us
  // Records of a connection redirected to no local process (target PID 0) are nobody's.
  targetPid = 0;
  const int c2 = client.socket(IpVersion::V4, Protocol::Tcp);
  ASSERT_TRUE(client.connect(c2, original).redirected);
  const sim::AcceptResult a2 = proxy.accept(listener);
  ASSERT_TRUE(a2.ok());
  const auto orphan = sealer().seal(*proxy.connection(a2.fd)->history);
  ASSERT_FALSE(orphan.empty());
  const int out = proxy.socket(IpVersion::V4, Protocol::Tcp);
  EXPECT_EQ(ioctlErr(out, SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS, orphan.data(), orphan.size(), nullptr, 0, &n),
            EACCES);
  // The process they were issued to still may.
  EXPECT_EQ(ioctlErr(out, SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS, records.data(), records.size(), nullptr, 0, &n),
            0);
}

TEST_F(S9Controls, S9_4_SetOnAConnectedOrListeningSocketIsRefused) {
  const int a = redirectedAccept();
  const std::vector<uint8_t> records = queryRecords(a);
  size_t n = 0;
  EXPECT_EQ(ioctlErr(a, SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS, records.data(), records.size(),
                     nullptr, 0, &n),
            EISCONN);
  EXPECT_EQ(ioctlErr(clientFd, SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS, records.data(),
                     records.size(), nullptr, 0, &n),
            EISCONN);
  EXPECT_EQ(ioctlErr(listener, SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS, records.data(),
                     records.size(), nullptr, 0, &n),
            EINVAL);
  // A connect in progress (pended) is too late as well.
  fake.setPend(true);
  const int s = proxy.socket(IpVersion::V4, Protocol::Tcp);
  sim::PendingConnect pc = proxy.connectAsync(s, original);
  EXPECT_EQ(ioctlErr(s, SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS, records.data(), records.size(),
                     nullptr, 0, &n),
            EISCONN);
  fake.complete();
  pc.wait();
}

TEST_F(S9Controls, S9_4_BadBlobsAreInvalid) {
  const int a = redirectedAccept();
  const std::vector<uint8_t> good = queryRecords(a);
  const int out = proxy.socket(IpVersion::V4, Protocol::Tcp);
  size_t n = 0;
  auto set = [&](const void* blob, size_t len) {
    return ioctlErr(out, SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS, blob, len, nullptr, 0, &n);
  };
  std::vector<uint8_t> flipped = good;
  flipped[flipped.size() / 2] ^= 0x01;
  EXPECT_EQ(set(flipped.data(), flipped.size()), EINVAL) << "fails the MAC";
  EXPECT_EQ(set(good.data(), good.size() - 1), EINVAL) << "truncated";
  EXPECT_EQ(set(good.data(), 10), EINVAL) << "truncated header";
  std::vector<uint8_t> wrongVersion = good;
  wrongVersion[4] = 2;  // version field (docs/records-format.md), MAC recomputed
  wrongVersion[5] = 0;
  sealer().resealForTesting(wrongVersion);
  EXPECT_EQ(set(wrongVersion.data(), wrongVersion.size()), EINVAL) << "wrong version";
  EXPECT_EQ(set(good.data(), 0), EINVAL) << "empty";
  EXPECT_EQ(set(nullptr, 0), EINVAL);
  EXPECT_EQ(set(nullptr, good.size()), EFAULT);
  // Records of another engine instance (a different key) do not open either.
  std::vector<uint8_t> foreign;
  {
    openwfp::redirect::RecordsSealer other;
    foreign = other.seal(*proxy.connection(a)->history);
  }
  EXPECT_EQ(set(foreign.data(), foreign.size()), EINVAL);
  DWORD w = 0;
  EXPECT_EQ(wsaErr(out, SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS, flipped.data(),
                   static_cast<DWORD>(flipped.size()), nullptr, 0, &w),
            WSAEINVAL);
  // Nothing was attached by the failed calls.
  ASSERT_TRUE(proxy.connect(out, original).ok());
  EXPECT_EQ(fake.connects().back().proxiedRecords, nullptr);
}

TEST_F(S9Controls, S9_4_NonzeroOutputLengthIsInvalid) {
  const int a = redirectedAccept();
  std::vector<uint8_t> records = queryRecords(a);
  const int out = proxy.socket(IpVersion::V4, Protocol::Tcp);
  char sink[8];
  size_t n = 0;
  EXPECT_EQ(ioctlErr(out, SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS, records.data(), records.size(),
                     sink, sizeof sink, &n),
            EINVAL);
  EXPECT_EQ(ioctlErr(out, SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS, records.data(), records.size(),
                     nullptr, 4, &n),
            EINVAL);
  DWORD w = 0;
  EXPECT_EQ(wsaErr(out, SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS, records.data(),
                   static_cast<DWORD>(records.size()), sink, sizeof sink, &w),
            WSAEINVAL);
}

// ---- S9.5 UDP -------------------------------------------------------------------------------

TEST_F(S9Controls, S9_5_ControlsWorkOnConnectedUdpSockets) {
  const Endpoint dnsOriginal = ep("8.8.8.8:53");
  const Endpoint dnsProxy = ep("127.0.0.1:5353");
  fake.onConnect = [&](const ConnectRequest& r) {
    if (r.remote == dnsOriginal && !r.proxiedRecords) {
      return redirectVerdict(r, dnsProxy, kProxyPid, 0x101, kContext);
    }
    return permitVerdict(r);
  };
  const int pu = proxy.socket(IpVersion::V4, Protocol::Udp);
  ASSERT_EQ(proxy.bind(pu, dnsProxy), 0);
  char buf[512];
  size_t n = 0;
  EXPECT_EQ(queryErr(pu, SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS, buf, sizeof buf, &n), ENOTCONN)
      << "an unconnected UDP socket has no single flow";

  const int cu = client.socket(IpVersion::V4, Protocol::Udp);
  ASSERT_TRUE(client.connect(cu, dnsOriginal).ok());
  ASSERT_TRUE(client.send(cu, "query").ok());
  std::string got;
  const sim::IoResult in = proxy.recv(pu, got);
  ASSERT_TRUE(in.ok());
  // The proxy connects its socket back to the flow's source: it now answers for that flow.
  ASSERT_TRUE(proxy.connect(pu, in.from).ok());
  const std::vector<uint8_t> records = queryRecords(pu);
  EXPECT_EQ(sealer().open(records), client.connection(cu)->history);
  std::string ctx(64, '\0');
  ASSERT_EQ(queryErr(pu, SIO_QUERY_WFP_CONNECTION_REDIRECT_CONTEXT, ctx.data(), ctx.size(), &n), 0);
  ctx.resize(n);
  EXPECT_EQ(ctx, kContext);
  EXPECT_EQ(queryErr(cu, SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS, buf, sizeof buf, &n), EACCES)
      << "the client is not the target";
  // The reply reaches the client.
  ASSERT_TRUE(proxy.send(pu, "answer").ok());
  ASSERT_TRUE(client.recv(cu, got).ok());
  EXPECT_EQ(got, "answer");

  // SIO_SET on a new UDP socket before connect; on the connected one -> EISCONN.
  EXPECT_EQ(ioctlErr(pu, SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS, records.data(), records.size(),
                     nullptr, 0, &n),
            EISCONN);
  const int up = proxy.socket(IpVersion::V4, Protocol::Udp);
  ASSERT_EQ(ioctlErr(up, SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS, records.data(), records.size(),
                     nullptr, 0, &n),
            0);
  ASSERT_TRUE(proxy.connect(up, dnsOriginal).ok());
  EXPECT_EQ(fake.connects().back().proxiedRecords, client.connection(cu)->history);
  EXPECT_EQ(fake.connects().back().protocol, Protocol::Udp);
}

}  // namespace

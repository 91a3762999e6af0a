// The control channel on real loopback sockets, engine and proxy in one test process (plus re-executed
// children where another process is needed): openwfp_ioctl / WSAIoctl and openwfp_device_* go
// over $OPENWFP_SOCKET to a ControlServer (openwfp/control.h) whose connection lookup is a fake
// standing in for the seccomp interceptor. S9 on real sockets, S12.1 (only the target PID
// queries), S12.3 (the caller is the kernel's credentials of each message), S12.4 (malformed
// frames close the connection), S10.2 (the driver<->proxy device channel: pended IOCTLs do not
// block other requests; a client that goes away gets CLEANUP/CLOSE).
#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <csignal>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <future>
#include <map>
#include <mutex>
#include <string_view>
#include <thread>
#include <vector>

#include "support/attached_descriptor_check.h"
#include "support/device_test_driver.h"
#include "support/test_child.h"
#include "control/frame_io.h"
#include "openwfp/control.h"
#include "openwfp/device.h"
#include "km/device_io.h"
#include "openwfp/host.h"
#include "openwfp/openwfp.h"
#include "openwfp/winsock.h"
#include "redirect/history.h"
#include "redirect/records.h"
#include "verifier/verifier.h"
#include "control/client_connection.h"

namespace ctl = openwfp::control;
using openwfp::Endpoint;
using openwfp::Runtime;
using openwfp::ConnectionInfo;
using openwfp::redirect::History;

namespace {

class FakeLookup : public openwfp::ConnectionLookup {
 public:
  std::optional<ConnectionInfo> findBySocketCookie(uint64_t cookie) override {
    std::lock_guard lock(mu);
    for (const auto& c : conns) {
      if (c.socketCookie == cookie) return c;
    }
    return std::nullopt;
  }
  std::optional<ConnectionInfo> findConnection(const Endpoint& local, const Endpoint& remote) override {
    std::lock_guard lock(mu);
    for (const auto& c : conns) {
      if (c.local == local && c.remote == remote) return c;
    }
    return std::nullopt;
  }
  void attachRecords(uint64_t cookie, std::shared_ptr<History> records) override {
    std::lock_guard lock(mu);
    attached[cookie] = std::move(records);
  }
  std::mutex mu;
  std::vector<ConnectionInfo> conns;
  std::map<uint64_t, std::shared_ptr<History>> attached;
};

Endpoint endpointOf(int fd, bool peer) {
  sockaddr_in sa{};
  socklen_t len = sizeof sa;
  if (peer) {
    getpeername(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  } else {
    getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  }
  return Endpoint::v4(ntohl(sa.sin_addr.s_addr), ntohs(sa.sin_port));
}

uint64_t cookieOf(int fd) {
  uint64_t c = 0;
  socklen_t len = sizeof c;
  getsockopt(fd, SOL_SOCKET, SO_COOKIE, &c, &len);
  return c;
}

int listenLoopback() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || listen(fd, 16) != 0) return -1;
  return fd;
}

int connectTo(const Endpoint& ep) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(ep.v4HostOrder());
  sa.sin_port = htons(ep.port);
  if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) return -1;
  return fd;
}

int rawConnect(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::strncpy(sa.sun_path, path.c_str(), sizeof sa.sun_path - 1);
  if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) return -1;
  return fd;
}

// Sends one request on a raw connection and reads one frame back.
ctl::ReadStatus rawCall(int sock, const ctl::Message& m, int fd, ctl::ReceivedFrame& reply, uint64_t id = 1) {
  auto frame = ctl::encode(id, m);
  if (!ctl::writeFrame(sock, frame, fd)) return ctl::ReadStatus::IoError;
  return ctl::readFrame(sock, reply);
}

// The server closed the connection (EOF, or a reset when it left bytes unread).
bool closedByServer(int raw) {
  ctl::ReceivedFrame reply;
  ctl::ReadStatus st = ctl::readFrame(raw, reply);
  return st == ctl::ReadStatus::Eof || st == ctl::ReadStatus::IoError;
}

// Another process, for the clauses that are about who is calling: this test binary re-executed
// (support/test_child.h).
constexpr const char* kChildGroup = "control-channel";

pid_t spawnChild(const char* name, std::initializer_list<int> fds = {}, const std::vector<std::string>& extraEnv = {}) {
  return testchild::spawnChild(kChildGroup, name, fds, extraEnv);
}
using testchild::waitChild;

// The children; each returns 0 when the clause held from its side.

// S12.1: holds the accepted socket too, but is not the redirect target.
int childQueryIsRefused(const int* fds) {
  const int accepted = fds[0];
  char buf[512];
  size_t returned = 0;
  if (openwfp_ioctl(accepted, SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS, nullptr, 0, buf, sizeof buf, &returned) == 0) {
    return 1;
  }
  if (errno != EACCES) return 2;
  DWORD bytes = 0;
  if (WSAIoctl(accepted, SIO_QUERY_WFP_CONNECTION_REDIRECT_CONTEXT, nullptr, 0, buf, sizeof buf, &bytes, nullptr,
               nullptr) != SOCKET_ERROR) {
    return 3;
  }
  return WSAGetLastError() == WSAEACCES ? 0 : 4;
}

// S12.3: sends on a control connection the parent made; judged by its own credentials.
int childCallerIsTheSender(const int* fds) {
  const int raw = fds[0], accepted = fds[1];
  ctl::ReceivedFrame reply;
  if (rawCall(raw, ctl::SocketControlRequest{SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS, 0, {}}, accepted, reply) !=
      ctl::ReadStatus::Ok) {
    return 10;
  }
  auto* r = std::get_if<ctl::SocketControlReply>(&reply.message);
  if (r == nullptr) return 11;
  return r->err == EACCES ? 0 : 12;
}

// S12.3: the driver sees the sending process as both current and requestor process.
int childDeviceWhoAmI(const int*) {
  int h = openwfp_device_open(devtest::kPath);
  if (h < 0) return 10;
  devtest::WhoAmI w{};
  size_t returned = 0;
  if (openwfp_device_ioctl(h, devtest::kWhoAmI, nullptr, 0, &w, sizeof w, &returned) != 0) return 11;
  if (w.currentPid != static_cast<uint64_t>(getpid()) || w.requestorPid != w.currentPid) return 12;
  if (w.irql != 0 || w.driverNamed != 1) return 13;
  return openwfp_device_close(h) == 0 ? 0 : 14;
}

// S10.2: opens the device, leaves an IOCTL (code) pended and exits without closing, once the
// parent says over the pipe (fds[0]) that it saw the IRP pended.
int leaveAnIoctlPended(const int* fds, uint32_t code) {
  const char* path = std::getenv(ctl::kSocketEnv);
  if (path == nullptr) return 9;
  int raw = rawConnect(path);
  ctl::ReceivedFrame reply;
  if (rawCall(raw, ctl::DeviceOpenRequest{devtest::kPath}, -1, reply) != ctl::ReadStatus::Ok) return 10;
  auto* r = std::get_if<ctl::DeviceOpenReply>(&reply.message);
  if (r == nullptr || r->status != 0) return 11;
  auto frame = ctl::encode(2, ctl::DeviceIoctlRequest{r->handle, code, 8, {}});
  if (!ctl::writeFrame(raw, frame)) return 12;
  char b;
  if (read(fds[0], &b, 1) != 1) return 13;
  return 0;
}
int childLeavesAPendedIoctl(const int* fds) { return leaveAnIoctlPended(fds, devtest::kPend); }
int childLeavesACancelableIoctl(const int* fds) { return leaveAnIoctlPended(fds, devtest::kPendCancelable); }

// S12.3: a device open, as nobody when OPENWFP_TEST_DROP is set: 0 opened and closed, 1 refused
// with EACCES / STATUS_ACCESS_DENIED, 2x otherwise.
int childDeviceOpen(const int*) {
  if (std::getenv("OPENWFP_TEST_DROP") && (setgroups(0, nullptr) != 0 || setgid(65534) != 0 || setuid(65534) != 0)) {
    return 20;
  }
  int h = openwfp_device_open(devtest::kPath);
  if (h >= 0) return openwfp_device_close(h) == 0 ? 0 : 21;
  return errno == EACCES && openwfp_device_last_status() == static_cast<int32_t>(0xC0000022) ? 1 : 22;
}

constexpr testchild::ChildEntry kChildren[] = {
    {"query-is-refused", childQueryIsRefused},   {"caller-is-the-sender", childCallerIsTheSender},
    {"device-whoami", childDeviceWhoAmI},         {"leaves-a-pended-ioctl", childLeavesAPendedIoctl},
    {"device-open", childDeviceOpen},             {"leaves-a-cancelable-ioctl", childLeavesACancelableIoctl},
};

const int kRunAsChild = testchild::runChildIfAsked(kChildGroup, kChildren);

class ControlChannel : public ::testing::Test {
 protected:
  void SetUp() override {
    Runtime::reset();
    devtest::clearEvents();
    lookup = std::make_shared<FakeLookup>();
    auto err = server.start();
    ASSERT_FALSE(err.has_value()) << *err;
    server.setLookup(lookup);
    setenv(ctl::kSocketEnv, server.path().c_str(), 1);

    // A "redirected" connection: client -> listener, remembered by the fake lookup with this
    // process as the redirect target, and a history with one entry and a context.
    listener = listenLoopback();
    ASSERT_GE(listener, 0);
    client = connectTo(endpointOf(listener, false));
    ASSERT_GE(client, 0);
    accepted = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    ASSERT_GE(accepted, 0);
    history = History::create();
    openwfp::redirect::Entry e;
    e.redirectHandle = 77;
    e.targetPid = static_cast<uint32_t>(getpid());
    e.originalDestination = *Endpoint::parse("127.0.0.2:8080");
    e.redirectedTo = endpointOf(listener, false);
    e.filterId = 5;
    void* ctx = std::malloc(4);
    std::memcpy(ctx, "ctx!", 4);
    e.context = ctx;
    e.contextSize = 4;
    history->add(e, [](void* p) { std::free(p); });
    Runtime::current().sealer().track(history);
    ConnectionInfo info;
    info.socketCookie = cookieOf(client);
    info.pid = static_cast<uint64_t>(getpid());
    info.local = endpointOf(client, false);
    info.remote = endpointOf(client, true);
    info.originalRemote = e.originalDestination;
    info.redirected = true;
    info.redirectTargetPid = static_cast<uint32_t>(getpid());
    info.tupleKnown = true;
    info.history = history;
    std::lock_guard lock(lookup->mu);
    lookup->conns.push_back(info);
  }
  void TearDown() override {
    unsetenv(ctl::kSocketEnv);
    for (int fd : {listener, client, accepted}) {
      if (fd >= 0) close(fd);
    }
    host.unloadAll();
    server.stop();
  }

  ctl::ControlServer server;
  std::shared_ptr<FakeLookup> lookup;
  openwfp::host::DriverHost host;
  int listener = -1, client = -1, accepted = -1;
  std::shared_ptr<History> history;
};

TEST_F(ControlChannel, S12_3_ChannelSocketIsReachableByOtherUsersInPrivateDirectory) {
  struct stat st {};
  ASSERT_EQ(stat(server.path().c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0666u);
  std::string dir = server.path().substr(0, server.path().rfind('/'));
  ASSERT_EQ(stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0711u);
  EXPECT_EQ(server.envEntry(), "OPENWFP_SOCKET=" + server.path());
  server.stop();
  EXPECT_NE(stat(server.path().c_str(), &st), 0) << "socket removed at stop";
  EXPECT_NE(stat(dir.c_str(), &st), 0) << "directory removed at stop";
}

TEST_F(ControlChannel, S9_1_ChannelQueryRecordsOnAcceptedSocket) {
  const auto expected = Runtime::current().sealer().seal(*history);
  ASSERT_FALSE(expected.empty());
  size_t returned = 0;
  errno = 0;
  EXPECT_EQ(openwfp_ioctl(accepted, SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS, nullptr, 0, nullptr, 0, &returned), -1);
  EXPECT_EQ(errno, ENOBUFS);
  EXPECT_EQ(returned, expected.size()) << "size probe gives the required size";
  std::vector<uint8_t> buf(returned);
  ASSERT_EQ(openwfp_ioctl(accepted, SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS, nullptr, 0, buf.data(), buf.size(),
                          &returned),
            0)
      << std::strerror(errno);
  EXPECT_EQ(buf, expected);
  // The Winsock spelling over the same channel.
  DWORD bytes = 0;
  EXPECT_EQ(WSAIoctl(accepted, SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS, nullptr, 0, nullptr, 0, &bytes, nullptr,
                     nullptr),
            SOCKET_ERROR);
  EXPECT_EQ(WSAGetLastError(), ERROR_INSUFFICIENT_BUFFER);
  EXPECT_EQ(bytes, expected.size());
  EXPECT_GE(server.stats().socketControls, 3u);
}

TEST_F(ControlChannel, S9_2_ChannelQueryContextOnAcceptedSocket) {
  char ctx[16] = {};
  size_t returned = 0;
  ASSERT_EQ(openwfp_ioctl(accepted, SIO_QUERY_WFP_CONNECTION_REDIRECT_CONTEXT, nullptr, 0, ctx, sizeof ctx, &returned),
            0);
  EXPECT_EQ(returned, 4u);
  EXPECT_EQ(std::memcmp(ctx, "ctx!", 4), 0);
  // The connecting side's own socket (found by its cookie) answers too: same connection.
  ASSERT_EQ(openwfp_ioctl(client, SIO_QUERY_WFP_CONNECTION_REDIRECT_CONTEXT, nullptr, 0, ctx, sizeof ctx, &returned), 0);
  EXPECT_EQ(returned, 4u);
}

TEST_F(ControlChannel, S9_3_ChannelQueryErrorsOnRealSockets) {
  char buf[512];
  size_t returned = 0;
  EXPECT_EQ(openwfp_ioctl(listener, SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS, nullptr, 0, buf, sizeof buf, &returned), -1);
  EXPECT_EQ(errno, ENOTCONN) << "listening socket";
  int fresh = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  EXPECT_EQ(openwfp_ioctl(fresh, SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS, nullptr, 0, buf, sizeof buf, &returned), -1);
  EXPECT_EQ(errno, ENOTCONN) << "unconnected socket";
  close(fresh);
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  EXPECT_EQ(openwfp_ioctl(fds[0], SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS, nullptr, 0, buf, sizeof buf, &returned), -1);
  EXPECT_EQ(errno, ENOTSOCK) << "pipe";
  close(fds[0]);
  close(fds[1]);
  EXPECT_EQ(openwfp_ioctl(fds[0], SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS, nullptr, 0, buf, sizeof buf, &returned), -1);
  EXPECT_EQ(errno, ENOTSOCK) << "closed descriptor";
  // A connected socket of a connection that was not redirected.
  int plain = connectTo(endpointOf(listener, false));
  int plainAccepted = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  EXPECT_EQ(openwfp_ioctl(plainAccepted, SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS, nullptr, 0, buf, sizeof buf,
                          &returned),
            -1);
  EXPECT_EQ(errno, ENOENT);
  close(plain);
  close(plainAccepted);
  // Unknown control.
  EXPECT_EQ(openwfp_ioctl(accepted, 0x98000001u, nullptr, 0, nullptr, 0, &returned), -1);
  EXPECT_EQ(errno, EOPNOTSUPP);
  // Without a lookup (no interceptor yet) nothing is redirected.
  server.setLookup(nullptr);
  EXPECT_EQ(openwfp_ioctl(accepted, SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS, nullptr, 0, buf, sizeof buf, &returned), -1);
  EXPECT_EQ(errno, ENOENT);
}

TEST_F(ControlChannel, S12_1_ChannelQueryByAnotherProcessIsEACCES) {
  // A forked child holds the accepted socket too, but it is not the redirect target.
  int rc = waitChild(spawnChild("query-is-refused", {accepted}));
  EXPECT_EQ(rc, 0);
  // The target itself still may.
  char buf[512];
  size_t returned = 0;
  EXPECT_EQ(openwfp_ioctl(accepted, SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS, nullptr, 0, buf, sizeof buf, &returned), 0);
}

TEST_F(ControlChannel, S12_3_ChannelCallerIsEachMessagesSenderNotTheConnectionsOwner) {
  // A connection made by this process (the target PID), then used by a forked child: the child's
  // request is judged by the child's credentials, not by who connected.
  int raw = rawConnect(server.path());
  ASSERT_GE(raw, 0);
  ctl::SocketControlRequest probe{SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS, 0, {}};
  int rc = waitChild(spawnChild("caller-is-the-sender", {raw, accepted}));
  EXPECT_EQ(rc, 0);
  ctl::ReceivedFrame reply;
  ASSERT_EQ(rawCall(raw, probe, accepted, reply), ctl::ReadStatus::Ok);
  auto* r = std::get_if<ctl::SocketControlReply>(&reply.message);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->err, ENOBUFS) << "the target's own size probe is allowed";
  EXPECT_EQ(r->returned, Runtime::current().sealer().seal(*history).size());
  close(raw);
}

TEST_F(ControlChannel, S9_4_ChannelSetRecordsAttachesToTheSocketCookie) {
  std::vector<uint8_t> blob = Runtime::current().sealer().seal(*history);
  int out = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  size_t returned = 1;
  ASSERT_EQ(openwfp_ioctl(out, SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS, blob.data(), blob.size(), nullptr, 0, &returned), 0)
      << std::strerror(errno);
  EXPECT_EQ(returned, 0u);
  {
    std::lock_guard lock(lookup->mu);
    ASSERT_EQ(lookup->attached.count(cookieOf(out)), 1u);
    EXPECT_EQ(lookup->attached[cookieOf(out)], history) << "the live history (S8.8)";
  }
  // Output length must be 0; a tampered blob is refused; connected and listening sockets too.
  EXPECT_EQ(openwfp_ioctl(out, SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS, blob.data(), blob.size(), nullptr, 4, nullptr), -1);
  EXPECT_EQ(errno, EINVAL);
  auto bad = blob;
  bad[bad.size() / 2] ^= 1;
  EXPECT_EQ(openwfp_ioctl(out, SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS, bad.data(), bad.size(), nullptr, 0, nullptr), -1);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(openwfp_ioctl(client, SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS, blob.data(), blob.size(), nullptr, 0, nullptr), -1);
  EXPECT_EQ(errno, EISCONN);
  EXPECT_EQ(openwfp_ioctl(listener, SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS, blob.data(), blob.size(), nullptr, 0, nullptr), -1);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(openwfp_ioctl(out, SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS, nullptr, 8, nullptr, 0, nullptr), -1);
  EXPECT_EQ(errno, EFAULT);
  // A socket whose connect already went through the interceptor (its cookie is known).
  int again = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  {
    std::lock_guard lock(lookup->mu);
    ConnectionInfo known;
    known.socketCookie = cookieOf(again);
    lookup->conns.push_back(known);
  }
  EXPECT_EQ(openwfp_ioctl(again, SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS, blob.data(), blob.size(), nullptr, 0, nullptr), -1);
  EXPECT_EQ(errno, EISCONN);
  close(again);
  close(out);
}

TEST_F(ControlChannel, S12_4_ChannelMalformedFramesCloseTheConnection) {
  // Bad version.
  int raw = rawConnect(server.path());
  auto frame = ctl::encode(1, ctl::DeviceCloseRequest{1});
  frame[4] = 9;
  ASSERT_TRUE(ctl::writeFrame(raw, frame));
  EXPECT_TRUE(closedByServer(raw));
  close(raw);
  ctl::ReceivedFrame reply;
  // A socket control without its descriptor.
  raw = rawConnect(server.path());
  ASSERT_TRUE(ctl::writeFrame(raw, ctl::encode(1, ctl::SocketControlRequest{SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS, 0, {}})));
  EXPECT_TRUE(closedByServer(raw));
  close(raw);
  // A device request carrying a descriptor.
  raw = rawConnect(server.path());
  ASSERT_TRUE(ctl::writeFrame(raw, ctl::encode(1, ctl::DeviceCloseRequest{1}), accepted));
  EXPECT_TRUE(closedByServer(raw));
  close(raw);
  // A reply type sent to the server.
  raw = rawConnect(server.path());
  ASSERT_TRUE(ctl::writeFrame(raw, ctl::encode(1, ctl::ErrorReply{1})));
  EXPECT_TRUE(closedByServer(raw));
  close(raw);
  // Size field larger than the limit.
  raw = rawConnect(server.path());
  frame = ctl::encode(1, ctl::DeviceCloseRequest{1});
  frame[3] = 0x7f;
  ASSERT_TRUE(ctl::writeFrame(raw, frame));
  EXPECT_TRUE(closedByServer(raw));
  close(raw);
  EXPECT_GE(server.stats().malformed, 5u);
  // An unknown type gets an Error reply and the connection stays usable.
  raw = rawConnect(server.path());
  frame = ctl::encode(3, ctl::DeviceCloseRequest{1});
  frame[5] = 0x33;
  ASSERT_TRUE(ctl::writeFrame(raw, frame));
  ASSERT_EQ(ctl::readFrame(raw, reply), ctl::ReadStatus::Ok);
  EXPECT_EQ(reply.header.request, 3u);
  ASSERT_TRUE(std::holds_alternative<ctl::ErrorReply>(reply.message));
  EXPECT_EQ(std::get<ctl::ErrorReply>(reply.message).err, EOPNOTSUPP);
  ASSERT_EQ(rawCall(raw, ctl::DeviceCloseRequest{99}, -1, reply, 4), ctl::ReadStatus::Ok);
  EXPECT_EQ(reply.header.request, 4u);
  ASSERT_TRUE(std::holds_alternative<ctl::DeviceCloseReply>(reply.message));
  EXPECT_EQ(std::get<ctl::DeviceCloseReply>(reply.message).status, static_cast<int32_t>(0xC0000008));
  close(raw);
  // The library's own connection was not affected.
  char buf[512];
  size_t returned = 0;
  EXPECT_EQ(openwfp_ioctl(accepted, SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS, nullptr, 0, buf, sizeof buf, &returned), 0);
}

TEST_F(ControlChannel, S10_2_ChannelDeviceIoctlOverTheEngineProcess) {
  ASSERT_TRUE(host.load(devtest::testDriverEntry(), "testdev"));
  int h = openwfp_device_open(devtest::kPath);
  ASSERT_GE(h, 0) << std::strerror(errno);
  char out[32] = {};
  size_t returned = 0;
  ASSERT_EQ(openwfp_device_ioctl(h, devtest::kEcho, "over the channel", 16, out, sizeof out, &returned), 0);
  EXPECT_EQ(returned, 16u);
  EXPECT_EQ(std::memcmp(out, "over the channel", 16), 0);
  EXPECT_EQ(openwfp_device_ioctl(h, devtest::ctl(55, 0), nullptr, 0, nullptr, 0, nullptr), -1);
  EXPECT_EQ(errno, ENOTTY);
  EXPECT_EQ(openwfp_device_last_status(), static_cast<int32_t>(0xC0000010));
  EXPECT_EQ(openwfp_device_open("\\\\.\\NoSuchDevice"), -1);
  EXPECT_EQ(errno, ENOENT);
  EXPECT_EQ(openwfp_device_close(h), 0);
  EXPECT_EQ(openwfp_device_close(h), -1);
  EXPECT_EQ(errno, EBADF);
  EXPECT_TRUE(devtest::waitForCount(devtest::kMjClose, 1));
  EXPECT_GE(server.stats().deviceRequests, 5u);
}

// Over the channel the descriptor travels with the reply frame (SCM_RIGHTS): the engine keeps
// no copy of it (the requester's close is the pipe's EOF).
TEST_F(ControlChannel, S10_2_ChannelReplyCarriesTheDescriptorTheDriverAttached) {
  ASSERT_TRUE(host.load(devtest::testDriverEntry(), "testdev"));
  int h = openwfp_device_open(devtest::kPath);
  ASSERT_GE(h, 0) << std::strerror(errno);
  devtest::expectAttachedDescriptorsDelivered(h);
  {
    // The thread's own connection (a proxy's worker): the same.
    ctl::ThreadConnection own;
    int mine = openwfp_device_open(devtest::kPath);
    ASSERT_GE(mine, 0) << std::strerror(errno);
    devtest::expectAttachedDescriptorsDelivered(mine);
    EXPECT_EQ(openwfp_device_close(mine), 0);
  }
  EXPECT_EQ(openwfp_device_close(h), 0);
}

TEST_F(ControlChannel, S12_3_ChannelDeviceRequestorIsTheSendingProcess) {
  ASSERT_TRUE(host.load(devtest::testDriverEntry(), "testdev"));
  int rc = waitChild(spawnChild("device-whoami"));
  EXPECT_EQ(rc, 0);
  // And the parent, over its own connection, is itself.
  int h = openwfp_device_open(devtest::kPath);
  ASSERT_GE(h, 0);
  devtest::WhoAmI w{};
  ASSERT_EQ(openwfp_device_ioctl(h, devtest::kWhoAmI, nullptr, 0, &w, sizeof w, nullptr), 0);
  EXPECT_EQ(w.currentPid, static_cast<uint64_t>(getpid()));
  EXPECT_EQ(openwfp_device_close(h), 0);
}

// A forked child has a copy of its parent's device handles and connection: using them would
// interleave its frames with the parent's (docs/control-channel.md: EBADF). The check must hold
// for a plain fork() and for a raw clone() without CLONE_VM, which runs no atfork handler, after
// the parent has used the handle.
TEST_F(ControlChannel, S12_3_ChannelDeviceHandleIsEbadfInAForkedChild) {
  ASSERT_TRUE(host.load(devtest::testDriverEntry(), "testdev"));
  int h = openwfp_device_open(devtest::kPath);
  ASSERT_GE(h, 0) << std::strerror(errno);
  char out[8] = {};
  ASSERT_EQ(openwfp_device_ioctl(h, devtest::kEcho, "parent", 6, out, sizeof out, nullptr), 0);
  // 0: refused with EBADF; 1: it went through; 2: another error.
  auto childUse = [h] {
    alarm(10);
    char buf[8] = {};
    const int rc = openwfp_device_ioctl(h, devtest::kEcho, "child!", 6, buf, sizeof buf, nullptr);
    _exit(rc == 0 ? 1 : errno == EBADF ? 0 : 2);
  };
  auto boundedWait = [](pid_t pid) { return testchild::waitChildFor(pid, std::chrono::seconds(10)); };
  const pid_t forked = fork();
  ASSERT_GE(forked, 0) << std::strerror(errno);
  if (forked == 0) childUse();
  EXPECT_EQ(boundedWait(forked), 0) << "fork(): the child's ioctl on its parent's handle (-1: not done in 10 s)";
  const long cloned = syscall(SYS_clone, SIGCHLD, nullptr, nullptr, nullptr, nullptr);
  ASSERT_GE(cloned, 0) << std::strerror(errno);
  if (cloned == 0) childUse();
  EXPECT_EQ(boundedWait(static_cast<pid_t>(cloned)), 0)
      << "clone() without CLONE_VM: the child's ioctl on its parent's handle (-1: not done in 10 s)";
  // The parent's handle still works.
  EXPECT_EQ(openwfp_device_ioctl(h, devtest::kEcho, "parent", 6, out, sizeof out, nullptr), 0);
  EXPECT_EQ(openwfp_device_close(h), 0);
}

TEST_F(ControlChannel, S10_2_ChannelPendedIoctlDoesNotBlockOtherRequestsOrClients) {
  ASSERT_TRUE(host.load(devtest::testDriverEntry(), "testdev"));
  int h = openwfp_device_open(devtest::kPath);
  ASSERT_GE(h, 0);
  auto pended = std::async(std::launch::async, [h] {
    uint64_t value = 0;
    size_t returned = 0;
    int rc = openwfp_device_ioctl(h, devtest::kPend, nullptr, 0, &value, sizeof value, &returned);
    return std::make_tuple(rc, value, returned);
  });
  ASSERT_TRUE(devtest::waitForPended(1));
  // Same process, same connection, same handle: answered while the IOCTL is pended.
  char out[8] = {};
  EXPECT_EQ(openwfp_device_ioctl(h, devtest::kEcho, "abc", 3, out, sizeof out, nullptr), 0);
  size_t returned = 0;
  char buf[512];
  EXPECT_EQ(openwfp_ioctl(accepted, SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS, nullptr, 0, buf, sizeof buf, &returned), 0);
  // Another client.
  int raw = rawConnect(server.path());
  ctl::ReceivedFrame reply;
  ASSERT_EQ(rawCall(raw, ctl::DeviceOpenRequest{devtest::kPath}, -1, reply), ctl::ReadStatus::Ok);
  ASSERT_TRUE(std::holds_alternative<ctl::DeviceOpenReply>(reply.message));
  EXPECT_EQ(std::get<ctl::DeviceOpenReply>(reply.message).status, 0);
  close(raw);
  EXPECT_EQ(pended.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout);
  devtest::releaseAll(0xABCDEF);
  auto [rc, value, got] = pended.get();
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(value, 0xABCDEFu);
  EXPECT_EQ(got, sizeof value);
  EXPECT_EQ(openwfp_device_close(h), 0);
}

TEST_F(ControlChannel, S10_2_ChannelClientGoneSendsCleanupAndCloseForItsHandles) {
  ASSERT_TRUE(host.load(devtest::testDriverEntry(), "testdev"));
  // The child opens the device, leaves an IOCTL pended and exits without closing.
  int go[2];
  ASSERT_EQ(pipe(go), 0);
  const pid_t child = spawnChild("leaves-a-pended-ioctl", {go[0]});
  ASSERT_GT(child, 0);
  close(go[0]);
  EXPECT_TRUE(devtest::waitForPended(1));
  ASSERT_EQ(write(go[1], "g", 1), 1);
  close(go[1]);
  ASSERT_EQ(waitChild(child), 0);
  ASSERT_TRUE(devtest::waitForCount(devtest::kMjClose, 1)) << "CLOSE after the client went away";
  auto ev = devtest::events();
  bool cleanupByChild = false;
  for (const auto& e : ev) cleanupByChild = cleanupByChild || (e.major == devtest::kMjCleanup && e.pid == uint64_t(child));
  EXPECT_TRUE(cleanupByChild) << "CLEANUP in the name of the process that opened the handle";
  EXPECT_EQ(devtest::pendedCount(), 0u) << "the driver cancelled the pended IRP at cleanup";
  EXPECT_EQ(ev.back().major, devtest::kMjClose);
}

// A thread with its own connection (control::ThreadConnection, what the verify proxy's workers
// use): its device handles and socket controls travel on a second connection of this process, a
// pended IOCTL on it is answered to that thread, and shutdown() from another thread fails the
// waiting call (EIO) and makes the engine close the handles opened on it (CLEANUP cancels the
// pended IRP).
TEST_F(ControlChannel, S10_2_ChannelThreadConnectionCarriesThatThreadsHandlesAndControls) {
  ASSERT_TRUE(host.load(devtest::testDriverEntry(), "testdev"));
  int mainHandle = openwfp_device_open(devtest::kPath);  // the process connection exists
  ASSERT_GE(mainHandle, 0) << std::strerror(errno);
  const unsigned before = server.stats().clientsNow;

  std::promise<openwfp::control::ThreadConnection*> ready;
  std::promise<void> pendAgain;
  struct Result {
    unsigned clientsWithIt = 0;
    int echo = -1, query = -1, released = -1, shutDown = 0, shutDownErrno = 0;
    uint64_t value = 0;
  };
  auto worker = std::async(std::launch::async, [&] {
    Result r;
    openwfp::control::ThreadConnection own;
    int h = openwfp_device_open(devtest::kPath);
    if (h < 0) return r;
    r.clientsWithIt = server.stats().clientsNow;
    char out[8] = {};
    r.echo = openwfp_device_ioctl(h, devtest::kEcho, "abc", 3, out, sizeof out, nullptr);
    char buf[512];
    size_t returned = 0;
    r.query = openwfp_ioctl(accepted, SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS, nullptr, 0, buf, sizeof buf, &returned);
    r.released = openwfp_device_ioctl(h, devtest::kPend, nullptr, 0, &r.value, sizeof r.value, &returned);
    ready.set_value(&own);
    pendAgain.get_future().wait();
    uint64_t v = 0;
    r.shutDown = openwfp_device_ioctl(h, devtest::kPend, nullptr, 0, &v, sizeof v, &returned);
    r.shutDownErrno = errno;
    openwfp_device_close(h);  // the handle is gone from this process's table either way
    return r;
  });
  ASSERT_TRUE(devtest::waitForPended(1));
  devtest::releaseAll(0x1234);  // answered on the thread's connection
  auto* own = ready.get_future().get();
  const size_t cleanups = devtest::count(devtest::kMjCleanup);
  pendAgain.set_value();
  ASSERT_TRUE(devtest::waitForPended(1));
  own->shutdown();
  Result r = worker.get();
  EXPECT_EQ(r.clientsWithIt, before + 1) << "the thread's own connection";
  EXPECT_EQ(r.echo, 0);
  EXPECT_EQ(r.query, 0) << "a socket control on the thread's connection";
  EXPECT_EQ(r.released, 0);
  EXPECT_EQ(r.value, 0x1234u);
  EXPECT_EQ(r.shutDown, -1);
  EXPECT_EQ(r.shutDownErrno, EIO);
  EXPECT_TRUE(devtest::waitForCount(devtest::kMjCleanup, cleanups + 1)) << "the engine closed the thread's handle";
  EXPECT_TRUE(devtest::waitForCount(devtest::kMjClose, 1));
  EXPECT_EQ(devtest::pendedCount(), 0u) << "CLEANUP cancelled the IRP pended on the thread's connection";
  // The process connection and its handle are untouched.
  char out[8] = {};
  EXPECT_EQ(openwfp_device_ioctl(mainHandle, devtest::kEcho, "xyz", 3, out, sizeof out, nullptr), 0);
  EXPECT_EQ(openwfp_device_close(mainHandle), 0);
}

TEST_F(ControlChannel, S10_2_ChannelClientGoneCancelsItsPendedIrpsBeforeCleanup) {
  ASSERT_TRUE(host.load(devtest::testDriverEntry(), "testdev"));
  // The child leaves an IOCTL pended with a cancel routine and exits: as the I/O manager does
  // for a terminating process, the engine cancels the IRP (IoCancelIrp) before CLEANUP.
  int go[2];
  ASSERT_EQ(pipe(go), 0);
  const pid_t child = spawnChild("leaves-a-cancelable-ioctl", {go[0]});
  ASSERT_GT(child, 0);
  close(go[0]);
  bool pended = false;
  for (int i = 0; i < 2000 && !pended; ++i) {  // 10 s failure guard
    pended = devtest::cancelablePendedCount() == 1;
    if (!pended) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_TRUE(pended);
  ASSERT_EQ(write(go[1], "g", 1), 1);
  close(go[1]);
  ASSERT_EQ(waitChild(child), 0);
  ASSERT_TRUE(devtest::waitForCount(devtest::kMjClose, 1)) << "CLOSE after the client went away";
  auto ev = devtest::events();
  int cancelAt = -1, cleanupAt = -1;
  for (size_t i = 0; i < ev.size(); ++i) {
    if (ev[i].major == devtest::kCancelRoutine && cancelAt < 0) cancelAt = static_cast<int>(i);
    if (ev[i].major == devtest::kMjCleanup && cleanupAt < 0) cleanupAt = static_cast<int>(i);
  }
  ASSERT_GE(cancelAt, 0) << "the driver's cancel routine was called";
  ASSERT_GE(cleanupAt, 0);
  EXPECT_LT(cancelAt, cleanupAt) << "cancelled before CLEANUP";
  EXPECT_EQ(devtest::cancelablePendedCount(), 0u);
  EXPECT_EQ(Runtime::current().verifier().count(openwfp::verifier::Code::KernelApiMisuse), 0u);
}

TEST_F(ControlChannel, S9_1_ChannelControlsFromManyThreadsAtOnce) {
  const auto expected = Runtime::current().sealer().seal(*history);
  constexpr int kThreads = 8, kCalls = 40;
  std::vector<std::future<int>> workers;
  for (int t = 0; t < kThreads; ++t) {
    workers.push_back(std::async(std::launch::async, [&, t] {
      int good = 0;
      for (int i = 0; i < kCalls; ++i) {
        std::vector<uint8_t> buf(512);
        size_t returned = 0;
        if (t % 2 == 0) {
          if (openwfp_ioctl(accepted, SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS, nullptr, 0, buf.data(), buf.size(),
                            &returned) == 0) {
            buf.resize(returned);
            good += buf == expected;
          }
        } else {
          good += openwfp_ioctl(listener, SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS, nullptr, 0, buf.data(), buf.size(),
                                &returned) == -1 &&
                  errno == ENOTCONN;
        }
      }
      return good;
    }));
  }
  int good = 0;
  for (auto& w : workers) good += w.get();
  EXPECT_EQ(good, kThreads * kCalls) << "every reply reached the thread that asked";
}

TEST_F(ControlChannel, S12_3_ChannelDeviceOpenOnlyForAllowedUsers) {
  ASSERT_TRUE(host.load(devtest::testDriverEntry(), "testdev"));
  // As another user (root drops to nobody in a child): refused unless listed in deviceUids.
  // Without root the test process cannot become another user; it then checks that its own uid
  // is allowed by both servers.
  ctl::ControlServerOptions allowNobody;
  allowNobody.deviceUids = {65534};
  ctl::ControlServer permissive(allowNobody);
  ASSERT_FALSE(permissive.start().has_value());
  const bool root = geteuid() == 0;
  // The opener is this binary re-executed (see spawnChild), as nobody when the test runs as root.
  auto openAs = [&](const std::string& path) {
    std::vector<std::string> env{std::string(ctl::kSocketEnv) + "=" + path};
    if (root) env.push_back("OPENWFP_TEST_DROP=1");
    return waitChild(spawnChild("device-open", {}, env));
  };
  EXPECT_EQ(openAs(server.path()), root ? 1 : 0) << "default server: only the engine's uid and root";
  EXPECT_EQ(openAs(permissive.path()), 0) << "a server that lists the uid";
  permissive.stop();
}

}  // namespace

namespace {

// Opens `device` over a raw connection to the server at `path`: the reply's status and handle.
std::pair<int32_t, uint32_t> rawOpen(int raw, const char* device) {
  ctl::ReceivedFrame reply;
  if (rawCall(raw, ctl::DeviceOpenRequest{device}, -1, reply) != ctl::ReadStatus::Ok) return {-1, 0};
  auto* r = std::get_if<ctl::DeviceOpenReply>(&reply.message);
  return r == nullptr ? std::pair<int32_t, uint32_t>{-1, 0} : std::pair{r->status, r->handle};
}

int32_t rawIoctl(int raw, uint32_t handle, uint32_t code) {
  ctl::ReceivedFrame reply;
  if (rawCall(raw, ctl::DeviceIoctlRequest{handle, code, 0, {}}, -1, reply, 2) != ctl::ReadStatus::Ok) return -1;
  auto* r = std::get_if<ctl::DeviceIoctlReply>(&reply.message);
  return r == nullptr ? -1 : r->status;
}

constexpr int32_t kAccessDenied = static_cast<int32_t>(0xC0000022u);
constexpr int32_t kInvalidDeviceRequest = static_cast<int32_t>(0xC0000010u);
// CTL_CODE(FILE_DEVICE_UNKNOWN, 0x901, METHOD_BUFFERED, access)
constexpr uint32_t ctlWithAccess(uint32_t access) { return (0x22u << 16) | (access << 14) | (0x901u << 2); }

}  // namespace

// S14.6: a device's security descriptor decides who opens it. Without one (IoCreateDevice) the
// engine's uid and root may, outside any supervised tree only; a process the host reports as
// inside its tree needs the descriptor to name RC (restricted code) and gets only what both its
// uid and RC are granted; an IOCTL whose access bits ask for more is refused before dispatch.
TEST_F(ControlChannel, S14_6_DeviceRefusesAnOpenerItsDescriptorDenies) {
  ASSERT_TRUE(host.load(devtest::testDriverEntry(), "testdev"));
  ASSERT_TRUE(host.load(devtest::secureDriverEntry(L"D:P(A;;GA;;;SY)(A;;GA;;;BA)(A;;GR;;;RC)"), "securedev"));
  ctl::ControlServerOptions treeOptions;
  const pid_t self = getpid();
  treeOptions.insideSupervisedTree = [self](pid_t pid) { return pid == self; };
  ctl::ControlServer tree(treeOptions);
  ASSERT_FALSE(tree.start().has_value());

  // Outside the tree: both devices open, with all rights.
  int outside = rawConnect(server.path());
  ASSERT_GE(outside, 0);
  auto [plainStatus, plain] = rawOpen(outside, devtest::kPath);
  EXPECT_EQ(plainStatus, 0);
  auto [secureStatus, secure] = rawOpen(outside, devtest::kSecurePath);
  ASSERT_EQ(secureStatus, 0);
  EXPECT_EQ(rawIoctl(outside, secure, ctlWithAccess(2)), kInvalidDeviceRequest) << "write access granted: dispatched";

  // Inside: the default descriptor does not name RC.
  int inside = rawConnect(tree.path());
  ASSERT_GE(inside, 0);
  EXPECT_EQ(rawOpen(inside, devtest::kPath).first, kAccessDenied);
  auto [treeStatus, treeHandle] = rawOpen(inside, devtest::kSecurePath);
  ASSERT_EQ(treeStatus, 0) << "SY and RC both grant read";
  EXPECT_EQ(rawIoctl(inside, treeHandle, ctlWithAccess(0)), kInvalidDeviceRequest);
  EXPECT_EQ(rawIoctl(inside, treeHandle, ctlWithAccess(1)), kInvalidDeviceRequest) << "read: dispatched";
  EXPECT_EQ(rawIoctl(inside, treeHandle, ctlWithAccess(2)), kAccessDenied) << "write: RC grants only read";
  close(inside);
  close(outside);

  // The client API: -1, EACCES and the NTSTATUS.
  setenv(ctl::kSocketEnv, tree.path().c_str(), 1);
  errno = 0;
  EXPECT_EQ(openwfp_device_open(devtest::kPath), -1);
  EXPECT_EQ(errno, EACCES);
  EXPECT_EQ(openwfp_device_last_status(), kAccessDenied);
  setenv(ctl::kSocketEnv, server.path().c_str(), 1);
  tree.stop();
}

// S14.6: a descriptor outside the supported subset fails IoCreateDeviceSecure with
// STATUS_INVALID_PARAMETER and one verifier line naming where; the driver's load fails.
TEST_F(ControlChannel, S14_6_BadSddlFailsDeviceCreationInOneLine) {
  auto loaded = host.load(devtest::secureDriverEntry(L"D:P(A;;GA;;;XX)"), "securedev");
  EXPECT_FALSE(loaded);
  bool reported = false;
  for (const auto& v : Runtime::current().verifier().violations()) {
    if (v.message.find("IoCreateDeviceSecure") == std::string::npos) continue;
    reported = true;
    EXPECT_NE(v.message.find("unsupported SID 'XX'"), std::string::npos) << v.message;
    EXPECT_EQ(v.message.find('\n'), std::string::npos) << v.message;
  }
  EXPECT_TRUE(reported);
  int32_t status = 0;
  EXPECT_EQ(openwfp::km::device::open(devtest::kSecurePath, 1, status), nullptr);
  EXPECT_EQ(status, static_cast<int32_t>(0xC0000034u)) << "no device was created";
}

// Service calls (frame type 5, docs/control-channel.md "Service calls"): the engine service's
// management and engine operations travel over the control channel with the kernel's
// credentials of the caller, up to one descriptor, and a per-connection identity whose end the
// host is told about (S14.1, S14.4, S14.5: dynamic sessions end with their connection).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <set>
#include <thread>

#include "control/service_client.h"
#include "openwfp/control.h"

namespace ctl = openwfp::control;

namespace {

struct Recorded {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<ctl::ServiceRequest> calls;
  std::set<uint64_t> closed;
};

ctl::ControlServerOptions echoOptions(Recorded& rec) {
  ctl::ControlServerOptions o;
  o.serviceHandler = [&rec](ctl::ServiceRequest& r) {
    ctl::ServiceResult out;
    out.status = static_cast<int32_t>(r.op) * 10;
    out.payload = r.payload;
    out.payload.push_back(static_cast<uint8_t>(r.fds.size()));
    if (!r.fds.empty()) {
      // Take the descriptor: read what the test wrote into it.
      char b[8] = {};
      ssize_t n = ::read(r.fds[0], b, sizeof b);
      for (ssize_t i = 0; i < n; ++i) out.payload.push_back(static_cast<uint8_t>(b[i]));
      ::close(r.fds[0]);
      r.fds[0] = -1;
    }
    std::lock_guard lock(rec.mu);
    ctl::ServiceRequest copy;
    copy.connection = r.connection;
    copy.pid = r.pid;
    copy.uid = r.uid;
    copy.service = r.service;
    copy.op = r.op;
    rec.calls.push_back(std::move(copy));
    return out;
  };
  o.connectionClosed = [&rec](uint64_t c) {
    std::lock_guard lock(rec.mu);
    rec.closed.insert(c);
    rec.cv.notify_all();
  };
  return o;
}

}  // namespace

TEST(ServiceCalls, S14_1_CallsCarryTheCallerCredentialsPayloadAndOneDescriptor) {
  Recorded rec;
  ctl::ControlServer server(echoOptions(rec));
  ASSERT_FALSE(server.start().has_value());
  std::string error;
  auto client = ctl::ServiceClient::connect(server.path(), error);
  ASSERT_TRUE(client) << error;
  EXPECT_EQ(client->serverPid(), ::getpid());

  const std::vector<uint8_t> payload = {1, 2, 3};
  auto r = client->call(ctl::kServiceEngine, 7, payload);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 70);
  EXPECT_EQ(r->payload, (std::vector<uint8_t>{1, 2, 3, 0}));

  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  ASSERT_EQ(::write(p[1], "fd!", 3), 3);
  ::close(p[1]);
  const int fds[1] = {p[0]};
  r = client->call(ctl::kServiceManagement, 2, {}, fds);
  ::close(p[0]);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->payload, (std::vector<uint8_t>{1, 'f', 'd', '!'}));

  std::lock_guard lock(rec.mu);
  ASSERT_EQ(rec.calls.size(), 2u);
  EXPECT_EQ(rec.calls[0].pid, ::getpid());
  EXPECT_EQ(rec.calls[0].uid, ::getuid());
  EXPECT_EQ(rec.calls[0].service, ctl::kServiceEngine);
  EXPECT_EQ(rec.calls[1].service, ctl::kServiceManagement);
  EXPECT_EQ(rec.calls[0].connection, rec.calls[1].connection);
  EXPECT_EQ(server.stats().serviceCalls, 2u);
}

TEST(ServiceCalls, S14_5_TheHostIsToldWhenAConnectionEnds) {
  Recorded rec;
  ctl::ControlServer server(echoOptions(rec));
  ASSERT_FALSE(server.start().has_value());
  std::string error;
  auto a = ctl::ServiceClient::connect(server.path(), error);
  auto b = ctl::ServiceClient::connect(server.path(), error);
  ASSERT_TRUE(a && b) << error;
  ASSERT_TRUE(a->call(ctl::kServiceEngine, 1, {}).has_value());
  ASSERT_TRUE(b->call(ctl::kServiceEngine, 1, {}).has_value());
  uint64_t idA, idB;
  {
    std::lock_guard lock(rec.mu);
    ASSERT_EQ(rec.calls.size(), 2u);
    idA = rec.calls[0].connection;
    idB = rec.calls[1].connection;
  }
  EXPECT_NE(idA, idB);
  a.reset();  // closes the connection
  std::unique_lock lock(rec.mu);
  ASSERT_TRUE(rec.cv.wait_for(lock, std::chrono::seconds(5), [&] { return rec.closed.count(idA) == 1; }))
      << "connectionClosed was not called within 5 s";
  EXPECT_EQ(rec.closed.count(idB), 0u);
}

TEST(ServiceCalls, S14_1_WithoutAHandlerServiceCallsAreRefusedWithEopnotsupp) {
  ctl::ControlServer server;
  ASSERT_FALSE(server.start().has_value());
  std::string error;
  auto client = ctl::ServiceClient::connect(server.path(), error);
  ASSERT_TRUE(client) << error;
  errno = 0;
  EXPECT_FALSE(client->call(ctl::kServiceEngine, 1, {}).has_value());
  EXPECT_EQ(errno, EOPNOTSUPP);
  // The connection stays usable.
  errno = 0;
  EXPECT_FALSE(client->call(ctl::kServiceEngine, 1, {}).has_value());
  EXPECT_EQ(errno, EOPNOTSUPP);
}

TEST(ServiceCalls, S14_1_AWellKnownSocketPathIsUsedAndTheEnginePathFollowsTheEnvironment) {
  char dirTemplate[] = "/tmp/openwfp-svc-XXXXXX";
  ASSERT_NE(::mkdtemp(dirTemplate), nullptr);
  const std::string path = std::string(dirTemplate) + "/engine.sock";
  {
    int stale = ::open(path.c_str(), O_CREAT | O_WRONLY, 0600);  // a leftover file is replaced
    ASSERT_GE(stale, 0);
    ::close(stale);
  }
  Recorded rec;
  auto o = echoOptions(rec);
  o.socketPath = path;
  o.socketMode = 0600;
  {
    ctl::ControlServer server(o);
    ASSERT_FALSE(server.start().has_value());
    EXPECT_EQ(server.path(), path);
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    std::string error;
    auto c = ctl::ServiceClient::connect(path, error);
    ASSERT_TRUE(c) << error;
    EXPECT_TRUE(c->call(ctl::kServiceEngine, 3, {}).has_value());
  }
  struct stat st {};
  EXPECT_NE(::stat(path.c_str(), &st), 0) << "stop() removes the socket";
  EXPECT_EQ(::stat(dirTemplate, &st), 0) << "stop() leaves the caller's directory";
  std::string error;
  EXPECT_FALSE(ctl::ServiceClient::connect(path, error));
  EXPECT_NE(error.find("no openwfp engine at " + path), std::string::npos) << error;
  ::rmdir(dirTemplate);

  const char* old = std::getenv("OPENWFP_ENGINE");
  std::string saved = old ? old : "";
  ::setenv("OPENWFP_ENGINE", "/x/y.sock", 1);
  EXPECT_EQ(ctl::defaultEnginePath(), "/x/y.sock");
  ::unsetenv("OPENWFP_ENGINE");
  const char* xdg = std::getenv("XDG_RUNTIME_DIR");
  if (xdg != nullptr && xdg[0] == '/') {
    EXPECT_EQ(ctl::defaultEnginePath(), std::string(xdg) + "/openwfp/engine.sock");
  } else if (::geteuid() == 0) {
    EXPECT_EQ(ctl::defaultEnginePath(), "/run/openwfp/engine.sock");
  } else {
    EXPECT_EQ(ctl::defaultEnginePath(), "/tmp/openwfp-" + std::to_string(::geteuid()) + "/engine.sock");
  }
  if (old) ::setenv("OPENWFP_ENGINE", saved.c_str(), 1);
}

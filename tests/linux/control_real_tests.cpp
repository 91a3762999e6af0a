// Real processes and the control channel (ctest label `real`): a proxy written in C
// (control_test_proxy.c) uses openwfp_ioctl / WSAIoctl on real loopback sockets against an
// engine process (this test: ControlServer + linux_backend::Supervisor + a fake Classifier that
// redirects the app's connect to the proxy with the proxy as target PID).
//   S9.1/S9.2: the proxy queries records and context on the accepted socket;
//   S12.1: a second process holding the accepted socket gets EACCES;
//   S9.3: listening socket -> ENOTCONN, pipe -> ENOTSOCK;
//   S9.4 + S8.8: the proxy SIO_SETs the records on its outbound socket, whose connect is then
//         classified with those records (the live history): REDIRECTED_BY_SELF for the
//         redirect handle, and not redirected again;
//   S12.3: the same from a proxy started outside the supervised tree, running as another user;
//   S10.2: the verify_proxy driver (loaded in this engine process, the real engine classifying)
//         and its proxy in C talking through the driver's device over the channel;
//   S14.8: meanwhile a same-uid process outside the tree REGISTERs too and is refused (EBUSY).
#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "openwfp/control.h"
#include "openwfp/host.h"
#include "openwfp/linux_backend.h"
#include "openwfp/openwfp.h"
#include "real_helpers.h"
#include "support/test_child.h"
#include "redirect/history.h"
#include "redirect/records.h"

#ifndef OPENWFP_CONTROL_PROXY_BIN
#error "OPENWFP_CONTROL_PROXY_BIN must name the control_test_proxy binary"
#endif

using namespace openwfp;

namespace {

constexpr uint64_t kRedirectHandle = 0x5151;
constexpr const char* kContext = "proxied-ctx";

// Redirects connects to `original` to `proxy` (target PID settable once the proxy runs),
// permits everything else, and remembers what it saw.
class RedirectToProxy : public Classifier {
 public:
  RedirectToProxy(Endpoint original, Endpoint proxy) : original_(original), proxy_(proxy) {}

  void classify(StackHook hook, const StackRequest& request, StackDone done) override {
    if (hook != StackHook::Connect) {  // binds (and any other hook) as asked
      done(permitUnchanged(request));
      return;
    }
    ConnectVerdict v;
    v.finalRemote = request.remote;
    if (request.remote == original_) {
      auto h = redirect::History::create(request.proxiedRecords);
      redirect::Entry e;
      e.redirectHandle = kRedirectHandle;
      e.targetPid = targetPid.load();
      e.originalDestination = original_;
      e.redirectedTo = proxy_;
      e.filterId = 1;
      const size_t n = std::strlen(kContext) + 1;
      e.context = std::malloc(n);
      std::memcpy(e.context, kContext, n);
      e.contextSize = n;
      h->add(e, [](void* p) { std::free(p); });
      Runtime::current().sealer().track(h);
      v.finalRemote = proxy_;
      v.redirected = true;
      v.redirectTargetPid = targetPid.load();
      v.history = h;
      std::lock_guard lock(mu);
      redirectedHistory = h;
    } else {
      v.history = redirect::History::create(request.proxiedRecords);
    }
    {
      std::lock_guard lock(mu);
      seen.push_back({request, v});
    }
    done(v);
  }
  void connectionClosed(const std::shared_ptr<redirect::History>&) override {}

  std::atomic<uint32_t> targetPid{0};
  std::mutex mu;
  struct Seen {
    ConnectRequest request;
    ConnectVerdict verdict;
  };
  std::vector<Seen> seen;
  std::shared_ptr<redirect::History> redirectedHistory;

 private:
  Endpoint original_, proxy_;
};

uint16_t freePort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  socklen_t len = sizeof sa;
  getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  close(fd);
  return ntohs(sa.sin_port);
}

// A loopback server that accepts one connection and records what it reads.
class Upstream {
 public:
  Upstream() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    listen(fd_, 4);
    socklen_t len = sizeof sa;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&sa), &len);
    port_ = ntohs(sa.sin_port);
    thread_ = std::thread([this] {
      int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) return;
      char buf[64];
      ssize_t n;
      while ((n = read(c, buf, sizeof buf)) > 0) {
        std::lock_guard lock(mu_);
        got_.append(buf, static_cast<size_t>(n));
      }
      close(c);
    });
  }
  ~Upstream() {
    shutdown(fd_, SHUT_RDWR);
    thread_.join();
    close(fd_);
  }
  uint16_t port() const { return port_; }
  // What the upstream read, once it has `expected` (or after ~3 s).
  std::string got(const std::string& expected) {
    for (int i = 0; i < 600; ++i) {
      {
        std::lock_guard lock(mu_);
        if (got_ == expected) return got_;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    std::lock_guard lock(mu_);
    return got_;
  }

 private:
  int fd_;
  uint16_t port_;
  std::thread thread_;
  std::mutex mu_;
  std::string got_;
};

std::string drain(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

// Reads fd into acc until acc contains needle or ms pass. True when it does.
bool readUntil(int fd, const std::string& needle, int ms, std::string& acc) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  char buf[4096];
  while (acc.find(needle) == std::string::npos) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    const int n = poll(&p, 1, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    const ssize_t r = read(fd, buf, sizeof buf);
    if (r <= 0) return false;
    acc.append(buf, static_cast<size_t>(r));
  }
  return true;
}

// Runs `args` as a process outside the supervised tree with `env` added; its exit code (128 + the
// signal that killed it), or -1 when it did not exit within ms (it is then killed).
int runOutsideTree(const std::vector<std::string>& args, const std::string& env, int ms) {
  const pid_t pid = fork();
  if (pid == 0) {
    putenv(const_cast<char*>(env.c_str()));
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return testchild::waitChildFor(pid, std::chrono::milliseconds(ms));
}

class ControlReal : public ::testing::Test {
 protected:
  void SetUp() override {
    Runtime::reset();
    auto err = server.start();
    ASSERT_FALSE(err.has_value()) << *err;
  }
  void TearDown() override { server.stop(); }

  // The outbound connect to upstream as the engine classified it.
  std::optional<RedirectToProxy::Seen> upstreamConnect(RedirectToProxy& c, uint16_t port) {
    std::lock_guard lock(c.mu);
    for (const auto& s : c.seen) {
      if (s.request.remote == Endpoint::v4(0x7F000001, port)) return s;
    }
    return std::nullopt;
  }

  control::ControlServer server;
};

TEST_F(ControlReal, S9_4_ProxyQueriesAcceptedSocketAndItsOutboundConnectIsRedirectedBySelf) {
  Upstream upstream;
  const uint16_t proxyPort = freePort();
  const Endpoint original = *Endpoint::parse("127.0.0.2:4242");
  RedirectToProxy classifier(original, Endpoint::v4(0x7F000001, proxyPort));
  int in[2], out[2];
  ASSERT_EQ(pipe2(in, O_CLOEXEC), 0);
  ASSERT_EQ(pipe2(out, O_CLOEXEC), 0);
  linux_backend::SupervisorOptions options;
  options.extraEnv.push_back(server.envEntry());
  options.stdinFd = in[0];
  options.stdoutFd = out[1];
  options.interceptor.reapIntervalMs = 100;
  std::string output;
  int code;
  {
    linux_backend::Supervisor supervisor(classifier, options);
    auto started = supervisor.start({OPENWFP_CONTROL_PROXY_BIN, "proxy", std::to_string(proxyPort), "127.0.0.2", "4242",
                                     std::to_string(upstream.port()), "spawn-app"});
    ASSERT_TRUE(started.ok) << started.error;
    close(in[0]);
    close(out[1]);
    classifier.targetPid = static_cast<uint32_t>(started.pid);
    server.setLookup(linux_backend::connectionLookup(*supervisor.interceptor()));
    ASSERT_EQ(write(in[1], "g", 1), 1);
    output = drain(out[0]);
    code = supervisor.wait();
    server.setLookup(nullptr);
  }
  close(in[1]);
  close(out[0]);
  EXPECT_EQ(code, 0) << output;
  EXPECT_NE(output.find("failures 0"), std::string::npos) << output;
  EXPECT_NE(output.find(std::string("context ") + kContext), std::string::npos) << output;
  EXPECT_NE(output.find("ok other-process-eacces"), std::string::npos) << output;
  EXPECT_NE(output.find("ok listening-enotconn"), std::string::npos) << output;
  EXPECT_NE(output.find("ok pipe-enotsock"), std::string::npos) << output;
  EXPECT_EQ(upstream.got("up"), "up");

  // The app's connect was redirected to the proxy; the proxy's outbound connect carried the
  // records it set (the live history of the app's connection): REDIRECTED_BY_SELF for the
  // redirect handle, so a redirector skips it, and it was not redirected.
  auto up = upstreamConnect(classifier, upstream.port());
  ASSERT_TRUE(up.has_value());
  ASSERT_NE(up->request.proxiedRecords, nullptr) << "the outbound connect was classified with the records";
  {
    std::lock_guard lock(classifier.mu);
    EXPECT_EQ(up->request.proxiedRecords, classifier.redirectedHistory);
  }
  EXPECT_EQ(redirect::queryState(up->request.proxiedRecords.get(), kRedirectHandle).state,
            redirect::RedirectState::BySelf);
  EXPECT_EQ(redirect::queryState(up->request.proxiedRecords.get(), 0x9999).state, redirect::RedirectState::ByOther);
  EXPECT_FALSE(up->verdict.redirected);
  EXPECT_EQ(up->request.process.pid, static_cast<uint64_t>(classifier.targetPid.load()));
  EXPECT_GE(server.stats().socketControls, 6u);
}

TEST_F(ControlReal, S12_3_ProxyOutsideTheSupervisedTreeRunningAsAnotherUser) {
  Upstream upstream;
  const uint16_t proxyPort = freePort();
  const Endpoint original = *Endpoint::parse("127.0.0.2:4243");
  RedirectToProxy classifier(original, Endpoint::v4(0x7F000001, proxyPort));
  int in[2], out[2];
  ASSERT_EQ(pipe2(in, O_CLOEXEC), 0);
  ASSERT_EQ(pipe2(out, O_CLOEXEC), 0);
  const bool dropToNobody = geteuid() == 0;
  std::string env = server.envEntry();
  const std::string port = std::to_string(proxyPort), up = std::to_string(upstream.port());
  pid_t proxy = fork();
  if (proxy == 0) {  // async-signal-safe calls only: this process has threads
    dup2(in[0], 0);
    dup2(out[1], 1);
    if (dropToNobody) {
      // Another user: only the socket's 0666 inside a 0711 directory lets it in.
      if (setgroups(0, nullptr) != 0 || setgid(65534) != 0 || setuid(65534) != 0) _exit(120);
    }
    char* envp[] = {env.data(), nullptr};
    execle(OPENWFP_CONTROL_PROXY_BIN, OPENWFP_CONTROL_PROXY_BIN, "proxy", port.c_str(), "127.0.0.2", "4243", up.c_str(),
           static_cast<char*>(nullptr), envp);
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  classifier.targetPid = static_cast<uint32_t>(proxy);
  // Wait for the proxy to listen ("ok listen"), then run the app under the supervisor.
  std::string output;
  char c;
  while (output.find('\n') == std::string::npos && read(out[0], &c, 1) == 1) output += c;
  ASSERT_EQ(output, "ok listen\n");
  linux_backend::SupervisorOptions options;
  options.interceptor.reapIntervalMs = 100;
  int appCode;
  {
    linux_backend::Supervisor supervisor(classifier, options);
    auto started = supervisor.start({OPENWFP_CONTROL_PROXY_BIN, "app", "127.0.0.2", "4243"});
    ASSERT_TRUE(started.ok) << started.error;
    server.setLookup(linux_backend::connectionLookup(*supervisor.interceptor()));
    ASSERT_EQ(write(in[1], "g", 1), 1);
    appCode = supervisor.wait();
    output += drain(out[0]);
    server.setLookup(nullptr);
  }
  int status = 0;
  waitpid(proxy, &status, 0);
  close(in[1]);
  close(out[0]);
  EXPECT_EQ(appCode, 0) << "the app talked to the proxy it was redirected to";
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << output;
  EXPECT_NE(output.find("ok records"), std::string::npos) << output;
  EXPECT_NE(output.find(std::string("context ") + kContext), std::string::npos) << output;
  EXPECT_NE(output.find("ok other-process-eacces"), std::string::npos) << output;
  EXPECT_NE(output.find("ok set-records"), std::string::npos) << output;
  EXPECT_EQ(upstream.got("up"), "up");
}

TEST_F(ControlReal, S10_2_VerifyProxyDriverAndItsProxyTalkThroughTheDeviceOverTheChannel) {
  host::DriverHost drivers;
  auto loaded = drivers.load(OPENWFP_VERIFY_PROXY_SO);
  ASSERT_TRUE(loaded) << loaded.error;
  Upstream upstream;
  const uint16_t proxyPort = freePort();
  realtest::ClosedPort closed;  // nobody listens there, and no parallel test can take it
  const uint16_t closedPort = closed.port();
  int in[2], out[2];
  ASSERT_EQ(pipe2(in, O_CLOEXEC), 0);
  ASSERT_EQ(pipe2(out, O_CLOEXEC), 0);
  linux_backend::SupervisorOptions options;
  options.extraEnv.push_back(server.envEntry());
  options.stdinFd = in[0];
  options.stdoutFd = out[1];
  options.interceptor.reapIntervalMs = 100;
  std::string output;
  int code;
  bool hijackRegistered = false;
  int hijackCode = -2;
  {
    linux_backend::Supervisor supervisor(Runtime::current().classifier(), options);
    auto started = supervisor.start({OPENWFP_CONTROL_PROXY_BIN, "vp", std::to_string(proxyPort),
                                     std::to_string(upstream.port()), std::to_string(closedPort)});
    ASSERT_TRUE(started.ok) << started.error;
    close(in[0]);
    close(out[1]);
    server.setLookup(linux_backend::connectionLookup(*supervisor.interceptor()));
    // S14.8: once the proxy has registered, a same-uid process outside the tree that opens the
    // device and REGISTERs is refused, and the proxy stays registered (the flow below needs it).
    hijackRegistered = readUntil(out[0], "ok register", 10000, output);
    if (hijackRegistered) {
      hijackCode = runOutsideTree({OPENWFP_CONTROL_PROXY_BIN, "hijack", std::to_string(freePort())},
                                  server.envEntry(), 10000);
    }
    ASSERT_EQ(write(in[1], "g", 1), 1);
    output += drain(out[0]);
    code = supervisor.wait();
    server.setLookup(nullptr);
  }
  close(in[1]);
  close(out[0]);
  auto leaks = drivers.unloadAll();
  EXPECT_EQ(code, 0) << output;
  EXPECT_TRUE(hijackRegistered) << "the proxy did not say it registered within 10 s\n" << output;
  EXPECT_EQ(hijackCode, 0) << "a second REGISTER from outside the tree, while the proxy is live, "
                              "must fail with EBUSY (-1: it did not exit within 10 s)";
  EXPECT_NE(output.find("failures 0"), std::string::npos) << output;
  for (const char* stepName : {"ok register", "ok next", "ok set-records", "ok outcome", "ok context", "ok app-exit",
                               "ok next-closed", "ok app-refused", "ok never-accepted"}) {
    EXPECT_NE(output.find(stepName), std::string::npos) << stepName << "\n" << output;
  }
  EXPECT_EQ(upstream.got("up"), "up");
  EXPECT_TRUE(leaks.empty()) << leaks.front().what;
  EXPECT_GE(server.stats().deviceRequests, 6u);
}

}  // namespace

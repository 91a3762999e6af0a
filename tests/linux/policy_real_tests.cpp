// `openwfp run --policy FILE -- COMMAND` on real processes, loopback only (SPEC S17, ctest label
// `real`): curl, python3 and static busybox wget reach a local HTTP server through a socks5 rule
// to microsocks and through an http rule to this test's own CONNECT proxy (each upstream binds its
// outgoing connections to its own 127.0.0.x, so the server sees who connected); a block rule fails
// at once with its errno; a rule that does not match lets the connection pass unchanged; an
// unreachable destination behind socks5 fails at connect() with the upstream's error.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "real_helpers.h"

using namespace openwfp;
using namespace openwfp::realtest;

namespace {

const std::string kOpenwfp = OPENWFP_CLI_BIN;
const std::string kClaimProxy = OPENWFP_CONTROL_PROXY_BIN;  // control_test_proxy claim: a transparent proxy
const std::string kCurl = "/usr/bin/curl";
const std::string kPython = "/usr/bin/python3";
const std::string kBusybox = "/bin/busybox";
constexpr const char* kSocksOut = "127.0.0.5";    // microsocks -b
constexpr const char* kConnectOut = "127.0.0.6";  // the CONNECT proxy's outgoing address

const char* kPythonClient = R"(import socket, sys
s = socket.socket()
s.settimeout(10)
try:
    s.connect(("127.0.0.1", int(sys.argv[1])))
except OSError as e:
    print("connect errno", e.errno)
    sys.exit(3)
s.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
data = b""
while True:
    b = s.recv(4096)
    if not b:
        break
    data += b
sys.stdout.write(data.decode())
)";

struct RunResult {
  int exitCode = -1;
  std::string out, err;
  double seconds = 0;
};

std::string describe(const RunResult& r) {
  return "exit " + std::to_string(r.exitCode) + " after " + std::to_string(r.seconds) + " s\nstdout: " + r.out +
         "\nstderr: " + r.err;
}

const char* kGoClient = R"(package main

import (
	"fmt"
	"io"
	"net"
	"os"
)

func main() {
	c, err := net.Dial("tcp", "127.0.0.1:"+os.Args[1])
	if err != nil {
		fmt.Println("dial:", err)
		os.Exit(3)
	}
	fmt.Fprintf(c, "GET / HTTP/1.0\r\nHost: x\r\n\r\n")
	b, _ := io.ReadAll(c)
	os.Stdout.Write(b)
}
)";

// Runs argv to completion, killed (and the test failed) after `limit`.
RunResult runBounded(const TempDir& dir, const std::vector<std::string>& argv,
                     std::chrono::seconds limit = std::chrono::seconds(30)) {
  RunResult r;
  int out = ::open(dir.file("out").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int err = ::open(dir.file("err").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  const auto t0 = std::chrono::steady_clock::now();
  pid_t pid = spawnProcess(argv, out, err);
  ::close(out);
  ::close(err);
  int status = 0;
  bool done = false;
  while (std::chrono::steady_clock::now() - t0 < limit) {
    pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid) {
      done = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (!done) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    ADD_FAILURE() << "still running after " << limit.count() << " s, killed: " << argv[0];
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = readFile(dir.file("out"));
  r.err = readFile(dir.file("err"));
  return r;
}

bool canConnect(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons(port);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
  ::close(fd);
  return ok;
}

// microsocks on a free loopback port, outgoing connections bound to 127.0.0.5.
class Microsocks {
 public:
  Microsocks() {
    {
      int fd = listenSocket(SOCK_STREAM, "127.0.0.1");  // a free port, released just before use
      port_ = socketEndpoint(fd, false).port;
      ::close(fd);
    }
    int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    pid_ = spawnProcess({"/usr/bin/microsocks", "-i", "127.0.0.1", "-p", std::to_string(port_), "-b", kSocksOut},
                        null, null);
    ::close(null);
    ready_ = eventually([&] { return canConnect(port_); }, std::chrono::seconds(5));
  }
  ~Microsocks() {
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
  }
  bool ready() const { return ready_; }
  uint16_t port() const { return port_; }

 private:
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  bool ready_ = false;
};

// An HTTP CONNECT proxy: "CONNECT a.b.c.d:p HTTP/1.1" -> connects from 127.0.0.6, answers 200 and
// relays, or 502 when the destination refuses.
class ConnectProxy {
 public:
  ConnectProxy() : fd_(listenSocket(SOCK_STREAM, "127.0.0.1")) {
    port_ = socketEndpoint(fd_, false).port;
    thread_ = std::thread([this] { run(); });
  }
  ~ConnectProxy() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    for (auto& t : relays_) t.join();
    ::close(fd_);
  }
  uint16_t port() const { return port_; }
  int connects() const { return connects_.load(); }

 private:
  void run() {
    while (!stop_) {
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) {
        if (stop_) return;
        continue;
      }
      relays_.emplace_back([this, c] { serve(c); });
    }
  }
  void serve(int c) {
    std::string head;
    char ch;
    while (head.find("\r\n\r\n") == std::string::npos && head.size() < 4096) {
      pollfd p{c, POLLIN, 0};
      if (::poll(&p, 1, 5000) != 1 || ::recv(c, &ch, 1, 0) != 1) {
        ::close(c);
        return;
      }
      head += ch;
    }
    char host[64] = {};
    unsigned port = 0;
    if (std::sscanf(head.c_str(), "CONNECT %63[0-9.]:%u HTTP/1.", host, &port) != 2) {
      const char* bad = "HTTP/1.1 400 Bad Request\r\n\r\n";
      ::send(c, bad, std::strlen(bad), MSG_NOSIGNAL);
      ::close(c);
      return;
    }
    ++connects_;
    int up = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in from{};
    from.sin_family = AF_INET;
    inet_pton(AF_INET, kConnectOut, &from.sin_addr);
    ::bind(up, reinterpret_cast<sockaddr*>(&from), sizeof from);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    inet_pton(AF_INET, host, &to.sin_addr);
    to.sin_port = htons(static_cast<uint16_t>(port));
    if (::connect(up, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
      const char* refused = "HTTP/1.1 502 Bad Gateway\r\n\r\n";
      ::send(c, refused, std::strlen(refused), MSG_NOSIGNAL);
      ::close(up);
      ::close(c);
      return;
    }
    const char* ok = "HTTP/1.1 200 Connection established\r\n\r\n";
    ::send(c, ok, std::strlen(ok), MSG_NOSIGNAL);
    pollfd p[2] = {{c, POLLIN, 0}, {up, POLLIN, 0}};
    char buf[16384];
    bool open = true;
    while (open && !stop_) {
      if (::poll(p, 2, 200) <= 0) continue;
      for (int i = 0; i < 2 && open; ++i) {
        if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        ssize_t n = ::recv(p[i].fd, buf, sizeof buf, 0);
        if (n <= 0 || ::send(p[1 - i].fd, buf, static_cast<size_t>(n), MSG_NOSIGNAL) != n) open = false;
      }
    }
    ::close(up);
    ::close(c);
  }
  int fd_;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connects_{0};
  std::thread thread_;
  std::vector<std::thread> relays_;  // joined at the end (each ends when its peers close)
};

// The HTTP server, remembering the peer address of each connection.
class PeerServer {
 public:
  PeerServer() {
    server_.onAccept([this](int fd) {
      auto peer = socketEndpoint(fd, true);
      peer.port = 0;
      std::lock_guard lk(mu_);
      peers_.insert(peer.str());
    });
  }
  uint16_t port() const { return server_.port(); }
  std::string body() const { return server_.body(); }
  int accepts() const { return server_.accepts(); }
  bool sawPeer(const std::string& addr) {
    std::lock_guard lk(mu_);
    return peers_.count(addr + ":0") > 0;
  }

 private:
  HttpServer server_;
  std::mutex mu_;
  std::set<std::string> peers_;
};

class PolicyRun : public ::testing::Test {
 protected:
  std::string policy(const std::string& text) {
    const std::string path = dir.file("policy.toml");
    std::ofstream(path) << text;
    return path;
  }
  std::vector<std::string> client(const std::string& which, uint16_t port) {
    const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/";
    if (which == "curl") return {kCurl, "-sS", "--noproxy", "*", "--max-time", "10", url};
    if (which == "go") {  // a static Go binary: net.Dial makes its own raw syscalls
      std::ofstream(dir.file("client.go")) << kGoClient;
      RunResult b = runBounded(dir, {"/usr/bin/env", "CGO_ENABLED=0", "GOCACHE=" + dir.file("gocache"),
                                     "GOPATH=" + dir.file("gopath"), "HOME=" + dir.path(), "/usr/bin/go", "build",
                                     "-o", dir.file("goclient"), dir.file("client.go")},
                               std::chrono::seconds(110));
      EXPECT_EQ(b.exitCode, 0) << "go build: " << describe(b);
      return {dir.file("goclient"), std::to_string(port)};
    }
    if (which == "python3") {
      std::ofstream(dir.file("client.py")) << kPythonClient;
      return {kPython, dir.file("client.py"), std::to_string(port)};
    }
    return {kBusybox, "wget", "-q", "-O", "-", url};  // (this busybox crashes with -T)
  }
  RunResult run(const std::string& policyFile, std::vector<std::string> command) {
    std::vector<std::string> argv = {kOpenwfp, "run", "--policy", policyFile, "--"};
    argv.insert(argv.end(), command.begin(), command.end());
    return runBounded(dir, argv);
  }
  void throughSocks5(const std::string& which) {
    Microsocks socks;
    ASSERT_TRUE(socks.ready()) << "microsocks did not accept within 5 s";
    PeerServer server;
    auto file = policy("[[rule]]\nremote = \"127.0.0.1\"\nport = " + std::to_string(server.port()) +
                       "\nproxy = \"socks5://127.0.0.1:" + std::to_string(socks.port()) + "\"\n");
    RunResult r = run(file, client(which, server.port()));
    ASSERT_EQ(r.exitCode, 0) << describe(r);
    EXPECT_NE(r.out.find(server.body()), std::string::npos) << describe(r);
    EXPECT_TRUE(server.sawPeer(kSocksOut)) << "the server was reached through microsocks";
    EXPECT_FALSE(server.sawPeer("127.0.0.1")) << "and not directly";
  }
  void throughHttp(const std::string& which) {
    ConnectProxy proxy;
    PeerServer server;
    auto file = policy("[[rule]]\nremote = \"127.0.0.0/8\"\nport = " + std::to_string(server.port()) +
                       "\nproxy = \"http://127.0.0.1:" + std::to_string(proxy.port()) + "\"\n");
    RunResult r = run(file, client(which, server.port()));
    ASSERT_EQ(r.exitCode, 0) << describe(r);
    EXPECT_NE(r.out.find(server.body()), std::string::npos) << describe(r);
    EXPECT_GE(proxy.connects(), 1);
    EXPECT_TRUE(server.sawPeer(kConnectOut)) << "the server was reached through the CONNECT proxy";
    EXPECT_FALSE(server.sawPeer("127.0.0.1")) << "and not directly";
  }
  TempDir dir;
};

}  // namespace

TEST_F(PolicyRun, S17_2_CurlThroughSocks5) { throughSocks5("curl"); }
TEST_F(PolicyRun, S17_2_PythonThroughSocks5) { throughSocks5("python3"); }
TEST_F(PolicyRun, S17_2_StaticBusyboxWgetThroughSocks5) { throughSocks5("busybox"); }
TEST_F(PolicyRun, S17_2_StaticGoClientThroughSocks5) { throughSocks5("go"); }
TEST_F(PolicyRun, S17_2_CurlThroughHttpConnect) { throughHttp("curl"); }
TEST_F(PolicyRun, S17_2_PythonThroughHttpConnect) { throughHttp("python3"); }
TEST_F(PolicyRun, S17_2_StaticBusyboxWgetThroughHttpConnect) { throughHttp("busybox"); }

TEST_F(PolicyRun, S17_1_BlockRuleFailsAtOnceWithItsErrno) {
  PeerServer server;
  auto file = policy("[[rule]]\nremote = \"127.0.0.1\"\nport = " + std::to_string(server.port()) +
                     "\nblock = \"EHOSTUNREACH\"\n");
  RunResult r = run(file, client("python3", server.port()));
  EXPECT_EQ(r.exitCode, 3) << describe(r);
  EXPECT_NE(r.out.find("connect errno " + std::to_string(EHOSTUNREACH)), std::string::npos) << describe(r);
  EXPECT_LT(r.seconds, 10.0) << "at once, not after a timeout";
  EXPECT_EQ(server.accepts(), 0);
  RunResult curl = run(file, client("curl", server.port()));
  EXPECT_EQ(curl.exitCode, 7) << describe(curl);  // curl: could not connect
  EXPECT_EQ(server.accepts(), 0);
}

// redirect = "127.0.0.1:L": blocked (fail closed) while no process claimed the target; with this
// test's transparent proxy (control_test_proxy claim, inside the session) holding the claim, the
// connect lands on it, the SIO context names the rule and the original destination, and the
// proxy's own upstream connect (records set) reaches the server from its own address.
TEST_F(PolicyRun, S17_1_RedirectRuleReachesTheClaimingTransparentProxy) {
  PeerServer server;
  uint16_t listenPort;
  {
    int fd = listenSocket(SOCK_STREAM, "127.0.0.1");  // a free port, released just before use
    listenPort = socketEndpoint(fd, false).port;
    ::close(fd);
  }
  auto file = policy("[[rule]]\nremote = \"127.0.0.1\"\nport = " + std::to_string(server.port()) +
                     "\nredirect = \"127.0.0.1:" + std::to_string(listenPort) + "\"\n");
  RunResult blocked = run(file, client("python3", server.port()));
  EXPECT_EQ(blocked.exitCode, 3) << describe(blocked);
  EXPECT_NE(blocked.out.find("connect errno " + std::to_string(ECONNREFUSED)), std::string::npos) << describe(blocked);
  EXPECT_EQ(server.accepts(), 0) << "unclaimed: nothing reached the server";

  const std::string proxyOut = dir.file("claim.out");
  std::vector<std::string> command = {
      "/bin/sh", "-c",
      "\"$0\" claim " + std::to_string(listenPort) + " 127.0.0.7 >" + proxyOut + " 2>&1 & p=$!; i=0; "
      "until grep -q ready " + proxyOut + "; do i=$((i+1)); "
      "if [ $i -gt 100 ]; then echo 'the proxy did not claim within 10 s'; kill $p; exit 9; fi; sleep 0.1; done; "
      "\"$@\"; rc=$?; wait $p || exit 8; exit $rc",
      kClaimProxy};
  auto c = client("python3", server.port());
  command.insert(command.end(), c.begin(), c.end());
  RunResult r = run(file, command);
  const std::string proxyLog = readFile(proxyOut);
  ASSERT_EQ(r.exitCode, 0) << describe(r) << "\nproxy: " << proxyLog;
  EXPECT_NE(r.out.find(server.body()), std::string::npos) << describe(r);
  EXPECT_NE(proxyLog.find("context rule=1 orig=127.0.0.1:" + std::to_string(server.port())), std::string::npos)
      << proxyLog;
  EXPECT_TRUE(server.sawPeer("127.0.0.7")) << "the server was reached through the claiming proxy";
  EXPECT_FALSE(server.sawPeer("127.0.0.1")) << "and not directly";
}

TEST_F(PolicyRun, S17_1_RuleThatDoesNotMatchLetsTheConnectionPass) {
  PeerServer server;
  ClosedPort other;
  auto file = policy("[[rule]]\nremote = \"127.0.0.1\"\nport = " + std::to_string(other.port()) +
                     "\nblock = true\n\n[[rule]]\napp = \"/nonexistent/*\"\nblock = true\n");
  RunResult r = run(file, client("curl", server.port()));
  ASSERT_EQ(r.exitCode, 0) << describe(r);
  EXPECT_NE(r.out.find(server.body()), std::string::npos) << describe(r);
  EXPECT_TRUE(server.sawPeer("127.0.0.1")) << "directly, unchanged";
}

// run --policy --hand-off: the application's socket is the proxy's, connected to microsocks with
// the SOCKS5 handshake done (its peer is microsocks, not an openwfp listener), and its bytes
// reach the server through microsocks; an unreachable destination still fails at connect().
TEST_F(PolicyRun, S17_2_HandOffGivesTheApplicationTheSocketToTheSocks5Proxy) {
  Microsocks socks;
  ASSERT_TRUE(socks.ready()) << "microsocks did not accept within 5 s";
  PeerServer server;
  ClosedPort closed;
  auto file = policy("[[rule]]\nremote = \"127.0.0.1\"\nproxy = \"socks5://127.0.0.1:" + std::to_string(socks.port()) +
                     "\"\n");
  std::ofstream(dir.file("peer.py")) << R"(import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), 10)
print("peer %s:%d" % s.getpeername())
s.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
data = b""
while True:
    b = s.recv(4096)
    if not b:
        break
    data += b
sys.stdout.write(data.decode(errors="replace"))
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[2])), 10)
    print("unreachable connected")
except OSError as e:
    print("unreachable errno", e.errno)
)";
  RunResult r = runBounded(dir, {kOpenwfp, "run", "--policy", file, "--hand-off", "--", kPython, dir.file("peer.py"),
                                 std::to_string(server.port()), std::to_string(closed.port())});
  ASSERT_EQ(r.exitCode, 0) << describe(r);
  EXPECT_NE(r.out.find("peer 127.0.0.1:" + std::to_string(socks.port())), std::string::npos)
      << "the application holds the socket to microsocks: " << describe(r);
  EXPECT_NE(r.out.find(server.body()), std::string::npos) << describe(r);
  EXPECT_TRUE(server.sawPeer(kSocksOut)) << "the server was reached through microsocks";
  EXPECT_NE(r.out.find("unreachable errno " + std::to_string(ECONNREFUSED)), std::string::npos) << describe(r);
}

TEST_F(PolicyRun, S17_2_UnreachableDestinationBehindSocks5FailsAtConnect) {
  Microsocks socks;
  ASSERT_TRUE(socks.ready()) << "microsocks did not accept within 5 s";
  ClosedPort closed;
  auto file = policy("[[rule]]\nremote = \"127.0.0.1\"\nport = " + std::to_string(closed.port()) +
                     "\nproxy = \"socks5://127.0.0.1:" + std::to_string(socks.port()) + "\"\n");
  RunResult r = run(file, client("python3", closed.port()));
  EXPECT_EQ(r.exitCode, 3) << describe(r);
  EXPECT_NE(r.out.find("connect errno " + std::to_string(ECONNREFUSED)), std::string::npos)
      << "SOCKS5 reply 5 -> ECONNREFUSED at connect(): " << describe(r);
}

TEST_F(PolicyRun, S17_2_UnreachableDestinationBehindHttpProxyFailsAtConnect) {
  ConnectProxy proxy;
  ClosedPort closed;
  auto file = policy("[[rule]]\nremote = \"127.0.0.1\"\nport = " + std::to_string(closed.port()) +
                     "\nproxy = \"http://127.0.0.1:" + std::to_string(proxy.port()) + "\"\n");
  RunResult r = run(file, client("python3", closed.port()));
  EXPECT_EQ(r.exitCode, 3) << describe(r);
  EXPECT_NE(r.out.find("connect errno " + std::to_string(ECONNREFUSED)), std::string::npos)
      << "HTTP 502 -> ECONNREFUSED at connect(): " << describe(r);
  EXPECT_EQ(proxy.connects(), 1);
}

TEST_F(PolicyRun, S17_3_BadPolicyFileIsOneLineAndNothingRuns) {
  auto file = policy("[[rule]]\nport = 70000\npermit = true\n");
  RunResult r = run(file, {"/bin/true"});
  EXPECT_EQ(r.exitCode, 1) << describe(r);
  EXPECT_NE(r.err.find(file + ":2:8: expected port"), std::string::npos) << describe(r);
}

// tests/linux/real_tests.cpp - the Linux backend against real programs (SPEC S13, S6 and S5.6 for
// real processes): curl, python3, busybox-static's wget and a small C++ client run under the
// supervisor with a fake classifier that redirects 127.0.0.2:P to a loopback server 127.0.0.1:Q,
// blocks some destinations and permits the rest.
//
// Every scenario runs twice: in this process (Supervisor + FakeClassifier) and through the
// openwfp_supervise driver as an unprivileged user (setpriv to nobody when the tests run as root).
#include <arpa/inet.h>
#include <dirent.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <condition_variable>
#include <memory>
#include <sstream>
#include <thread>

#include "fake_classifier.h"
#include "openwfp/linux_backend.h"
#include "real_helpers.h"
#include "support/loopback.h"

using namespace openwfp;
using namespace openwfp::realtest;
using namespace std::chrono_literals;

namespace {

const std::string kCurl = "/usr/bin/curl";
const std::string kPython = "/usr/bin/python3";
const std::string kBusybox = "/bin/busybox";
const std::string kClient = OPENWFP_REAL_CLIENT_BIN;
const std::string kDriver = OPENWFP_SUPERVISE_BIN;

Endpoint ep(const std::string& text) {
  auto e = Endpoint::parse(text);
  if (!e) throw std::runtime_error("bad endpoint " + text);
  return *e;
}
std::string v4(const char* host, uint16_t port) { return std::string(host) + ":" + std::to_string(port); }
std::string v6(const char* host, uint16_t port) {
  return "[" + std::string(host) + "]:" + std::to_string(port);
}

// A port on 127.0.0.2 where nothing listens: the original destination of redirects. If a
// redirect is not applied the connection is refused, and never leaves the machine.
constexpr uint16_t kOrigPort = 9;

struct Scenario {
  FakePolicy policy;
  std::vector<std::string> argv;
  int blockErrno = 0;
  unsigned workers = 0;
};

struct RunResult {
  int exitCode = -1;
  std::string out;
  std::string err;
  std::vector<std::string> report;  // reportLine()s, then (driver) a "stats ..." line
  double seconds = 0;
  linux_backend::InterceptorStats stats;  // in-process only
};

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) {
    if (!l.empty()) out.push_back(l);
  }
  return out;
}

// The report line of the kind ("connect"/"bind") containing every needle, or "".
std::string findLine(const std::vector<std::string>& report, const std::string& kind,
                     const std::vector<std::string>& needles) {
  for (const std::string& l : report) {
    if (l.rfind(kind + " ", 0) != 0) continue;
    bool all = true;
    for (const std::string& n : needles) all = all && (l + " ").find(n + " ") != std::string::npos;
    if (all) return l;
  }
  return "";
}

std::string field(const std::string& line, const std::string& key) {
  auto pos = (" " + line).find(" " + key + "=");
  if (pos == std::string::npos) return "";
  auto start = pos + key.size() + 1;
  auto end = line.find(' ', start);
  return line.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

size_t countKind(const std::vector<std::string>& report, const std::string& kind) {
  size_t n = 0;
  for (const auto& l : report) n += l.rfind(kind + " ", 0) == 0;
  return n;
}

struct OutFiles {
  TempDir dir;
  int out = ::open(dir.file("out").c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  int err = ::open(dir.file("err").c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  int rep = ::open(dir.file("report").c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  ~OutFiles() {
    ::close(out);
    ::close(err);
    ::close(rep);
  }
};

RunResult runInProcess(const Scenario& s,
                       const std::function<void(linux_backend::Supervisor&)>& started = {},
                       FakeClassifier* external = nullptr) {
  OutFiles files;
  FakeClassifier own(s.policy);
  FakeClassifier& classifier = external != nullptr ? *external : own;
  linux_backend::SupervisorOptions o;
  o.stdoutFd = files.out;
  o.stderrFd = files.err;
  o.interceptor.reapIntervalMs = 100;
  if (s.blockErrno != 0) o.interceptor.blockErrno = s.blockErrno;
  if (s.workers != 0) o.interceptor.workerThreads = s.workers;
  RunResult r;
  auto t0 = std::chrono::steady_clock::now();
  {
    linux_backend::Supervisor sup(classifier, o);
    linux_backend::StartResult st = sup.start(s.argv);
    if (!st.ok) {
      r.exitCode = st.exitCode;
      r.err = st.error;
    } else {
      if (started) started(sup);
      r.exitCode = sup.wait();
      r.stats = sup.interceptor()->stats();
    }
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.out += readFile(files.dir.file("out"));
  r.err += readFile(files.dir.file("err"));
  for (const auto& c : classifier.connects()) r.report.push_back(reportLine(c));
  for (const auto& b : classifier.binds()) r.report.push_back(reportLine(b));
  return r;
}

bool runningAsRoot() { return ::geteuid() == 0; }

// The driver command line; as root it is started as nobody:nogroup without supplementary groups.
std::vector<std::string> driverArgv(const Scenario& s) {
  std::vector<std::string> a;
  if (runningAsRoot()) {
    a = {"/usr/bin/setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"};
  }
  a.push_back(kDriver);
  for (const auto& [from, to] : s.policy.connectRedirects) {
    a.insert(a.end(), {"--redirect", from.str() + "=" + to.str()});
  }
  for (const auto& [from, to] : s.policy.bindRedirects) {
    a.insert(a.end(), {"--bind-redirect", from.str() + "=" + to.str()});
  }
  for (const auto& e : s.policy.blocked) a.insert(a.end(), {"--block", e.str()});
  for (const auto& e : s.policy.timedOut) a.insert(a.end(), {"--timeout", e.str()});
  for (const auto& e : s.policy.pended) a.insert(a.end(), {"--pend", e.str()});
  a.insert(a.end(), {"--pend-ms", std::to_string(s.policy.pendMs)});
  if (s.blockErrno != 0) a.insert(a.end(), {"--block-errno", std::to_string(s.blockErrno)});
  a.insert(a.end(), {"--report-fd", "3", "--"});
  a.insert(a.end(), s.argv.begin(), s.argv.end());
  return a;
}

RunResult runDriver(const Scenario& s) {
  OutFiles files;
  RunResult r;
  auto t0 = std::chrono::steady_clock::now();
  pid_t pid = spawnProcess(driverArgv(s), files.out, files.err, files.rep);
  r.exitCode = waitExit(pid);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.out = readFile(files.dir.file("out"));
  r.err = readFile(files.dir.file("err"));
  r.report = lines(readFile(files.dir.file("report")));
  return r;
}

std::string describe(const RunResult& r) {
  std::string s = "exit=" + std::to_string(r.exitCode) + "\n--- stdout:\n" + r.out +
                  "\n--- stderr:\n" + r.err + "\n--- report:\n";
  for (const auto& l : r.report) s += l + "\n";
  return s;
}

enum class Mode { InProcess, Unprivileged };

class Real : public ::testing::TestWithParam<Mode> {
 protected:
  RunResult run(const Scenario& s) {
    RunResult r = GetParam() == Mode::InProcess ? runInProcess(s) : runDriver(s);
    if (GetParam() == Mode::Unprivileged && runningAsRoot()) {
      // Every classified call must come from a process that really ran unprivileged.
      for (const auto& l : r.report) {
        if (l.rfind("stats", 0) != 0) {
          EXPECT_EQ(field(l, "uid"), "65534") << l;
        }
      }
    }
    return r;
  }
  // The usual policy: 127.0.0.2:kOrigPort -> server.
  static FakePolicy redirectTo(const HttpServer& server) {
    FakePolicy p;
    p.connectRedirects.push_back({ep(v4("127.0.0.2", kOrigPort)), ep(v4("127.0.0.1", server.port()))});
    return p;
  }
};

TEST_P(Real, S13_1_CurlIsRedirected) {
  HttpServer server;
  Scenario s{redirectTo(server),
             {kCurl, "-sS", "--noproxy", "*", "--max-time", "10",
              "http://" + v4("127.0.0.2", kOrigPort) + "/"}};
  RunResult r = run(s);
  ASSERT_EQ(r.exitCode, 0) << describe(r);
  EXPECT_NE(r.out.find(server.body()), std::string::npos) << describe(r);
  EXPECT_EQ(server.accepts(), 1);
  std::string line = findLine(r.report, "connect", {"remote=" + v4("127.0.0.2", kOrigPort)});
  ASSERT_FALSE(line.empty()) << describe(r);
  EXPECT_EQ(field(line, "action"), "permit");
  EXPECT_EQ(field(line, "final"), v4("127.0.0.1", server.port()));
  EXPECT_EQ(field(line, "proto"), "tcp");
  EXPECT_EQ(field(line, "image"), kCurl);
}

TEST_P(Real, S13_1_PythonSocketClientIsRedirected) {
  HttpServer server;
  std::string code =
      "import socket\n"
      "s = socket.create_connection(('127.0.0.2', " + std::to_string(kOrigPort) + "))\n"
      "s.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n')\n"
      "data = b''\n"
      "while True:\n"
      "    chunk = s.recv(4096)\n"
      "    if not chunk: break\n"
      "    data += chunk\n"
      "print(data.decode())\n";
  RunResult r = run({redirectTo(server), {kPython, "-c", code}});
  ASSERT_EQ(r.exitCode, 0) << describe(r);
  EXPECT_NE(r.out.find(server.body()), std::string::npos) << describe(r);
  std::string line = findLine(r.report, "connect", {"remote=" + v4("127.0.0.2", kOrigPort)});
  ASSERT_FALSE(line.empty()) << describe(r);
  EXPECT_EQ(field(line, "final"), v4("127.0.0.1", server.port()));
  EXPECT_NE(field(line, "image").find("python3"), std::string::npos) << line;
}

TEST_P(Real, S13_1_StaticBusyboxWgetIsRedirected) {
  HttpServer server;
  RunResult r = run({redirectTo(server),
                     {kBusybox, "wget", "-q", "-O", "-", "http://" + v4("127.0.0.2", kOrigPort) + "/"}});
  ASSERT_EQ(r.exitCode, 0) << describe(r);
  EXPECT_NE(r.out.find(server.body()), std::string::npos) << describe(r);
  std::string line = findLine(r.report, "connect", {"remote=" + v4("127.0.0.2", kOrigPort)});
  ASSERT_FALSE(line.empty()) << describe(r);
  char real[4096] = {};
  ASSERT_NE(::realpath(kBusybox.c_str(), real), nullptr);
  EXPECT_EQ(field(line, "image"), std::string(real));  // /bin may be a link to /usr/bin
  EXPECT_EQ(field(line, "final"), v4("127.0.0.1", server.port()));
}

TEST_P(Real, S13_3_BlockedConnectFailsAtOnce) {
  HttpServer server;
  FakePolicy p;
  p.blocked.push_back(ep(v4("127.0.0.1", server.port())));
  RunResult r = run({p, {kCurl, "-sS", "--noproxy", "*", "--max-time", "20",
                         "http://" + v4("127.0.0.1", server.port()) + "/"}});
  EXPECT_EQ(r.exitCode, 7) << describe(r);  // curl: "Failed to connect"
  EXPECT_LT(r.seconds, 5.0);
  EXPECT_EQ(server.accepts(), 0);
  std::string line = findLine(r.report, "connect", {"remote=" + v4("127.0.0.1", server.port())});
  ASSERT_FALSE(line.empty()) << describe(r);
  EXPECT_EQ(field(line, "action"), "block");
}

TEST_P(Real, S13_3_BlockedConnectFailsWithEconnrefused) {
  HttpServer server;
  FakePolicy p;
  p.blocked.push_back(ep(v4("127.0.0.1", server.port())));
  RunResult r = run({p, {kClient, "tcp", "127.0.0.1", std::to_string(server.port())}});
  EXPECT_EQ(r.exitCode, 3) << describe(r);
  EXPECT_NE(r.out.find("error connect errno=111"), std::string::npos) << describe(r);
  EXPECT_EQ(server.accepts(), 0);
}

TEST_P(Real, S13_3_BlockErrnoIsConfigurable) {
  HttpServer server;
  FakePolicy p;
  p.blocked.push_back(ep(v4("127.0.0.1", server.port())));
  Scenario s{p, {kClient, "tcp", "127.0.0.1", std::to_string(server.port())}};
  s.blockErrno = EACCES;
  RunResult r = run(s);
  EXPECT_NE(r.out.find("error connect errno=13"), std::string::npos) << describe(r);
  EXPECT_EQ(server.accepts(), 0);
}

TEST_P(Real, S13_1_OtherConnectsPassUnchanged) {
  HttpServer redirected, other;
  RunResult r = run({redirectTo(redirected),
                     {kCurl, "-sS", "--noproxy", "*", "--max-time", "10",
                      "http://" + v4("127.0.0.1", other.port()) + "/"}});
  ASSERT_EQ(r.exitCode, 0) << describe(r);
  EXPECT_NE(r.out.find(other.body()), std::string::npos) << describe(r);
  EXPECT_EQ(redirected.accepts(), 0);
  EXPECT_EQ(other.accepts(), 1);
  std::string line = findLine(r.report, "connect", {"remote=" + v4("127.0.0.1", other.port())});
  ASSERT_FALSE(line.empty()) << describe(r);
  EXPECT_EQ(field(line, "final"), v4("127.0.0.1", other.port()));
}

TEST_P(Real, S13_2_Ipv6LoopbackIsRedirected) {
  HttpServer server("::1");
  // Nothing listens on [::1]:kOrigPort; the redirect goes to the server's port.
  FakePolicy p;
  p.connectRedirects.push_back({ep(v6("::1", kOrigPort)), ep(v6("::1", server.port()))});
  RunResult r = run({p, {kCurl, "-sS", "-g", "--noproxy", "*", "--max-time", "10",
                         "http://" + v6("::1", kOrigPort) + "/"}});
  ASSERT_EQ(r.exitCode, 0) << describe(r);
  EXPECT_NE(r.out.find(server.body()), std::string::npos) << describe(r);
  std::string line = findLine(r.report, "connect", {"remote=" + v6("::1", kOrigPort)});
  ASSERT_FALSE(line.empty()) << describe(r);
  EXPECT_EQ(field(line, "final"), v6("::1", server.port()));
}

TEST_P(Real, S13_2_V4MappedOnInet6SocketIsClassifiedAsV6) {
  HttpServer server;
  FakePolicy p;
  // The request is the V6 address ::ffff:127.0.0.2; the final destination a V4 address, which
  // the backend connects the AF_INET6 socket to as ::ffff:127.0.0.1.
  p.connectRedirects.push_back({ep(v6("::ffff:127.0.0.2", kOrigPort)), ep(v4("127.0.0.1", server.port()))});
  RunResult r = run({p, {kClient, "tcp", "::ffff:127.0.0.2", std::to_string(kOrigPort)}});
  ASSERT_EQ(r.exitCode, 0) << describe(r);
  EXPECT_NE(r.out.find(server.body()), std::string::npos) << describe(r);
  EXPECT_NE(r.out.find("peer=[::ffff:127.0.0.1]:" + std::to_string(server.port())), std::string::npos)
      << describe(r);
  std::string line = findLine(r.report, "connect", {"remote=" + v6("::ffff:127.0.0.2", kOrigPort)});
  ASSERT_FALSE(line.empty()) << describe(r);
  EXPECT_EQ(field(line, "proto"), "tcp");
}

TEST_P(Real, S13_3_NonBlockingConnectKeepsEinprogressAndSoError) {
  HttpServer server;
  RunResult r = run({redirectTo(server), {kClient, "tcp-nb", "127.0.0.2", std::to_string(kOrigPort)}});
  ASSERT_EQ(r.exitCode, 0) << describe(r);
  EXPECT_NE(r.out.find("connect=EINPROGRESS"), std::string::npos) << describe(r);
  EXPECT_NE(r.out.find("so_error=0"), std::string::npos) << describe(r);
  EXPECT_NE(r.out.find(server.body()), std::string::npos) << describe(r);
}

TEST_P(Real, S13_3_NonBlockingRedirectToClosedPortReportsRefusedInSoError) {
  ClosedPort closed;  // nobody listens there, and no parallel test can take it
  const uint16_t closedPort = closed.port();
  FakePolicy p;
  p.connectRedirects.push_back({ep(v4("127.0.0.2", kOrigPort)), ep(v4("127.0.0.1", closedPort))});
  RunResult r = run({p, {kClient, "tcp-nb", "127.0.0.2", std::to_string(kOrigPort)}});
  EXPECT_EQ(r.exitCode, 4) << describe(r);
  EXPECT_NE(r.out.find("so_error=111"), std::string::npos) << describe(r);
}

TEST_P(Real, S13_3_BlockingRedirectToClosedPortFailsWithEconnrefused) {
  ClosedPort closed;
  const uint16_t closedPort = closed.port();
  FakePolicy p;
  p.connectRedirects.push_back({ep(v4("127.0.0.2", kOrigPort)), ep(v4("127.0.0.1", closedPort))});
  RunResult r = run({p, {kClient, "tcp", "127.0.0.2", std::to_string(kOrigPort)}});
  EXPECT_EQ(r.exitCode, 3) << describe(r);
  EXPECT_NE(r.out.find("error connect errno=111"), std::string::npos) << describe(r);
}

// A listener whose accept queue is full drops SYNs, so a connect to it is not over within the
// performer's call (the second non-blocking connect says EALREADY): the call waits without
// holding a worker, and the application's blocking connect returns 0
// once the retransmitted SYN (1 s later) finds room, connected as a blocking connect leaves it.
TEST_P(Real, S13_3_BlockingConnectWaitsForAHandshakeThatIsNotOverAtOnce) {
  sockaddr_in sa{};
  const int listener = openwfp::testing::listenLoopbackAt(0, sa);  // room for one in the queue
  ASSERT_GE(listener, 0) << std::strerror(errno);
  // The filler takes that room (non-blocking, bounded: a kernel without SYN cookies may drop it).
  int filler = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  const int frc = ::connect(filler, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  ASSERT_TRUE(frc == 0 || errno == EINPROGRESS) << std::strerror(errno);
  pollfd fp{filler, POLLOUT, 0};
  ASSERT_EQ(::poll(&fp, 1, 5000), 1) << "the filler connection was not made within 5 s";
  int ferr = -1;
  socklen_t flen = sizeof ferr;
  ASSERT_EQ(::getsockopt(filler, SOL_SOCKET, SO_ERROR, &ferr, &flen), 0);
  ASSERT_EQ(ferr, 0) << std::strerror(ferr);
  std::atomic<int> accepted{0};
  const uint16_t listenPort = ntohs(sa.sin_port);
  // A socket in SYN_SENT to the listener (/proc/net/tcp: rem_address's port, st 02): the
  // supervised client's SYN was sent, and dropped.
  auto synSent = [listenPort] {
    std::FILE* f = std::fopen("/proc/net/tcp", "re");
    if (f == nullptr) return false;
    char buf[512];
    bool found = false;
    char want[16];
    std::snprintf(want, sizeof want, ":%04X 02 ", listenPort);
    while (!found && std::fgets(buf, sizeof buf, f) != nullptr) {
      // "  sl  local_address rem_address   st ...": the remote port and state follow the second ':'.
      const char* rem = std::strchr(buf, ':');
      rem = rem != nullptr ? std::strchr(rem + 1, ':') : nullptr;
      rem = rem != nullptr ? std::strchr(rem + 1, ':') : nullptr;
      found = rem != nullptr && std::strncmp(rem, want, std::strlen(want)) == 0;
    }
    std::fclose(f);
    return found;
  };
  std::atomic<bool> sawSynSent{false};
  std::thread server([&] {
    // The queue gets room only once the client's SYN was dropped; then its connection comes
    // with the retransmitted SYN.
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!synSent() && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    sawSynSent = std::chrono::steady_clock::now() < until;
    // The socket is listed in SYN_SENT a moment before its SYN leaves: let it be dropped first.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    while (accepted.load() < 2 && std::chrono::steady_clock::now() < until) {
      pollfd pfd{listener, POLLIN, 0};
      if (::poll(&pfd, 1, 100) <= 0) continue;
      int c = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
      if (c >= 0) {
        ++accepted;
        ::close(c);
      }
    }
  });
  FakePolicy p;  // permits everything
  const std::string port = std::to_string(listenPort);
  RunResult r = run({p, {kClient, "tcp-sndtimeo", "127.0.0.1", port, "0"}});
  server.join();
  ::close(filler);
  ::close(listener);
  ASSERT_EQ(r.exitCode, 0) << describe(r);
  EXPECT_TRUE(sawSynSent.load()) << "no SYN_SENT socket to the full listener within 10 s: " << describe(r);
  std::string line;
  for (const auto& l : lines(r.out)) {
    if (l.rfind("connect errno=", 0) == 0) line = l;
  }
  ASSERT_FALSE(line.empty()) << describe(r);
  EXPECT_EQ(field(line, "errno"), "0") << describe(r);
  EXPECT_GE(std::atoi(field(line, "ms").c_str()), 250) << "the handshake was over at once: " << describe(r);
  EXPECT_NE(r.out.find("connected=1"), std::string::npos) << describe(r);
  EXPECT_EQ(accepted.load(), 2) << describe(r);
}

TEST_P(Real, S13_1_ConnectedUdpIsRedirected) {
  UdpEchoServer echo;
  FakePolicy p;
  p.connectRedirects.push_back({ep(v4("127.0.0.2", kOrigPort)), ep(v4("127.0.0.1", echo.port()))});
  RunResult r = run({p, {kClient, "udp", "127.0.0.2", std::to_string(kOrigPort)}});
  ASSERT_EQ(r.exitCode, 0) << describe(r);
  EXPECT_NE(r.out.find("peer=" + v4("127.0.0.1", echo.port())), std::string::npos) << describe(r);
  EXPECT_NE(r.out.find("reply=echo:ping from " + std::to_string(echo.port())), std::string::npos)
      << describe(r);
  std::string line = findLine(r.report, "connect", {"remote=" + v4("127.0.0.2", kOrigPort)});
  ASSERT_FALSE(line.empty()) << describe(r);
  EXPECT_EQ(field(line, "proto"), "udp");
}

TEST_P(Real, S13_1_BindIsRedirected) {
  uint16_t asked, given;
  {
    HttpServer a, b;  // two ports that were free a moment ago
    asked = a.port();
    given = b.port();
  }
  FakePolicy p;
  p.bindRedirects.push_back({ep(v4("127.0.0.1", asked)), ep(v4("127.0.0.1", given))});
  RunResult r = run({p, {kClient, "bind-tcp", "127.0.0.1", std::to_string(asked)}});
  ASSERT_EQ(r.exitCode, 0) << describe(r);
  EXPECT_NE(r.out.find("bound=" + v4("127.0.0.1", given)), std::string::npos) << describe(r);
  std::string line = findLine(r.report, "bind", {"local=" + v4("127.0.0.1", asked)});
  ASSERT_FALSE(line.empty()) << describe(r);
  EXPECT_EQ(field(line, "final"), v4("127.0.0.1", given));
}

TEST_P(Real, S13_4_UnixConnectPassesUntouched) {
  TempDir dir;
  // "/tmp/openwfp-real-XXXXXX/u" plus padding so that a second path is exactly 13 characters
  // long is not possible inside the temp dir; use both a full-size address (110, never handed to
  // user space) and a 16-byte address length (handed over and answered "continue").
  std::string path = dir.file("s");
  UnixServer server(path);
  RunResult full = run({{}, {kClient, "unix", path}});
  ASSERT_EQ(full.exitCode, 0) << describe(full);
  EXPECT_NE(full.out.find("unix=unix-hello"), std::string::npos) << describe(full);
  EXPECT_EQ(countKind(full.report, "connect"), 0u) << describe(full);

  std::string shortPath = "/tmp/owfp" + std::to_string(::getpid() % 10000);
  shortPath.resize(13, 'x');  // offsetof(sun_path) 2 + 13 + NUL = 16, the sockaddr_in length
  UnixServer shortServer(shortPath);
  RunResult sixteen = run({{}, {kClient, "unix", shortPath, "16"}});
  ASSERT_EQ(sixteen.exitCode, 0) << describe(sixteen);
  EXPECT_NE(sixteen.out.find("unix=unix-hello"), std::string::npos) << describe(sixteen);
  EXPECT_EQ(countKind(sixteen.report, "connect"), 0u) << describe(sixteen);
}

TEST_P(Real, S13_1_CommandNotFoundExits127) {
  RunResult r = run({{}, {"openwfp-no-such-command-h5", "arg"}});
  EXPECT_EQ(r.exitCode, 127) << describe(r);
  EXPECT_NE(r.err.find("openwfp-no-such-command-h5: command not found"), std::string::npos)
      << describe(r);
  EXPECT_EQ(lines(r.err).size(), 1u) << describe(r);
}

TEST_P(Real, S13_1_ExitStatusIsTheCommands) {
  RunResult r = run({{}, {"/bin/sh", "-c", "exit 42"}});
  EXPECT_EQ(r.exitCode, 42) << describe(r);
  RunResult killed = run({{}, {"/bin/sh", "-c", "kill -TERM $$"}});
  EXPECT_EQ(killed.exitCode, 128 + SIGTERM) << describe(killed);
}

TEST_P(Real, S13_1_DescendantsAreCovered) {
  HttpServer server;
  // sh forks the client: the filter is inherited by descendants.
  std::string cmd = kClient + " tcp 127.0.0.2 " + std::to_string(kOrigPort) + "; true";
  RunResult r = run({redirectTo(server), {"/bin/sh", "-c", cmd}});
  ASSERT_EQ(r.exitCode, 0) << describe(r);
  EXPECT_NE(r.out.find(server.body()), std::string::npos) << describe(r);
  std::string line = findLine(r.report, "connect", {"remote=" + v4("127.0.0.2", kOrigPort)});
  ASSERT_FALSE(line.empty()) << describe(r);
  EXPECT_EQ(field(line, "image"), kClient);
}

TEST_P(Real, S13_2_ProcessMetadataComesFromTheKernel) {
  HttpServer server;
  // The connecting thread is not the main thread: pid must still be the thread group id.
  std::string code =
      "import os, socket, threading\n"
      "def go():\n"
      "    s = socket.create_connection(('127.0.0.1', " + std::to_string(server.port()) + "))\n"
      "    s.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n'); s.recv(10)\n"
      "t = threading.Thread(target=go); t.start(); t.join()\n"
      "print('pid=%d uid=%d' % (os.getpid(), os.geteuid()))\n";
  RunResult r = run({{}, {kPython, "-c", code}});
  ASSERT_EQ(r.exitCode, 0) << describe(r);
  std::string line = findLine(r.report, "connect", {"remote=" + v4("127.0.0.1", server.port())});
  ASSERT_FALSE(line.empty()) << describe(r);
  EXPECT_NE(r.out.find("pid=" + field(line, "pid") + " uid=" + field(line, "uid")), std::string::npos)
      << describe(r);
  char real[4096] = {};
  ASSERT_NE(::realpath(kPython.c_str(), real), nullptr);
  EXPECT_EQ(field(line, "image"), std::string(real));
  EXPECT_EQ(field(line, "local"), "0.0.0.0:0");  // not bound before connect
}

TEST_P(Real, S6_4_TimedOutVerdictFailsWithEtimedout) {
  HttpServer server;
  FakePolicy p;
  p.timedOut.push_back(ep(v4("127.0.0.1", server.port())));
  RunResult r = run({p, {kClient, "tcp", "127.0.0.1", std::to_string(server.port())}});
  EXPECT_NE(r.out.find("error connect errno=110"), std::string::npos) << describe(r);
  EXPECT_EQ(server.accepts(), 0);
}

TEST_P(Real, S6_2_PendedConnectBlocksOnlyItsThread) {
  HttpServer slow, fast;
  FakePolicy p;
  p.connectRedirects.push_back({ep(v4("127.0.0.2", kOrigPort)), ep(v4("127.0.0.1", slow.port()))});
  p.pended.push_back(ep(v4("127.0.0.2", kOrigPort)));
  p.pendMs = 700;
  // The fast connect goes to 127.0.0.2:fast, redirected (not pended) to the fast server.
  p.connectRedirects.push_back({ep(v4("127.0.0.2", fast.port())), ep(v4("127.0.0.1", fast.port()))});
  Scenario s{p, {kClient, "threads", "127.0.0.2", std::to_string(kOrigPort), std::to_string(fast.port())}};
  s.workers = 1;  // in-process: a single worker, which a pended classify must not hold
  RunResult r = run(s);
  ASSERT_EQ(r.exitCode, 0) << describe(r);
  auto f = r.out.find("done fast"), sl = r.out.find("done slow");
  ASSERT_NE(f, std::string::npos) << describe(r);
  ASSERT_NE(sl, std::string::npos) << describe(r);
  EXPECT_LT(f, sl) << describe(r);
  EXPECT_EQ(slow.accepts(), 1);
  EXPECT_EQ(fast.accepts(), 1);
}

TEST_P(Real, S13_1_TcpFastOpenConnectIsClassified) {
  HttpServer blocked, other;
  FakePolicy p;
  p.blocked.push_back(ep(v4("127.0.0.1", blocked.port())));
  p.connectRedirects.push_back({ep(v4("127.0.0.2", kOrigPort)), ep(v4("127.0.0.1", other.port()))});
  // sendto(MSG_FASTOPEN) connects without connect(): it is classified all the same.
  RunResult permitted = run({p, {kClient, "tfo", "127.0.0.1", std::to_string(other.port())}});
  ASSERT_EQ(permitted.exitCode, 0) << describe(permitted);
  EXPECT_NE(permitted.out.find(other.body()), std::string::npos) << describe(permitted);
  EXPECT_FALSE(findLine(permitted.report, "connect", {"remote=" + v4("127.0.0.1", other.port())}).empty())
      << describe(permitted);
  RunResult refused = run({p, {kClient, "tfo", "127.0.0.1", std::to_string(blocked.port())}});
  EXPECT_NE(refused.out.find("error sendto errno=111"), std::string::npos) << describe(refused);
  EXPECT_EQ(blocked.accepts(), 0);
  // A fast-open send is performed by the supervisor (S13.7): connect, then the data; so it can
  // be redirected too.
  RunResult redirected = run({p, {kClient, "tfo", "127.0.0.2", std::to_string(kOrigPort)}});
  ASSERT_EQ(redirected.exitCode, 0) << describe(redirected);
  EXPECT_NE(redirected.out.find(other.body()), std::string::npos) << describe(redirected);
  EXPECT_EQ(other.accepts(), 2);
  // curl --tcp-fastopen uses TCP_FASTOPEN_CONNECT + connect(): redirected like any connect.
  RunResult curl = run({p, {kCurl, "-sS", "--tcp-fastopen", "--noproxy", "*", "--max-time", "10",
                            "http://" + v4("127.0.0.2", kOrigPort) + "/"}});
  ASSERT_EQ(curl.exitCode, 0) << describe(curl);
  EXPECT_NE(curl.out.find(other.body()), std::string::npos) << describe(curl);
}

TEST_P(Real, S13_1_TcpFastOpenSendmsgWithAnOverlongNameIsClassified) {
  // sendmsg() does not fail a msg_namelen beyond sizeof(sockaddr_storage): the kernel clamps it
  // and connects (a negative one fails). Such a send is classified like any other: blocked here.
  HttpServer blocked, other;
  FakePolicy p;
  p.blocked.push_back(ep(v4("127.0.0.1", blocked.port())));
  for (const char* len : {"200", "129"}) {
    RunResult refused = run({p, {kClient, "tfo-msg", "127.0.0.1", std::to_string(blocked.port()), len}});
    EXPECT_NE(refused.out.find("error sendmsg errno=111"), std::string::npos) << len << describe(refused);
  }
  EXPECT_EQ(blocked.accepts(), 0);
  RunResult permitted = run({p, {kClient, "tfo-msg", "127.0.0.1", std::to_string(other.port()), "300"}});
  ASSERT_EQ(permitted.exitCode, 0) << describe(permitted);
  EXPECT_NE(permitted.out.find(other.body()), std::string::npos) << describe(permitted);
  EXPECT_FALSE(findLine(permitted.report, "connect", {"remote=" + v4("127.0.0.1", other.port())}).empty())
      << describe(permitted);
  // A negative length fails in the kernel (EINVAL) and connects nowhere.
  RunResult negative = run({p, {kClient, "tfo-msg", "127.0.0.1", std::to_string(other.port()), "0xffffffff"}});
  EXPECT_NE(negative.out.find("error sendmsg errno=22"), std::string::npos) << describe(negative);
  EXPECT_EQ(other.accepts(), 1);
}

TEST_P(Real, S13_5_UninspectableProcessFailsClosed) {
  // A process that makes itself non-dumpable cannot be read by an unprivileged supervisor
  // (process_vm_readv, pidfd_getfd): its connects fail (EACCES) rather than go out unclassified.
  // A root supervisor (CAP_SYS_PTRACE) can still inspect and classify it.
  HttpServer server;
  std::string code =
      "import ctypes, socket\n"
      "ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)\n"  // PR_SET_DUMPABLE 0
      "try:\n"
      "    socket.create_connection(('127.0.0.1', " + std::to_string(server.port()) + "))\n"
      "    print('connected')\n"
      "except OSError as e:\n"
      "    print('errno=%d' % e.errno)\n";
  RunResult r = run({{}, {kPython, "-c", code}});
  ASSERT_EQ(r.exitCode, 0) << describe(r);
  if (GetParam() == Mode::InProcess && runningAsRoot()) {
    EXPECT_NE(r.out.find("connected"), std::string::npos) << describe(r);
    EXPECT_EQ(countKind(r.report, "connect"), 1u) << describe(r);
  } else {
    EXPECT_NE(r.out.find("errno=13"), std::string::npos) << describe(r);
    EXPECT_EQ(countKind(r.report, "connect"), 0u) << describe(r);
    EXPECT_EQ(server.accepts(), 0);
  }
}

TEST_P(Real, S13_1_IoUringIsUnavailable) {
  // io_uring would connect without a system call the filter sees.
  RunResult r = run({{}, {kClient, "iouring"}});
  ASSERT_EQ(r.exitCode, 0) << describe(r);
  EXPECT_NE(r.out.find("io_uring errno=38"), std::string::npos) << describe(r);
}

TEST_P(Real, S13_8_TakeOverCallsAreRefusedInsideTheTree) {
  // A supervised process must not take the supervisor's seccomp listener (pidfd_getfd) or touch
  // its memory: refused with EPERM by the filter, whoever the target. ptrace is refused by the
  // supervisor (and the tree's root, COMMAND's parent, which the client probes) being
  // non-dumpable, for processes without CAP_SYS_PTRACE: probed unless the child runs as root
  // (in-process under a root test run, where it could trace this test process). pidfd_open of
  // the tree's root or the supervisor fails with EPERM too (S13.8: they cannot be signalled).
  const bool probePtrace = !(GetParam() == Mode::InProcess && runningAsRoot());
  RunResult r = probePtrace ? run({{}, {kClient, "takeover"}}) : run({{}, {kClient, "takeover", "noptrace"}});
  ASSERT_EQ(r.exitCode, 0) << describe(r);
  const std::string ptrace = probePtrace ? "ptrace errno=1" : "ptrace errno=-1";
  EXPECT_NE(r.out.find("pidfd_open errno=1 pidfd_getfd errno=1 " + ptrace +
                       " process_vm_readv errno=1 process_vm_writev errno=1"),
            std::string::npos)
      << describe(r);
  if (GetParam() == Mode::InProcess) {
    EXPECT_EQ(::prctl(PR_GET_DUMPABLE), 0) << "the supervising process is non-dumpable";
  }
}

// ---- S13.7: no call escapes its verdict (a blocking policy, a listener counting arrivals) ----

// "key=value" of the client's output.
std::string outValue(const std::string& out, const std::string& key) {
  for (const std::string& l : lines(out)) {
    std::string f = field(l, key);
    if (!f.empty()) return f;
  }
  return "";
}

size_t countAction(const std::vector<std::string>& report, const std::string& action) {
  size_t n = 0;
  for (const auto& l : report) n += l.rfind("connect ", 0) == 0 && field(l, "action") == action;
  return n;
}

TEST_P(Real, S13_7_EveryAddressLengthIsClassified) {
  AcceptCounter blocked("127.0.0.9");
  const std::string port = std::to_string(blocked.port());
  FakePolicy p;
  p.blocked.push_back(ep(v4("127.0.0.9", blocked.port())));
  p.blocked.push_back(ep(v6("::ffff:127.0.0.9", blocked.port())));
  const std::vector<std::string> v4Lengths = {"16", "17", "20", "23", "27", "64", "100", "127", "128"};
  const std::vector<std::string> mappedLengths = {"24", "25", "28", "32", "127", "128"};
  std::vector<std::string> argv = {kClient, "lengths", "127.0.0.9", port};
  argv.insert(argv.end(), v4Lengths.begin(), v4Lengths.end());
  argv.push_back("15");  // too short for sockaddr_in: the kernel's EINVAL, nothing classified
  RunResult r = run({p, argv});
  ASSERT_EQ(r.exitCode, 0) << describe(r);
  for (const auto& len : v4Lengths) {
    EXPECT_NE(r.out.find("len=" + len + " errno=111"), std::string::npos) << len << describe(r);
  }
  EXPECT_NE(r.out.find("len=15 errno=22"), std::string::npos) << describe(r);
  EXPECT_EQ(countAction(r.report, "block"), v4Lengths.size()) << describe(r);

  argv = {kClient, "lengths", "::ffff:127.0.0.9", port};
  argv.insert(argv.end(), mappedLengths.begin(), mappedLengths.end());
  RunResult m = run({p, argv});
  ASSERT_EQ(m.exitCode, 0) << describe(m);
  for (const auto& len : mappedLengths) {
    EXPECT_NE(m.out.find("len=" + len + " errno=111"), std::string::npos) << len << describe(m);
  }
  EXPECT_EQ(countAction(m.report, "block"), mappedLengths.size()) << describe(m);
  EXPECT_EQ(blocked.accepts(), 0);
}

TEST_P(Real, S13_7_RewrittenSockaddrNeverReachesTheBlockedAddress) {
  AcceptCounter permitted, blocked("127.0.0.9");
  FakePolicy p;
  p.blocked.push_back(ep(v4("127.0.0.9", blocked.port())));
  RunResult r = run({p, {kClient, "flip", "127.0.0.1", std::to_string(permitted.port()), "127.0.0.9",
                         std::to_string(blocked.port()), "1500"}});
  ASSERT_EQ(r.exitCode, 0) << describe(r);
  const int tries = std::atoi(outValue(r.out, "tries").c_str());
  EXPECT_GE(tries, 200) << r.out;
  EXPECT_GT(std::atoi(outValue(r.out, "connected").c_str()), 0) << r.out;
  EXPECT_GT(countAction(r.report, "block"), 0u) << r.out;  // both addresses were seen
  EXPECT_EQ(blocked.accepts(), 0) << r.out;
}

TEST_P(Real, S13_7_DescriptorSwappedUnderTheCallIsToldApart) {
  AcceptCounter blocked("127.0.0.9");
  FakePolicy p;
  p.blocked.push_back(ep(v4("127.0.0.9", blocked.port())));
  for (const char* kind : {"unix", "null"}) {
    RunResult r = run({p, {kClient, "swap", kind, "127.0.0.9", std::to_string(blocked.port()), "1500"}});
    ASSERT_EQ(r.exitCode, 0) << kind << describe(r);
    EXPECT_GE(std::atoi(outValue(r.out, "tries").c_str()), 200) << kind << r.out;
    EXPECT_EQ(outValue(r.out, "connected"), "0") << kind << r.out;
    EXPECT_GT(countAction(r.report, "block"), 0u) << kind << r.out;
  }
  EXPECT_EQ(blocked.accepts(), 0);
}

TEST_P(Real, S13_7_UnconnectedUdpIsClassifiedPerFlow) {
  UdpEchoServer blocked("127.0.0.9"), permitted, target;
  FakePolicy p;
  p.blocked.push_back(ep(v4("127.0.0.9", blocked.port())));
  p.connectRedirects.push_back({ep(v4("127.0.0.2", kOrigPort)), ep(v4("127.0.0.1", target.port()))});
  const std::string permittedEp = v4("127.0.0.1", permitted.port());
  for (const char* how : {"sendto", "sendmsg", "sendmmsg"}) {
    const bool many = std::string(how) == "sendmmsg";
    RunResult b = run({p, {kClient, "udp-send", how, "127.0.0.9", std::to_string(blocked.port()), "2"}});
    EXPECT_NE(b.out.find(std::string("error ") + how + " errno=111"), std::string::npos) << how << describe(b);

    RunResult ok = run({p, {kClient, "udp-send", how, "127.0.0.1", std::to_string(permitted.port()), "3"}});
    ASSERT_EQ(ok.exitCode, 0) << how << describe(ok);
    if (many) {
      EXPECT_NE(ok.out.find("sent=3\nmsg_len=7\nmsg_len=7\nmsg_len=7\n"), std::string::npos) << describe(ok);
    } else {
      EXPECT_NE(ok.out.find("sent=7\nsent=7\nsent=7\n"), std::string::npos) << how << describe(ok);
    }
    EXPECT_NE(ok.out.find("reply=echo:dgram-0 from " + std::to_string(permitted.port())), std::string::npos)
        << how << describe(ok);
    // One flow, classified once (its first datagram); the later ones reuse the verdict.
    size_t flows = 0;
    for (const auto& l : ok.report) flows += l.rfind("connect ", 0) == 0 && field(l, "remote") == permittedEp;
    EXPECT_EQ(flows, 1u) << how << describe(ok);
    EXPECT_NE(findLine(ok.report, "connect", {"remote=" + permittedEp, "proto=udp"}), "") << describe(ok);

    RunResult red = run({p, {kClient, "udp-send", how, "127.0.0.2", std::to_string(kOrigPort), "2"}});
    ASSERT_EQ(red.exitCode, 0) << how << describe(red);
    EXPECT_NE(red.out.find("reply=echo:dgram-0 from " + std::to_string(target.port())), std::string::npos)
        << how << describe(red);
  }
  EXPECT_TRUE(eventually([&] { return permitted.payloads().size() >= 9 && target.payloads().size() >= 6; }, 2000ms));
  auto got = permitted.payloads();
  EXPECT_EQ(got.size(), 9u);
  for (const auto& d : got) EXPECT_TRUE(d == "dgram-0" || d == "dgram-1" || d == "dgram-2") << d;
  EXPECT_EQ(target.payloads().size(), 6u);
  EXPECT_TRUE(blocked.payloads().empty());
}

TEST_P(Real, S13_7_PermittedCallsKeepTheirSemantics) {
  // Every answer of a performed call is the kernel's own: the client's lines are the same with
  // and without the supervisor.
  AcceptCounter server;
  ClosedPort closed;
  std::vector<std::string> argv = {kClient, "semantics", "127.0.0.1", std::to_string(server.port()),
                                   std::to_string(closed.port())};
  OutFiles files;
  pid_t pid = spawnProcess(argv, files.out, files.err);
  ASSERT_EQ(waitExit(pid), 0);
  const std::string direct = readFile(files.dir.file("out"));
  ASSERT_NE(direct.find("second=106"), std::string::npos) << direct;  // EISCONN
  ASSERT_NE(direct.find("refused_so_error=111"), std::string::npos) << direct;
  ASSERT_NE(direct.find("peer_after=107"), std::string::npos) << direct;  // ENOTCONN
  ASSERT_NE(direct.find("bad_fd_bad_addr=9\n"), std::string::npos) << direct;  // EBADF before EFAULT
  ASSERT_NE(direct.find("bad_addr=14\n"), std::string::npos) << direct;        // EFAULT
  ASSERT_NE(direct.find("file_bad_addr=14\n"), std::string::npos) << direct;   // before ENOTSOCK
  ASSERT_NE(direct.find("bind_file_bad_addr=88\n"), std::string::npos) << direct;  // bind: after it
  RunResult r = run({{}, argv});
  ASSERT_EQ(r.exitCode, 0) << describe(r);
  EXPECT_EQ(r.out, direct) << describe(r);
  EXPECT_GE(countAction(r.report, "permit"), 5u) << describe(r);
  EXPECT_NE(findLine(r.report, "bind", {"local=127.0.0.1:0"}), "") << describe(r);
}

INSTANTIATE_TEST_SUITE_P(Supervisor, Real, ::testing::Values(Mode::InProcess, Mode::Unprivileged),
                         [](const ::testing::TestParamInfo<Mode>& info) {
                           return std::string(info.param == Mode::InProcess ? "InProcess" : "Unprivileged");
                         });

// ---- in-process only: lookups, connection ends, counters ----

TEST(RealBackend, S13_6_KernelFeaturesArePresent) {
  EXPECT_EQ(linux_backend::checkLinuxFeatures(), std::nullopt);
}

TEST(RealBackend, S13_3_RedirectedConnectionIsFoundByTuple) {
  HttpServer server;
  FakePolicy p;
  p.connectRedirects.push_back({ep(v4("127.0.0.2", kOrigPort)), ep(v4("127.0.0.1", server.port()))});
  p.redirectTargetPid = static_cast<uint32_t>(::getpid());
  FakeClassifier classifier(p);
  std::mutex mu;
  std::optional<ConnectionInfo> found;
  linux_backend::Supervisor* current = nullptr;
  std::condition_variable currentSet;
  server.onAccept([&](int fd) {
    // The accepted socket's peer is the client's local address; its local address is where the
    // client is connected. (The client may connect before start() has returned here.)
    std::unique_lock lock(mu);
    currentSet.wait_for(lock, 5s, [&] { return current != nullptr; });
    if (current != nullptr) {
      found = current->interceptor()->findConnection(socketEndpoint(fd, true), socketEndpoint(fd, false));
    }
  });
  RunResult r = runInProcess({p, {kClient, "tcp", "127.0.0.2", std::to_string(kOrigPort)}},
                             [&](linux_backend::Supervisor& s) {
                               std::lock_guard lock(mu);
                               current = &s;
                               currentSet.notify_all();
                             },
                             &classifier);
  {
    std::lock_guard lock(mu);
    current = nullptr;
  }
  ASSERT_EQ(r.exitCode, 0) << describe(r);
  ASSERT_TRUE(found.has_value());
  EXPECT_TRUE(found->redirected);
  EXPECT_TRUE(found->tupleKnown);
  EXPECT_EQ(found->originalRemote, ep(v4("127.0.0.2", kOrigPort)));
  EXPECT_EQ(found->remote, ep(v4("127.0.0.1", server.port())));
  EXPECT_EQ(found->redirectTargetPid, static_cast<uint32_t>(::getpid()));
  auto seen = classifier.connects();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(found->history, seen[0].verdict.history);
  EXPECT_EQ(found->socketCookie, seen[0].request.socketId);
  EXPECT_NE(found->socketCookie, 0u);
}

TEST(RealBackend, S13_2_ContinuedConnectionIsFoundAfterSockDiagScan) {
  HttpServer server;
  FakeClassifier classifier;
  std::mutex mu;
  std::optional<ConnectionInfo> found;
  linux_backend::Supervisor* current = nullptr;
  std::condition_variable currentSet;
  server.onAccept([&](int fd) {
    std::unique_lock lock(mu);
    currentSet.wait_for(lock, 5s, [&] { return current != nullptr; });
    if (current != nullptr) {
      found = current->interceptor()->findConnection(socketEndpoint(fd, true), socketEndpoint(fd, false));
    }
  });
  RunResult r = runInProcess({{}, {kClient, "tcp", "127.0.0.1", std::to_string(server.port())}},
                             [&](linux_backend::Supervisor& s) {
                               std::lock_guard lock(mu);
                               current = &s;
                               currentSet.notify_all();
                             },
                             &classifier);
  {
    std::lock_guard lock(mu);
    current = nullptr;
  }
  ASSERT_EQ(r.exitCode, 0) << describe(r);
  ASSERT_TRUE(found.has_value());
  EXPECT_FALSE(found->redirected);
  EXPECT_EQ(found->remote, ep(v4("127.0.0.1", server.port())));
  auto seen = classifier.connects();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(found->history, seen[0].verdict.history);
}

TEST(RealBackend, S13_1_SlowInlineClassifyDoesNotStopOtherCalls) {
  // A classify that takes long without pending holds its worker; another worker takes over
  // receiving, so the other thread's connect is served meanwhile.
  HttpServer slow, fast;
  FakePolicy p;
  p.connectRedirects.push_back({ep(v4("127.0.0.2", kOrigPort)), ep(v4("127.0.0.1", slow.port()))});
  p.connectRedirects.push_back({ep(v4("127.0.0.2", fast.port())), ep(v4("127.0.0.1", fast.port()))});
  p.slow.push_back(ep(v4("127.0.0.2", kOrigPort)));
  p.pendMs = 700;
  Scenario s{p, {kClient, "threads", "127.0.0.2", std::to_string(kOrigPort), std::to_string(fast.port())}};
  s.workers = 2;
  RunResult r = runInProcess(s);
  ASSERT_EQ(r.exitCode, 0) << describe(r);
  auto f = r.out.find("done fast"), sl = r.out.find("done slow");
  ASSERT_NE(f, std::string::npos) << describe(r);
  ASSERT_NE(sl, std::string::npos) << describe(r);
  EXPECT_LT(f, sl) << describe(r);
}

// Threads of this process named `comm` and where they sleep (/proc/self/task/*/wchan).
std::vector<std::string> threadWaits(const std::string& comm) {
  std::vector<std::string> out;
  DIR* dir = ::opendir("/proc/self/task");
  if (dir == nullptr) return out;
  while (dirent* d = ::readdir(dir)) {
    if (d->d_name[0] == '.') continue;
    std::string base = std::string("/proc/self/task/") + d->d_name;
    std::string c = readFile(base + "/comm");
    if (!c.empty() && c.back() == '\n') c.pop_back();
    if (c == comm) out.push_back(readFile(base + "/wchan"));
  }
  ::closedir(dir);
  return out;
}

TEST(RealBackend, S13_1_OnlyOneWorkerWaitsForTheKernel) {
  // Every thread waiting in the receive ioctl is woken for each notification: however many
  // workers there are, only one may wait there, also after an idle period.
  HttpServer server;
  FakeClassifier classifier;
  linux_backend::SupervisorOptions o;
  o.interceptor.workerThreads = 4;
  std::string cmd = kClient + " tcp 127.0.0.1 " + std::to_string(server.port()) + " >/dev/null; sleep 1";
  linux_backend::Supervisor sup(classifier, o);
  ASSERT_TRUE(sup.start({"/bin/sh", "-c", cmd}).ok);
  std::this_thread::sleep_for(600ms);  // idle: the monitor has woken and backed off meanwhile
  auto waits = threadWaits("owfp-notify");
  EXPECT_EQ(sup.wait(), 0);
  ASSERT_EQ(waits.size(), 4u);
  size_t inKernelReceive = 0;
  for (const auto& w : waits) inKernelReceive += w.find("recv_wait_event") != std::string::npos ||
                                                 w.find("seccomp_notify") != std::string::npos;
  EXPECT_EQ(inKernelReceive, 1u) << ::testing::PrintToString(waits);
  EXPECT_EQ(classifier.connects().size(), 1u);
}

TEST(RealBackend, S9_4_AttachedRecordsReachTheConnectClassify) {
  HttpServer server;
  FakeClassifier classifier;
  auto records = redirect::History::create();
  int in[2];
  ASSERT_EQ(::pipe2(in, O_CLOEXEC), 0);
  OutFiles files;
  linux_backend::SupervisorOptions o;
  o.stdinFd = in[0];
  o.stdoutFd = files.out;
  o.stderrFd = files.err;
  int exitCode;
  {
    linux_backend::Supervisor sup(classifier, o);
    auto st = sup.start({kClient, "cookie-tcp", "127.0.0.1", std::to_string(server.port())});
    ASSERT_TRUE(st.ok) << st.error;
    ::close(in[0]);
    // The records are attached to the socket (by cookie) before it connects (SIO_SET).
    std::string out;
    ASSERT_TRUE(eventually([&] { return (out = readFile(files.dir.file("out"))).find('\n') != std::string::npos; }, 5000ms));
    uint64_t cookie = std::stoull(out.substr(out.find("cookie=") + 7));
    sup.interceptor()->attachRecords(cookie, records);
    ASSERT_EQ(::write(in[1], "go\n", 3), 3);
    exitCode = sup.wait();
  }
  ::close(in[1]);
  EXPECT_EQ(exitCode, 0);
  auto seen = classifier.connects();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].request.proxiedRecords, records);
}

TEST(RealBackend, S5_6_ClosedRealConnectionsAreReported) {
  HttpServer server;
  FakePolicy p;
  p.connectRedirects.push_back({ep(v4("127.0.0.2", kOrigPort)), ep(v4("127.0.0.1", server.port()))});
  FakeClassifier classifier(p);
  // The command keeps running after its two connections closed: the reaper must find them.
  std::string cmd = kClient + " tcp 127.0.0.2 " + std::to_string(kOrigPort) + " && " + kClient +
                    " tcp 127.0.0.1 " + std::to_string(server.port()) + " && exec sleep 15";
  bool reportedWhileRunning = false;
  RunResult r = runInProcess({p, {"/bin/sh", "-c", cmd}},
                             [&](linux_backend::Supervisor& s) {
                               reportedWhileRunning = classifier.waitFor(10000ms, [](auto& c, auto&, auto& closed) {
                                 return c.size() == 2 && closed.size() == 2;
                               });
                               ::kill(s.childPid(), SIGKILL);
                             },
                             &classifier);
  EXPECT_TRUE(reportedWhileRunning) << describe(r);
  auto seen = classifier.connects();
  auto closed = classifier.closed();
  ASSERT_EQ(seen.size(), 2u) << describe(r);
  ASSERT_EQ(closed.size(), 2u) << describe(r);
  for (const auto& c : seen) {
    EXPECT_TRUE(std::find(closed.begin(), closed.end(), c.verdict.history) != closed.end());
  }
}

TEST(RealBackend, S13_4_NonIpCallsPassUntouched) {
  TempDir dir;
  std::string path = dir.file("s");
  UnixServer server(path);
  RunResult r = runInProcess({{}, {kClient, "unix", path}});
  ASSERT_EQ(r.exitCode, 0) << describe(r);
  // Every connect is handed over (S13.7); an AF_UNIX address on an AF_UNIX socket is answered
  // "continue" without asking the classifier. The other notification is the client's exec.
  EXPECT_EQ(r.stats.notifications, 2u);
  EXPECT_EQ(r.stats.continued, 2u);
  EXPECT_TRUE(r.report.empty()) << describe(r);
}

TEST(RealBackend, S13_1_CountersAndSyncWakeUp) {
  HttpServer server, other;
  FakePolicy p;
  p.connectRedirects.push_back({ep(v4("127.0.0.2", kOrigPort)), ep(v4("127.0.0.1", server.port()))});
  p.blocked.push_back(ep(v4("127.0.0.1", other.port())));
  std::string cmd = kClient + " tcp 127.0.0.2 " + std::to_string(kOrigPort) + "; " + kClient +
                    " tcp 127.0.0.1 " + std::to_string(other.port()) + "; true";
  RunResult r = runInProcess({p, {"/bin/sh", "-c", cmd}});
  ASSERT_EQ(r.exitCode, 0) << describe(r);
  EXPECT_EQ(r.stats.redirected, 1u);
  EXPECT_EQ(r.stats.blocked, 1u);
  EXPECT_EQ(r.stats.failed, 0u);
  EXPECT_TRUE(r.stats.syncWakeUp);  // Linux >= 6.6
}

// ---- fail closed (S13.5): the supervisor is another process, killed with SIGKILL ----

std::vector<std::string> driverPrefix() {
  std::vector<std::string> a;
  if (runningAsRoot()) a = {"/usr/bin/setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"};
  a.push_back(kDriver);
  a.push_back("--");
  return a;
}

TEST(RealFailClosed, S13_5_SupervisorKilledChildDies) {
  OutFiles files;
  std::string pidFile = files.dir.file("pid");
  auto argv = driverPrefix();
  argv.insert(argv.end(), {"/bin/sh", "-c", "echo $$ > " + pidFile + "; exec sleep 60"});
  pid_t driver = spawnProcess(argv, files.out, files.err);
  ASSERT_TRUE(eventually([&] { return !readFile(pidFile).empty(); }, 5000ms));
  pid_t child = static_cast<pid_t>(std::stol(readFile(pidFile)));
  ASSERT_FALSE(processGone(child));
  ::kill(driver, SIGKILL);
  EXPECT_EQ(waitExit(driver), 128 + SIGKILL);
  EXPECT_TRUE(eventually([&] { return processGone(child); }, 3000ms));
}

TEST(RealFailClosed, S13_5_OrphanedDescendantCannotConnect) {
  HttpServer server;
  OutFiles files;
  std::string pidFile = files.dir.file("pid"), outFile = files.dir.file("client");
  // The background client outlives the killed supervisor (only the direct child has
  // PDEATHSIG); its connect must fail instead of going out unclassified. (An orphan cannot
  // exec either: execve is handed to the supervisor too, so it fails with ENOSYS as well.)
  std::string script = "(" + kClient + " delay 1500 tcp 127.0.0.1 " + std::to_string(server.port()) +
                       " > " + outFile + " 2>&1; echo rc=$? >> " + outFile + ") & echo $$ > " +
                       pidFile + "; exec sleep 60";
  auto argv = driverPrefix();
  argv.insert(argv.end(), {"/bin/sh", "-c", script});
  pid_t driver = spawnProcess(argv, files.out, files.err);
  ASSERT_TRUE(eventually([&] { return !readFile(pidFile).empty(); }, 5000ms));
  ASSERT_TRUE(eventually([&] { return readFile(outFile).find("started") != std::string::npos; }, 5000ms));
  ::kill(driver, SIGKILL);
  waitExit(driver);
  ASSERT_TRUE(eventually([&] { return readFile(outFile).find("rc=") != std::string::npos; }, 6000ms));
  std::string out = readFile(outFile);
  EXPECT_NE(out.find("error connect errno=38"), std::string::npos) << out;  // ENOSYS
  EXPECT_EQ(server.accepts(), 0);
}

// ---- S13.8, S13.9, S13.10: the tree's life, signals, socket timeouts ----

// Runs s like Real::run, calling probe(supervisor pid) on the test thread while COMMAND runs.
RunResult runProbed(Mode mode, const Scenario& s, const std::function<void(pid_t)>& probe) {
  if (mode == Mode::InProcess) {
    return runInProcess(s, [&](linux_backend::Supervisor&) { probe(::getpid()); });
  }
  OutFiles files;
  RunResult r;
  auto t0 = std::chrono::steady_clock::now();
  pid_t pid = spawnProcess(driverArgv(s), files.out, files.err, files.rep);
  probe(pid);
  r.exitCode = waitExit(pid);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.out = readFile(files.dir.file("out"));
  r.err = readFile(files.dir.file("err"));
  r.report = lines(readFile(files.dir.file("report")));
  return r;
}

size_t openFds(pid_t pid) {
  size_t n = 0;
  if (DIR* d = ::opendir(("/proc/" + std::to_string(pid) + "/fd").c_str())) {
    while (dirent* e = ::readdir(d)) n += e->d_name[0] != '.';
    ::closedir(d);
  }
  return n;
}

// The soft "Max open files" of /proc/PID/limits.
std::string softFdLimit(pid_t pid) {
  std::istringstream in(readFile("/proc/" + std::to_string(pid) + "/limits"));
  for (std::string l; std::getline(in, l);) {
    if (l.rfind("Max open files", 0) == 0) {
      std::istringstream f(l.substr(14));
      std::string soft;
      f >> soft;
      return soft;
    }
  }
  return "";
}

// COMMAND ends with `echo $$ > PIDFILE; exec sleep 30`: the probe ends it.
void endSleeper(const std::string& pidFile) {
  pid_t sleeper = static_cast<pid_t>(std::stol(readFile(pidFile)));
  ::kill(sleeper, SIGTERM);
}

TEST_P(Real, S13_9_ExitedTasksAreEvictedAtOnce) {
  // ~1,000 short-lived processes each connect once: each one's task cache entry (a pidfd) goes
  // when it exits, so the supervisor's descriptors stay bounded (they used to leak one per task
  // until connects hung).
  HttpServer server;
  TempDir dir;
  const std::string pidFile = dir.file("pid");
  std::string script = "i=0; while [ $i -lt 1000 ]; do " + kClient + " tcp 127.0.0.1 " +
                       std::to_string(server.port()) +
                       " > /dev/null || exit 9; i=$((i+1)); done; echo $$ > " + pidFile +
                       "; exec sleep 30";
  size_t before = openFds(GetParam() == Mode::InProcess ? ::getpid() : 0);
  size_t during = 0;
  RunResult r = runProbed(GetParam(), {{}, {"/bin/sh", "-c", script}}, [&](pid_t sup) {
    if (!eventually([&] { return !readFile(pidFile).empty(); }, 90000ms)) return;
    // Evicted "at once": within a moment of the last exit.
    eventually([&] { return openFds(sup) < before + 40; }, 2000ms);
    during = openFds(sup);
    endSleeper(pidFile);
  });
  ASSERT_EQ(r.exitCode, 128 + SIGTERM) << describe(r);
  EXPECT_GE(server.accepts(), 1000);
  EXPECT_GT(during, 0u);
  EXPECT_LT(during, before + 40) << "fds of the supervisor after 1,000 exited tasks (before: "
                                 << before << ")";
}

TEST_P(Real, S13_9_SoftFdLimitRaisedAndRestoredForTheChild) {
  TempDir dir;
  const std::string pidFile = dir.file("pid"), limitFile = dir.file("limit");
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  ASSERT_GT(saved.rlim_max, 512u) << "the hard limit must be above the lowered soft one";
  rlimit lowered = saved;
  lowered.rlim_cur = 512;
  // Lowered here: the driver is spawned with it, and the in-process supervisor finds it.
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &lowered), 0);
  std::string supSoft;
  Scenario s{{}, {"/bin/sh", "-c", "ulimit -Sn > " + limitFile + "; echo $$ > " + pidFile + "; exec sleep 30"}};
  RunResult r = runProbed(GetParam(), s, [&](pid_t sup) {
    if (!eventually([&] { return !readFile(pidFile).empty(); }, 10000ms)) return;
    supSoft = softFdLimit(sup);
    endSleeper(pidFile);
  });
  rlimit after{};
  ::getrlimit(RLIMIT_NOFILE, &after);
  ::setrlimit(RLIMIT_NOFILE, &saved);
  ASSERT_EQ(r.exitCode, 128 + SIGTERM) << describe(r);
  EXPECT_EQ(supSoft, std::to_string(saved.rlim_max)) << "the supervisor's soft limit is its hard one";
  EXPECT_EQ(readFile(limitFile), "512\n") << "COMMAND sees the soft limit it was started with";
  if (GetParam() == Mode::InProcess) {
    EXPECT_EQ(after.rlim_cur, saved.rlim_max);
  }
}

TEST_P(Real, S13_9_OrphanExecsAfterCommandExited) {
  // COMMAND exits at once; its background child execs a client after that and connects: the
  // supervisor (a subreaper) is still there, so the exec works and the connect is classified
  // (redirected). The run ends with COMMAND's status once the orphan is gone.
  HttpServer server;
  TempDir dir;
  const std::string out = dir.file("client");
  std::string script = "(sleep 0.4; exec " + kClient + " tcp 127.0.0.2 " + std::to_string(kOrigPort) +
                       " > " + out + " 2>&1) & exit 7";
  RunResult r = run({redirectTo(server), {"/bin/sh", "-c", script}});
  EXPECT_EQ(r.exitCode, 7) << describe(r);
  EXPECT_GE(r.seconds, 0.4) << "the supervisor waited for the orphan";
  EXPECT_NE(readFile(out).find(server.body()), std::string::npos) << readFile(out) << describe(r);
  EXPECT_FALSE(findLine(r.report, "connect", {"remote=" + v4("127.0.0.2", kOrigPort)}).empty())
      << describe(r);
  EXPECT_EQ(server.accepts(), 1);
}

TEST_P(Real, S13_8_SupervisorCannotBeSignalledFromInsideTheTree) {
  // Every way of stopping the supervisor (or killing the tree's root) from inside fails with
  // EPERM: by pid, thread id, pidfd or /proc descriptor, and through its process group.
  // Signalling the tree's own processes still works.
  RunResult r = run({{}, {kClient, "signals"}});
  ASSERT_EQ(r.exitCode, 0) << describe(r);
  EXPECT_NE(r.out.find("kill=1 holder=1 tgkill=1 sigqueue=1 tgsigqueue=1 pidfd_open=1 "
                       "pidfd_send_proc=1 tkill=1 tkill_thread=1 group=1 own_group=1"),
            std::string::npos)
      << describe(r);
  EXPECT_NE(r.out.find("child_pidfd_send=0 child_kill=0 tkill_self=0"), std::string::npos) << describe(r);
  EXPECT_NE(r.out.find("supervisor_state="), std::string::npos) << describe(r);
  EXPECT_EQ(r.out.find("supervisor_state=T"), std::string::npos) << describe(r);
}

TEST_P(Real, S13_10_PendedConnectHonoursTheSocketSendTimeout) {
  // The classify pends for 900 ms and then permits; the socket's SO_SNDTIMEO is 300 ms: connect
  // returns EINPROGRESS after about 300 ms (what the kernel says when that timeout expires), and
  // the late permit does not connect the socket.
  HttpServer server;
  FakePolicy p;
  p.pended.push_back(ep(v4("127.0.0.1", server.port())));
  p.pendMs = 900;
  RunResult r = run({p, {kClient, "tcp-sndtimeo", "127.0.0.1", std::to_string(server.port()), "300"}});
  ASSERT_EQ(r.exitCode, 0) << describe(r);
  std::string line;
  for (const auto& l : lines(r.out)) {
    if (l.rfind("connect errno=", 0) == 0) line = l;
  }
  ASSERT_FALSE(line.empty()) << describe(r);
  EXPECT_EQ(field(line, "errno"), "115") << describe(r);  // EINPROGRESS
  const int ms = std::atoi(field(line, "ms").c_str());
  EXPECT_GE(ms, 290) << describe(r);
  EXPECT_LT(ms, 800) << describe(r);
  EXPECT_NE(r.out.find("connected=0"), std::string::npos) << describe(r);
  EXPECT_EQ(server.accepts(), 0);
}

TEST(RealTree, S13_8_ThirtyTwoBitProgramGetsOneLine) {
  // A minimal static ELF32 i386 program (the header is all the check reads): its exec fails with
  // ENOEXEC and the supervisor says in one line that 32-bit programs cannot be supervised.
  // Without the check it would run and be killed by SIGSYS at its first system call.
  OutFiles files;
  const std::string prog = files.dir.file("prog32");
  {
    unsigned char elf[84] = {0x7f, 'E', 'L', 'F', 1 /*ELFCLASS32*/, 1 /*LSB*/, 1 /*version*/};
    elf[16] = 2;   // ET_EXEC
    elf[18] = 3;   // EM_386
    elf[20] = 1;   // EV_CURRENT
    elf[24] = 0x54; elf[25] = 0x80; elf[26] = 0x04; elf[27] = 0x08;  // entry 0x08048054
    elf[28] = 52;  // e_phoff
    elf[40] = 52;  // e_ehsize
    elf[42] = 32;  // e_phentsize
    elf[44] = 1;   // e_phnum
    // One PT_LOAD of the whole file at 0x08048000; code: int 0x80 (exit) at the entry.
    elf[52] = 1;
    elf[60] = 0x00; elf[61] = 0x80; elf[62] = 0x04; elf[63] = 0x08;
    elf[64] = 0x00; elf[65] = 0x80; elf[66] = 0x04; elf[67] = 0x08;
    elf[68] = 89; elf[72] = 89;  // p_filesz, p_memsz: the header and the code
    elf[76] = 5;   // PF_R | PF_X
    elf[81] = 0x10;
    const unsigned char code[] = {0x31, 0xc0, 0x40, 0xcd, 0x80};  // xor eax,eax; inc eax; int 0x80
    std::string bytes(reinterpret_cast<char*>(elf), 84);
    bytes.append(reinterpret_cast<const char*>(code), sizeof code);
    int fd = ::open(prog.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
    ::close(fd);
  }
  auto argv = driverPrefix();
  argv.insert(argv.end(), {"/bin/sh", "-c", prog + "; echo rc=$?"});
  pid_t driver = spawnProcess(argv, files.out, files.err);
  EXPECT_EQ(waitExit(driver), 0);
  std::string out = readFile(files.dir.file("out")), err = readFile(files.dir.file("err"));
  EXPECT_NE(out.find("rc=126"), std::string::npos) << out << err;  // sh: Exec format error
  size_t n = 0;  // the driver logs with spdlog's default logger (stdout); openwfp run to stderr
  for (const auto& l : lines(out + err)) {
    n += l.find("prog32 is a 32-bit (i386) program: 32-bit and x32 programs cannot be supervised") !=
         std::string::npos;
  }
  EXPECT_EQ(n, 1u) << out << err;
}

TEST(RealTree, S13_8_CommandKilledBySigsysGetsOneLine) {
  // A 64-bit program making a foreign-architecture system call is killed by the filter (the
  // enforcement); the supervisor says why in one line. The call is x32's getpid (the x32 bit
  // set): the filter sees it on every x86-64 kernel, with or without x32 support. An i386 call
  // (int 0x80) is refused the same way where the kernel takes it, but some virtual machines
  // (PVM guests) fault on int 0x80 before any filter runs (SIGSEGV).
  OutFiles files;
  auto argv = driverPrefix();
  argv.insert(argv.end(), {kPython, "-c", "import ctypes\nctypes.CDLL(None).syscall(0x40000000 | 39)\n"});
  pid_t driver = spawnProcess(argv, files.out, files.err);
  EXPECT_EQ(waitExit(driver), 128 + SIGSYS);
  std::string err = readFile(files.dir.file("err"));
  EXPECT_NE(err.find("was killed by SIGSYS: it made a system call the filter does not allow, such as "
                     "one of a foreign architecture"),
            std::string::npos)
      << err;
}

}  // namespace

// bench/connect_latency.cpp - connect() latency under the Linux backend (DESIGN.md targets:
// permit-all <= 1.25x a direct connect, redirect <= 1.5x a direct connect to the same final
// destination), measured side by side in one run.
//
//   connect_latency [N [ROUNDS]]   (default 2000 connects per case in 10 interleaved rounds)
//   OPENWFP_BENCH_WORKERS=K        worker threads of the interceptor (default: its default)
// runs this same program as a client three times, each doing N sequential blocking TCP connects
// (socket + connect + close) to a loopback server and printing per-connect timings:
//   direct    127.0.0.1:Q, not supervised
//   floor     127.0.0.1:Q, supervised, every call answered "continue" unseen (passThrough): the
//             bare cost of the seccomp round trip on this machine, for context
//   permit    127.0.0.1:Q, under the Supervisor with a permit-all classifier (answer: continue)
//   redirect  127.0.0.2:P, under the Supervisor, redirected to 127.0.0.1:Q (supervisor connects)
// and prints the medians and ratios. Plain main: the client is another process.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "openwfp/linux_backend.h"
#include "openwfp/stack.h"
#include "redirect/history.h"

using namespace openwfp;

namespace {

constexpr int kWarmup = 20;

// ---- client mode: connect_latency --client HOST PORT N ----
int runClient(const char* host, int port, int n) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, host, &sa.sin_addr);
  std::vector<long> ns;
  ns.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n + kWarmup; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
      std::fprintf(stderr, "client: connect %s:%d: %s\n", host, port, std::strerror(errno));
      return 1;
    }
    auto t1 = std::chrono::steady_clock::now();
    ::close(fd);
    if (i >= kWarmup) ns.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count());
  }
  for (long v : ns) std::printf("%ld\n", v);
  return 0;
}

// ---- the server: accepts and closes ----
class Server {
 public:
  Server() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    ::bind(fd_, reinterpret_cast<sockaddr*>(&sa), len);
    ::listen(fd_, 1024);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&sa), &len);
    port_ = ntohs(sa.sin_port);
    thread_ = std::thread([this] {
      while (!stop_) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, 50) != 1) continue;
        int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c >= 0) ::close(c);
      }
    });
  }
  ~Server() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  int port() const { return port_; }

 private:
  int fd_;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// What the engine does for a permitted connect, minus the filters: a history per connection.
class BenchClassifier : public Classifier {
 public:
  explicit BenchClassifier(std::optional<std::pair<Endpoint, Endpoint>> redirect = {})
      : redirect_(redirect) {}
  void classify(StackHook hook, const StackRequest& request, StackDone done) override {
    if (hook != StackHook::Connect) {  // binds (and any other hook) as asked
      done(permitUnchanged(request));
      return;
    }
    ConnectVerdict v;
    v.finalRemote = request.remote;
    if (redirect_ && request.remote == redirect_->first) {
      v.finalRemote = redirect_->second;
      v.redirected = true;
    }
    v.history = redirect::History::create();
    done(v);
  }
  void connectionClosed(const std::shared_ptr<redirect::History>&) override { closed_++; }

 private:
  std::optional<std::pair<Endpoint, Endpoint>> redirect_;
  std::atomic<uint64_t> closed_{0};
};

struct Sample {
  std::vector<long> ns;
  double median() const { return percentile(0.5); }
  double percentile(double p) const {
    if (ns.empty()) return 0;
    std::vector<long> s = ns;
    std::sort(s.begin(), s.end());
    return static_cast<double>(s[static_cast<size_t>(p * static_cast<double>(s.size() - 1))]);
  }
};

std::vector<long> parseTimings(const std::string& text) {
  std::vector<long> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    if (end > pos) out.push_back(std::atol(text.substr(pos, end - pos).c_str()));
    pos = end + 1;
  }
  return out;
}

std::string readAll(int fd) {
  std::string out;
  char buf[65536];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

std::vector<std::string> clientArgv(const std::string& self, const char* host, int port, int n) {
  return {self, "--client", host, std::to_string(port), std::to_string(n)};
}

// Runs the client directly (classifier == nullptr) or under a Supervisor.
unsigned gWorkers = 0;  // 0: the backend's default
bool gPassThrough = false;

Sample runCase(Classifier* classifier, const std::vector<std::string>& argv,
               linux_backend::InterceptorStats* stats) {
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) std::exit(1);
  std::string out;
  int status = 0;
  if (classifier == nullptr) {
    std::vector<char*> a;  // built before fork: the child only calls async-signal-safe functions
    for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
    a.push_back(nullptr);
    pid_t pid = ::fork();
    if (pid == 0) {
      ::dup2(pipefd[1], 1);
      ::execv(a[0], a.data());
      ::_exit(127);
    }
    ::close(pipefd[1]);
    out = readAll(pipefd[0]);
    ::waitpid(pid, &status, 0);
    status = linux_backend::exitStatusOf(status);
  } else {
    linux_backend::SupervisorOptions o;
    o.stdoutFd = pipefd[1];
    if (gWorkers != 0) o.interceptor.workerThreads = gWorkers;
    o.interceptor.passThrough = gPassThrough;
    linux_backend::Supervisor sup(*classifier, o);
    auto started = sup.start(argv);
    ::close(pipefd[1]);
    if (!started.ok) {
      std::fprintf(stderr, "%s\n", started.error.c_str());
      std::exit(1);
    }
    out = readAll(pipefd[0]);
    status = sup.wait();
    if (stats != nullptr) {
      auto st = sup.interceptor()->stats();
      stats->notifications += st.notifications;
      stats->redirected += st.redirected;
      stats->syncWakeUp = st.syncWakeUp;
    }
  }
  ::close(pipefd[0]);
  if (status != 0) {
    std::fprintf(stderr, "client failed with status %d\n", status);
    std::exit(1);
  }
  return Sample{parseTimings(out)};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 5 && std::strcmp(argv[1], "--client") == 0) {
    return runClient(argv[2], std::atoi(argv[3]), std::atoi(argv[4]));
  }
  int n = argc > 1 ? std::atoi(argv[1]) : 2000;
  if (n <= 0) n = 2000;
  int rounds = argc > 2 ? std::atoi(argv[2]) : 10;
  if (rounds <= 0) rounds = 10;
  if (const char* w = std::getenv("OPENWFP_BENCH_WORKERS")) gWorkers = static_cast<unsigned>(std::atoi(w));
  if (auto missing = linux_backend::checkLinuxFeatures()) {
    std::fprintf(stderr, "%s\n", missing->c_str());
    return 1;
  }
  char self[4096] = {};
  if (::readlink("/proc/self/exe", self, sizeof self - 1) <= 0) return 1;

  Server server;
  const int origPort = 9;  // 127.0.0.2:9, nobody listens there: only a redirect reaches the server
  Endpoint from = Endpoint::v4(0x7f000002, static_cast<uint16_t>(origPort));
  Endpoint to = Endpoint::v4(0x7f000001, static_cast<uint16_t>(server.port()));
  BenchClassifier permitAll;
  BenchClassifier redirecting(std::make_pair(from, to));

  linux_backend::InterceptorStats permitStats, redirectStats;
  // Interleaved rounds, so that load from other processes hits every case alike.
  Sample direct, bare, permit, redirect;
  // Per round: each case's median over that round's floor median. The VM's speed drifts between
  // rounds (the floor itself by up to 1.4x); a ratio taken within a round is what the target
  // (issue 13: within 1.3x of the floor measured in the same run) compares.
  std::vector<double> permitVsFloor, redirectVsFloor;
  const int perRound = std::max(1, n / rounds);
  auto append = [](Sample& to, const Sample& from) { to.ns.insert(to.ns.end(), from.ns.begin(), from.ns.end()); };
  for (int r = 0; r < rounds; ++r) {
    append(direct, runCase(nullptr, clientArgv(self, "127.0.0.1", server.port(), perRound), nullptr));
    gPassThrough = true;
    Sample floorRound = runCase(&permitAll, clientArgv(self, "127.0.0.1", server.port(), perRound), nullptr);
    gPassThrough = false;
    Sample permitRound = runCase(&permitAll, clientArgv(self, "127.0.0.1", server.port(), perRound), &permitStats);
    Sample redirectRound = runCase(&redirecting, clientArgv(self, "127.0.0.2", origPort, perRound), &redirectStats);
    permitVsFloor.push_back(permitRound.median() / floorRound.median());
    redirectVsFloor.push_back(redirectRound.median() / floorRound.median());
    append(bare, floorRound);
    append(permit, permitRound);
    append(redirect, redirectRound);
  }

  std::printf("connect_latency: %d sequential blocking TCP connects per case (%d interleaved rounds) "
              "to 127.0.0.1:%d\n", n, rounds, server.port());
  std::printf("%-34s %12s %12s %8s\n", "case", "median (us)", "p90 (us)", "ratio");
  auto row = [&](const char* name, const Sample& s) {
    std::printf("%-34s %12.2f %12.2f %7.2fx\n", name, s.median() / 1000.0, s.percentile(0.9) / 1000.0,
                s.median() / direct.median());
  };
  row("direct (baseline)", direct);
  row("floor: bare seccomp round trip", bare);
  row("permit-all under openwfp", permit);
  row("redirect 127.0.0.2:9 -> server", redirect);
  auto perRoundRow = [](const char* name, std::vector<double> v) {
    std::sort(v.begin(), v.end());
    std::printf("%-34s %7.2fx (rounds: %.2fx .. %.2fx)\n", name, v[v.size() / 2], v.front(), v.back());
  };
  std::printf("vs the floor, median of the %d per-round ratios (issue 13: <= 1.3x):\n", rounds);
  perRoundRow("  permit-all / floor", permitVsFloor);
  perRoundRow("  redirect / floor", redirectVsFloor);
  std::printf("targets: permit <= 1.25x, redirect <= 1.5x; sync wake-up %s; %llu + %llu notifications, "
              "%llu redirected\n",
              permitStats.syncWakeUp ? "on" : "off",
              static_cast<unsigned long long>(permitStats.notifications),
              static_cast<unsigned long long>(redirectStats.notifications),
              static_cast<unsigned long long>(redirectStats.redirected));
  return 0;
}

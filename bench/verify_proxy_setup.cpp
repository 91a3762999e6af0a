// bench/verify_proxy_setup: connection setup time through the verify-before-accept proxy
// against a direct connect, measured side by side in one run (issue 5).
//
//   direct        `openwfp connect-loop N 127.0.0.2:P` as a plain child process
//   permit-only   the same under `openwfp run` semantics with no driver (interception cost)
//   verify_proxy  the same under interception with the verify_proxy driver and its proxy: every
//                 connect is pended, the proxy connects upstream first, then the app's connect
//                 completes to the proxy
// Each line is the median connect() latency in the child; ratios are against `direct`.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

#include "openwfp/control.h"
#include "openwfp/host.h"
#include "openwfp/linux_backend.h"
#include "openwfp/openwfp.h"

extern char** environ;

namespace {

const std::string kOpenwfp = OPENWFP_BINARY_DIR "/openwfp";
const std::string kDriver = OPENWFP_BINARY_DIR "/drivers/verify_proxy.so";

// Reads the child's "connect-loop: ... median_us=X" line from fd; returns X or -1. With
// proxiedRequests >= 0, the output must also show the proxy's "stopped: N requests" with N at
// least proxiedRequests: a proxy that failed to start would otherwise leave the connects
// unproxied and their latency reported as the proxy's.
double medianFrom(int fd, long proxiedRequests = -1) {
  std::string all;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) all.append(buf, static_cast<size_t>(n));
  auto pos = all.find("median_us=");
  if (pos == std::string::npos) {
    std::fprintf(stderr, "no result from child; its output was:\n%s\n", all.c_str());
    return -1;
  }
  if (proxiedRequests >= 0) {
    auto stopped = all.find("proxy: stopped: ");
    long handled = stopped == std::string::npos ? -1 : std::atol(all.c_str() + stopped + 16);
    if (handled < proxiedRequests) {
      std::fprintf(stderr, "the proxy verified %ld of %ld connects; the session's output was:\n%s\n", handled,
                   proxiedRequests, all.c_str());
      return -1;
    }
  }
  return std::atof(all.c_str() + pos + 10);
}

double runPlain(const std::vector<std::string>& args) {
  int p[2];
  if (pipe(p) != 0) return -1;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, p[1], 1);
  posix_spawn_file_actions_addclose(&fa, p[0]);
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid;
  int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  close(p[1]);
  if (rc != 0) return -1;
  double m = medianFrom(p[0]);
  close(p[0]);
  int st;
  waitpid(pid, &st, 0);
  return m;
}

double runSupervised(const std::vector<std::string>& args, bool withDriver, long proxiedRequests = -1) {
  using namespace openwfp;
  RuntimeOptions ro;
  ro.verifier = false;
  ro.trace = false;
  Runtime::reset(ro);
  control::ControlServer server;
  if (auto err = server.start()) {
    std::fprintf(stderr, "%s\n", err->c_str());
    return -1;
  }
  host::DriverHost drivers;
  if (withDriver) {
    auto r = drivers.load(kDriver);
    if (!r) {
      std::fprintf(stderr, "%s\n", r.error.c_str());
      return -1;
    }
  }
  int p[2];
  if (pipe(p) != 0) return -1;
  linux_backend::SupervisorOptions so;
  so.extraEnv = {server.envEntry()};
  so.stdoutFd = p[1];
  double m = -1;
  {
    linux_backend::Supervisor sup(Runtime::current().classifier(), so);
    auto started = sup.start(args);
    close(p[1]);
    if (!started.ok) {
      std::fprintf(stderr, "%s\n", started.error.c_str());
      close(p[0]);
      return -1;
    }
    server.setLookup(linux_backend::connectionLookup(*sup.interceptor()));
    m = medianFrom(p[0], proxiedRequests);
    sup.wait();
    server.setLookup(nullptr);
  }
  close(p[0]);
  drivers.unloadAll();
  server.stop();
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  int n = argc > 1 ? std::atoi(argv[1]) : 500;
  spdlog::set_level(spdlog::level::warn);  // the driver's per-connection DbgPrint is not measured
  if (access(kOpenwfp.c_str(), X_OK) != 0 || access(kDriver.c_str(), R_OK) != 0) {
    std::fprintf(stderr, "verify_proxy_setup: build openwfp and drivers/verify_proxy.so first\n");
    return 1;
  }
  // The upstream server at the original destination: accepts and closes.
  int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  inet_pton(AF_INET, "127.0.0.2", &a.sin_addr);
  if (bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(l, 4096) != 0) {
    std::perror("listen 127.0.0.2");
    return 1;
  }
  socklen_t len = sizeof a;
  getsockname(l, reinterpret_cast<sockaddr*>(&a), &len);
  std::string target = "127.0.0.2:" + std::to_string(ntohs(a.sin_port));
  std::atomic<bool> stop{false};
  std::thread server([&] {
    while (!stop) {
      pollfd pf{l, POLLIN, 0};
      if (poll(&pf, 1, 50) <= 0) continue;
      int c = accept4(l, nullptr, nullptr, SOCK_CLOEXEC);
      if (c >= 0) close(c);
    }
  });
  std::string count = std::to_string(n);
  double direct = runPlain({kOpenwfp, "connect-loop", count, target});
  double permit = runSupervised({kOpenwfp, "connect-loop", count, target}, false);
  double proxied = runSupervised({kOpenwfp, "proxy-session", "connect-loop", count, target}, true, n);
  stop = true;
  server.join();
  close(l);
  std::printf("verify_proxy_setup: %d sequential connects to %s (median connect() latency)\n", n, target.c_str());
  std::printf("  direct                      %9.1f us\n", direct);
  std::printf("  under openwfp, permit-only  %9.1f us  ratio %.2f\n", permit, permit / direct);
  std::printf("  through verify_proxy        %9.1f us  ratio %.2f\n", proxied, proxied / direct);
  std::printf("  (verify_proxy: pend, proxy's upstream connect, complete, then the app's connect)\n");
  return direct > 0 && permit > 0 && proxied > 0 ? 0 : 1;
}

// `openwfp connect-loop N ADDR:PORT` (internal, for benchmarks): N sequential TCP connects to
// ADDR:PORT, each closed right after connect() returned; prints the connect() latencies:
//   connect-loop: n=N ok=K median_us=M p90_us=P
// Run under `openwfp run` it measures connection setup through the loaded drivers.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "commands.h"
#include "host/demo.h"
#include "openwfp/stack.h"

namespace {

int connectLoop(int n, const std::string& target) {
  auto ep = openwfp::Endpoint::parse(target);
  if (!ep || ep->version != openwfp::IpVersion::V4 || n <= 0) {
    std::fprintf(stderr, "openwfp connect-loop: need N > 0 and an IPv4 ADDR:PORT\n");
    return 2;
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(ep->port);
  std::memcpy(&a.sin_addr, ep->addr.data(), 4);
  std::vector<double> us;
  int failures = 0;
  for (int i = 0; i < n; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    auto t0 = std::chrono::steady_clock::now();
    int rc = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    auto t1 = std::chrono::steady_clock::now();
    if (rc == 0)
      us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
    else
      ++failures;
    close(fd);
  }
  std::sort(us.begin(), us.end());
  double median = us.empty() ? 0 : us[us.size() / 2];
  double p90 = us.empty() ? 0 : us[us.size() * 9 / 10];
  std::printf("connect-loop: n=%d ok=%zu median_us=%.1f p90_us=%.1f\n", n, us.size(), median, p90);
  std::fflush(stdout);
  return failures == 0 ? 0 : 1;
}

openwfp::cli::RegisterCommand reg([](CLI::App& app, int& exitCode) {
  auto n = std::make_shared<int>(1000);
  auto target = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("connect-loop", "(internal) time N sequential connects to ADDR:PORT");
  cmd->group("");
  cmd->add_option("n", *n, "number of connects")->required();
  cmd->add_option("target", *target, "ADDR:PORT")->required();
  cmd->callback([n, target, &exitCode] { exitCode = connectLoop(*n, *target); });

  auto args = std::make_shared<std::vector<std::string>>();
  auto* session = app.add_subcommand("proxy-session", "(internal) start the proxy, run the given openwfp commands, stop it");
  session->group("");
  session->add_option("command", *args, "openwfp subcommand and its arguments")->required();
  session->callback([args, &exitCode] {
    exitCode = openwfp::host::runProxySession(openwfp::cli::selfPath(), {*args});
  });
});

}  // namespace

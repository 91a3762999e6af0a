// `openwfp proxy`: the verify-before-accept proxy (SPEC S10.2) for the verify_proxy driver, or
// (--policy) for the policy driver's proxy rules; upstreams: direct, SOCKS5 or HTTP CONNECT
// (proxy/upstream.h).
// Runs until SIGINT/SIGTERM; one log line per connection.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "commands.h"
#include "host/timeline.h"
#include "openwfp/control.h"
#include "openwfp/device.h"
#include "openwfp/verify_proxy_channel.h"
#include "openwfp/policy_channel.h"
#include "policy/policy.h"
#include "proxy/verify_proxy.h"

namespace {

// Outside any session, the proxy serves the engine service when one runs (S14.3): its socket
// controls and device I/O go there, for every attached session.
void useEngineWhenRunning() {
  if (std::getenv("OPENWFP_SOCKET") != nullptr || std::getenv("OPENWFP_ENGINE") != nullptr) return;
  const std::string path = openwfp::control::defaultEnginePath();
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) ::setenv("OPENWFP_ENGINE", path.c_str(), 1);
}

// `openwfp proxy when-absent block|permit`: what the verify_proxy driver does with the connects it
// would redirect while no proxy is registered (IOCTL_VP_SET_POLICY, write access: the engine's
// uid or root outside any session).
int setWhenAbsent(const std::string& device, const std::string& choice) {
  useEngineWhenRunning();
  VP_POLICY policy{};
  if (choice == "block") {
    policy.withoutProxy = VP_WITHOUT_PROXY_BLOCK;
  } else if (choice == "permit") {
    policy.withoutProxy = VP_WITHOUT_PROXY_PERMIT;
  } else {
    std::fprintf(stderr, "openwfp proxy when-absent: '%s': expected block or permit\n", choice.c_str());
    return 2;
  }
  const int h = openwfp_device_open(device.c_str());
  if (h < 0) {
    std::fprintf(stderr, "openwfp proxy when-absent: cannot open %s: %s\n", device.c_str(), std::strerror(errno));
    return 1;
  }
  const int rc = openwfp_device_ioctl(h, IOCTL_VP_SET_POLICY, &policy, sizeof policy, nullptr, 0, nullptr);
  const int err = errno;
  openwfp_device_close(h);
  if (rc != 0) {
    std::fprintf(stderr, "openwfp proxy when-absent: %s refused: %s (0x%08X)\n", device.c_str(), std::strerror(err),
                 static_cast<unsigned>(openwfp_device_last_status()));
    return 1;
  }
  std::printf("without a proxy, %s now %s the connects it would redirect\n", device.c_str(),
              choice == "permit" ? "PERMITS (unverified)" : "BLOCKS");
  return 0;
}

int runProxy(const openwfp::proxy::VerifyProxyOptions& base) {
  useEngineWhenRunning();
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // threads started below inherit the mask
  openwfp::proxy::VerifyProxyOptions options = base;
  // Its log lines go to stderr (S16.4): a supervised application's stdout may be the proxy's too.
  options.log = [](const std::string& line) {
    std::fprintf(stderr, "%s\n", openwfp::host::stampLine(line).c_str());
  };
  std::fprintf(stderr, "%s\n", openwfp::host::stampLine("proxy (pid " + std::to_string(getpid()) + "): starting").c_str());
  openwfp::proxy::VerifyProxy proxy(options);
  std::string error = proxy.start();
  if (!error.empty()) {
    std::fprintf(stderr, "openwfp %s\n", error.c_str());
    return 1;
  }
  int sig = 0;
  sigwait(&set, &sig);
  proxy.stop();
  auto s = proxy.stats();
  std::fprintf(stderr, "%s\n", openwfp::host::stampLine("proxy: stopped: " + std::to_string(s.requests) + " requests, " +
                                               std::to_string(s.upstreamOk) + " upstream ok, " +
                                               std::to_string(s.upstreamFailed) + " failed, " +
                                               std::to_string(s.accepted) + " accepted, " +
                                               std::to_string(s.handedOff) + " handed off, " +
                                               std::to_string(s.expired) + " past their deadline")
                          .c_str());
  return 0;
}

openwfp::cli::RegisterCommand reg([](CLI::App& app, int& exitCode) {
  auto options = std::make_shared<openwfp::proxy::VerifyProxyOptions>();
  auto timeoutMs = std::make_shared<long>(5000);
  auto pendTimeoutMs = std::make_shared<long>(0);
  auto* cmd = app.add_subcommand("proxy", "Run the verify-before-accept proxy for the verify_proxy driver");
  cmd->add_option("--device", options->device, "Device path of the driver")->capture_default_str();
  cmd->add_option("--port", options->listenPortV4, "Port to listen on at 127.0.0.1 (0 = any)")->capture_default_str();
  cmd->add_option("--upstream-timeout-ms", *timeoutMs, "Upstream connect timeout")->capture_default_str();
  cmd->add_option("--pend-timeout-ms", *pendTimeoutMs,
                  "The driver blocks a connect the proxy has not answered within this (0 = driver default, 20000; "
                  "keep it below the engine's --pend-timeout)")
      ->check(CLI::Range(0L, 3600000L))
      ->capture_default_str();
  auto upstream = std::make_shared<std::string>("direct");
  auto policyMode = std::make_shared<bool>(false);
  cmd->add_option("--upstream", *upstream,
                  "Where connections go: direct, socks5://[USER:PASS@]HOST:PORT or http://[USER:PASS@]HOST:PORT")
      ->capture_default_str();
  cmd->add_flag("--policy", *policyMode,
                "Serve the policy driver (\\\\.\\OpenwfpPolicy): each request names its rule's upstream");
  cmd->add_flag("--hand-off", options->handOff,
                "No relay (openwfp extension, direct upstreams): outside a session connect the application's own "
                "socket; inside one give it the verified upstream socket (docs/performance.md)");
  cmd->add_option("--workers", options->workers, "Workers, each keeping a NEXT request outstanding")
      ->check(CLI::Range(1u, 256u))
      ->capture_default_str();
  auto choice = std::make_shared<std::string>();
  auto* whenAbsent = cmd->add_subcommand(
      "when-absent", "Set what the verify_proxy driver does while no proxy is registered: block (default, fail closed) or permit");
  whenAbsent->add_option("choice", *choice, "block or permit")->required();
  whenAbsent->callback([options, choice, &exitCode] { exitCode = setWhenAbsent(options->device, *choice); });
  cmd->callback([options, timeoutMs, pendTimeoutMs, upstream, policyMode, whenAbsent, &exitCode] {
    if (whenAbsent->parsed()) return;
    std::string why;
    auto up = openwfp::policy::parseUpstream(*upstream, &why);
    if (!up) {
      std::fprintf(stderr, "openwfp proxy: --upstream: %s, got \"%s\"\n", why.c_str(), upstream->c_str());
      exitCode = 2;
      return;
    }
    options->upstream = *up;
    if (*policyMode) {
      options->policyRequests = true;
      if (options->device == openwfp::proxy::VerifyProxyOptions{}.device) options->device = POLICY_USER_PATH;
    }
    options->upstreamTimeout = std::chrono::milliseconds(*timeoutMs);
    options->pendTimeout = std::chrono::milliseconds(*pendTimeoutMs);
    exitCode = runProxy(*options);
  });
});

}  // namespace

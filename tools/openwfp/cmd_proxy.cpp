// `openwfp proxy`: the verify-before-accept proxy (SPEC S10.2) for the verify_proxy driver.
// Runs until SIGINT/SIGTERM; one log line per connection.
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "commands.h"
#include "host/timeline.h"
#include "openwfp/control.h"
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

int runProxy(const openwfp::proxy::VerifyProxyOptions& base) {
  useEngineWhenRunning();
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // threads started below inherit the mask
  openwfp::proxy::VerifyProxyOptions options = base;
  options.log = [](const std::string& line) {
    std::printf("%s\n", openwfp::host::stampLine(line).c_str());
    std::fflush(stdout);
  };
  std::printf("%s\n", openwfp::host::stampLine("proxy (pid " + std::to_string(getpid()) + "): starting").c_str());
  std::fflush(stdout);
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
  std::printf("%s\n", openwfp::host::stampLine("proxy: stopped: " + std::to_string(s.requests) + " requests, " +
                                               std::to_string(s.upstreamOk) + " upstream ok, " +
                                               std::to_string(s.upstreamFailed) + " failed, " +
                                               std::to_string(s.accepted) + " accepted, " +
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
  cmd->add_option("--workers", options->workers, "Workers, each keeping a NEXT request outstanding")
      ->check(CLI::Range(1u, 256u))
      ->capture_default_str();
  cmd->callback([options, timeoutMs, pendTimeoutMs, &exitCode] {
    options->upstreamTimeout = std::chrono::milliseconds(*timeoutMs);
    options->pendTimeout = std::chrono::milliseconds(*pendTimeoutMs);
    exitCode = runProxy(*options);
  });
});

}  // namespace

// `openwfp sim`: one simulated connect or bind through loaded callout drivers; prints the trace
// (S11.3), the verdict with the final destination, verifier reports and leaks at unload.
// Exit 0 when classification ran, whatever the verdict; 2 with a clear message on bad input.
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "openwfp/host.h"
#include "openwfp/openwfp.h"
#include "openwfp/sim.h"
#include "openwfp/trace.h"
#include "verifier/verifier.h"

namespace {

struct SimArgs {
  std::vector<std::string> drivers;
  std::string connect, bind, proto = "tcp", app = "/usr/bin/simulated-app";
  uint64_t pid = 4242;
  uint32_t uid = 1000;
  bool json = false;
  double pendTimeout = 5;
  bool failOnViolation = false;
};

int fail(const std::string& message) {
  std::fprintf(stderr, "openwfp sim: %s\n", message.c_str());
  return 2;
}

int runSim(const SimArgs& a) {
  using namespace openwfp;
  if (a.connect.empty() == a.bind.empty()) return fail("give exactly one of --connect ADDR:PORT or --bind ADDR:PORT");
  if (a.proto != "tcp" && a.proto != "udp") return fail("--proto must be tcp or udp, not '" + a.proto + "'");
  const std::string& text = a.connect.empty() ? a.bind : a.connect;
  auto target = Endpoint::parse(text);
  if (!target) return fail("'" + text + "' is not ADDR:PORT (e.g. 127.0.0.2:80 or [::1]:80)");
  if (!(a.pendTimeout >= 0 && a.pendTimeout <= 86400))
    return fail("--pend-timeout must be between 0 and 86400 seconds, not " + std::to_string(a.pendTimeout));

  RuntimeOptions opts;
  opts.verifier = true;
  opts.pendDeadline = std::chrono::milliseconds(static_cast<long long>(a.pendTimeout * 1000));
  Runtime::reset(opts);
  auto& rt = Runtime::current();
  std::vector<trace::ClassifyRecord> records;
  std::mutex mu;
  rt.tracer().addSink([&](const trace::ClassifyRecord& r) {
    std::lock_guard lk(mu);
    records.push_back(r);
  });

  host::DriverHost drivers;
  for (const auto& path : a.drivers) {
    auto r = drivers.load(path);
    if (!r) return fail(r.error);
  }

  Protocol proto = a.proto == "tcp" ? Protocol::Tcp : Protocol::Udp;
  nlohmann::json result;
  std::string summary;
  {
    sim::Stack stack;
    auto& p = stack.process(a.pid, a.app, a.uid);
    int fd = p.socket(target->version, proto);
    if (!a.connect.empty()) {
      auto r = p.connect(fd, *target);
      result = {{"operation", "connect"},
                {"requested", target->str()},
                {"final_destination", r.remote.str()},
                {"redirected", r.redirected},
                {"error", r.error},
                {"reason", r.reason}};
      summary = "connect " + target->str() + " -> " + r.remote.str() + (r.redirected ? " (redirected)" : "");
      if (r.error == 0)
        summary += ": connected";
      else
        summary += std::string(": ") + std::strerror(r.error);
      if (!r.reason.empty()) summary += " [" + r.reason + "]";
    } else {
      int err = p.bind(fd, *target);
      openwfp::Endpoint local;
      p.getsockname(fd, local);
      result = {{"operation", "bind"}, {"requested", target->str()}, {"final_local", local.str()}, {"error", err}};
      summary = "bind " + target->str() + " -> " + local.str() + (err == 0 ? ": bound" : std::string(": ") + std::strerror(err));
    }
    p.close(fd);
  }

  {
    std::lock_guard lk(mu);
    for (const auto& r : records) {
      if (a.json)
        std::printf("%s\n", r.toJsonLine().c_str());
      else
        std::printf("%s\n", r.toText().c_str());
    }
    // The connect's verdict: BLOCK if any layer blocked, else PERMIT.
    std::string verdict = records.empty() ? "PERMIT (no classify)" : "PERMIT";
    for (const auto& r : records)
      if (r.verdict == "BLOCK") verdict = "BLOCK";
    result["verdict"] = verdict;
    if (verdict == "PERMIT" && result.value("error", 0) == ECONNREFUSED)
      summary += " (permitted; nothing listens there in the simulation)";
    summary = "verdict " + verdict + ", " + summary;
  }
  drivers.unloadAll();  // leaks are reported as verifier violations (PoolLeak, HandleLeak)
  auto violations = rt.verifier().violations();
  if (a.json) {
    nlohmann::json v = nlohmann::json::array();
    for (const auto& x : violations)
      v.push_back({{"code", verifier::toString(x.code)}, {"message", x.message}, {"driver", x.driver},
                   {"callout", x.callout}, {"filter", x.filterId}});
    result["violations"] = v;
    std::printf("%s\n", result.dump().c_str());
  } else {
    std::printf("result: %s\n", summary.c_str());
    for (const auto& x : violations)
      std::printf("verifier: %s: %s (driver %s%s%s)\n", verifier::toString(x.code), x.message.c_str(),
                  x.driver.empty() ? "?" : x.driver.c_str(), x.callout.empty() ? "" : ", callout ",
                  x.callout.c_str());
    if (violations.empty()) std::printf("verifier: no violations\n");
  }
  return a.failOnViolation && !violations.empty() ? 3 : 0;  // S16.2
}

openwfp::cli::RegisterCommand reg([](CLI::App& app, int& exitCode) {
  auto args = std::make_shared<SimArgs>();
  auto* cmd = app.add_subcommand("sim", "Run one simulated connect or bind through loaded callout drivers");
  cmd->add_option("--driver", args->drivers, "Callout driver shared object (repeatable)")->required()->check(CLI::ExistingFile);
  cmd->add_option("--connect", args->connect, "Destination to connect to, ADDR:PORT");
  cmd->add_option("--bind", args->bind, "Local address to bind, ADDR:PORT");
  cmd->add_option("--proto", args->proto, "tcp or udp")->capture_default_str();
  cmd->add_option("--pid", args->pid, "Process id of the simulated application")->capture_default_str();
  cmd->add_option("--app", args->app, "Image path of the simulated application")->capture_default_str();
  cmd->add_option("--uid", args->uid, "User id of the simulated application")->capture_default_str();
  cmd->add_option("--pend-timeout", args->pendTimeout, "Seconds before a pended classify is blocked (0 = never)")
      ->capture_default_str();
  cmd->add_flag("--json", args->json, "JSON lines instead of text");
  cmd->add_flag("--fail-on-violation", args->failOnViolation, "Exit 3 when the verifier reported a violation");
  cmd->callback([args, &exitCode] { exitCode = runSim(*args); });
});

}  // namespace

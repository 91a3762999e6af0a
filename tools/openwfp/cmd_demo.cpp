// `openwfp demo`: the verify-before-accept scenario end to end on real processes (SPEC S10),
// printed as a timeline; exit 0 only when both the reachable and the unreachable case behaved
// as specified. `openwfp demo-session` is its inner part, run under interception.
#include <unistd.h>

#include <climits>
#include <memory>
#include <string>

#include "commands.h"
#include "host/demo.h"
#include "host/shipped_drivers.h"

namespace {

using openwfp::cli::selfPath;

std::string defaultDriver() { return openwfp::host::shippedDriverPath("verify_proxy.so"); }

}  // namespace

std::string openwfp::cli::selfPath() {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "openwfp";
  buf[n] = '\0';
  return buf;
}

namespace {

openwfp::cli::RegisterCommand reg([](CLI::App& app, int& exitCode) {
  auto options = std::make_shared<openwfp::host::DemoOptions>();
  auto* cmd = app.add_subcommand("demo", "Show the verify-before-accept proxy on real processes (no arguments needed)");
  cmd->add_option("--driver", options->driver, "verify_proxy driver (default: the installed one, or drivers/verify_proxy.so next to openwfp)");
  cmd->add_flag("--verbose", options->verbose, "Also print every classify trace record");
  cmd->callback([options, &exitCode] {
    options->self = selfPath();
    if (options->driver.empty()) options->driver = defaultDriver();
    exitCode = openwfp::host::runDemo(*options);
  });

  auto targets = std::make_shared<std::vector<std::string>>();
  auto* inner = app.add_subcommand("demo-session", "(internal) the demo's processes, run under interception");
  inner->group("");  // hidden from --help
  inner->add_option("targets", *targets, "REACHABLE UNREACHABLE")->expected(2)->required();
  inner->callback([targets, &exitCode] {
    exitCode = openwfp::host::runDemoSession(selfPath(), (*targets)[0], (*targets)[1]);
  });
});

}  // namespace

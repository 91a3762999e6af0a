// `openwfp run [--driver D.so ...] [--policy FILE] [--verifier] [--trace FILE] [--trace-text FILE] [--pend-timeout S]
//              [--block-errno E] -- COMMAND ARGS`
// Runs COMMAND (and its threads and descendants) with every IPv4/IPv6 connect() and bind()
// classified by the loaded callout drivers (SPEC S13). Exit status is COMMAND's.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "commands.h"
#include "errno_names.h"
#include "host/engine_client.h"
#include "host/run_session.h"

namespace {

openwfp::cli::RegisterCommand reg([](CLI::App& app, int& exitCode) {
  auto opts = std::make_shared<openwfp::host::RunOptions>();
  auto blockErrno = std::make_shared<std::string>("ECONNREFUSED");
  auto* cmd = app.add_subcommand("run", "Run COMMAND with its connect()/bind() calls classified by callout drivers");
  cmd->add_option("--driver", opts->drivers, "Callout driver shared object to load (repeatable)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--policy", opts->policyFile, "Rules file (TOML, docs/policy.md) enforced by the built-in policy driver")
      ->check(CLI::ExistingFile);
  cmd->add_flag("--hand-off", opts->handOff,
                "With --policy: a `proxy =` connection gets the upstream socket itself, no relay (docs/policy.md)");
  cmd->add_flag("--verifier", opts->verifier, "Report driver API misuse (S11) on stderr");
  cmd->add_flag("--fail-on-violation", opts->failOnViolation,
                "With --verifier: exit 3 when COMMAND exited 0 but a violation was reported");
  cmd->add_option("--trace", opts->traceFile, "Write one JSON line per classify to FILE");
  cmd->add_option("--trace-text", opts->traceTextFile, "Write each classify to FILE for people (as sim and demo show it)");
  cmd->add_option("--pend-timeout", opts->pendTimeoutSeconds, "Seconds before a pended classify is blocked (0 = never)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 86400.0));
  cmd->add_option("--block-errno", *blockErrno, "errno a blocked connect fails with: " + openwfp::cli::errnoNames() + " or a number")
      ->capture_default_str();
  auto standalone = std::make_shared<bool>(false);
  cmd->add_flag("--attach", opts->attach,
                "Attach to the running engine service (`openwfp engine`); the default when OPENWFP_ENGINE is set");
  cmd->add_flag("--standalone", *standalone, "Run an engine for this COMMAND only, even when OPENWFP_ENGINE is set");
  cmd->add_option("--wait-for-device", opts->waitForDevice,
                  "With --attach: start COMMAND once a proxy waits on this device (e.g. OpenwfpVerifyProxy)");
  cmd->add_option("--wait-timeout", opts->waitTimeoutSeconds, "Seconds --wait-for-device waits")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 3600.0));
  cmd->add_option("command", opts->command, "COMMAND [ARGS...] (after --)")->required();
  cmd->positionals_at_end();
  cmd->callback([opts, blockErrno, standalone, &exitCode] {
    int e = openwfp::cli::parseErrno(*blockErrno);
    if (e < 0) {
      std::fprintf(stderr, "openwfp run: --block-errno: unknown errno '%s' (a name the system knows, any case: %s; or a number 1..4095)\n",
                   blockErrno->c_str(), openwfp::cli::allErrnoNames().c_str());
      exitCode = 2;
      return;
    }
    opts->blockErrno = e;
    if (*standalone && opts->attach) {
      std::fprintf(stderr, "openwfp run: --attach and --standalone exclude each other\n");
      exitCode = 2;
      return;
    }
    if (!*standalone && !opts->attach && openwfp::host::attachByDefault() && opts->drivers.empty() &&
        opts->policyFile.empty()) opts->attach = true;
    if (opts->attach && opts->failOnViolation) {
      std::fprintf(stderr, "openwfp run: --fail-on-violation needs --standalone (attached, the engine's verifier reports)\n");
      exitCode = 2;
      return;
    }
    if (opts->attach) {
      exitCode = openwfp::host::runAttached(*opts);
      return;
    }
    if (!opts->waitForDevice.empty()) {
      std::fprintf(stderr, "openwfp run: --wait-for-device needs --attach (the proxy must run before COMMAND)\n");
      exitCode = 2;
      return;
    }
    exitCode = openwfp::host::runCommand(*opts);
  });
});

}  // namespace

// `openwfp engine [--socket PATH] [--state-dir DIR] [--driver D.so ...] [--verifier] [--trace FILE]
//                 [--pend-timeout S] [--block-errno E]`
// Runs the engine service in the foreground until SIGTERM/SIGINT (SPEC S14.1); logs on stderr.
#include <memory>

#include "commands.h"
#include "errno_names.h"
#include "host/engine_service.h"

namespace {

openwfp::cli::RegisterCommand reg([](CLI::App& app, int& exitCode) {
  auto opts = std::make_shared<openwfp::host::EngineOptions>();
  auto blockErrno = std::make_shared<std::string>("ECONNREFUSED");
  auto* cmd = app.add_subcommand("engine", "Run the engine service: drivers, attached sessions, proxies, management");
  cmd->add_option("--socket", opts->socketPath,
                  "Socket path (default: $OPENWFP_ENGINE, else $XDG_RUNTIME_DIR/openwfp/engine.sock; root: "
                  "/run/openwfp/engine.sock)");
  cmd->add_option("--state-dir", opts->stateDir, "Where persistent objects are kept");
  cmd->add_option("--driver", opts->drivers, "Callout driver to load at start (repeatable)")->check(CLI::ExistingFile);
  cmd->add_flag("--verifier", opts->verifier, "Report driver API misuse (S11) on stderr");
  cmd->add_option("--trace", opts->traceFile, "Append one JSON line per classify to FILE");
  cmd->add_option("--pend-timeout", opts->pendTimeoutSeconds, "Seconds before a pended classify is blocked (0 = never)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 86400.0));
  cmd->add_option("--block-errno", *blockErrno, "errno a blocked connect fails with: " + openwfp::cli::errnoNames())
      ->capture_default_str();
  cmd->callback([opts, blockErrno, &exitCode] {
    int e = openwfp::cli::parseErrno(*blockErrno);
    if (e < 0) {
      std::fprintf(stderr, "openwfp engine: --block-errno: unknown errno '%s' (a name the system knows, any case: %s; or a number 1..4095)\n",
                   blockErrno->c_str(), openwfp::cli::allErrnoNames().c_str());
      exitCode = 2;
      return;
    }
    opts->blockErrno = e;
    exitCode = openwfp::host::runEngine(*opts);
  });
});

}  // namespace

// host/engine_service.h - `openwfp engine`: the engine as a service (SPEC S14). One process owns
// the runtime (filters, callouts, classify handles, records), the drivers loaded into it
// (`openwfp driver load`), the devices they create, and the sessions attached to it (`openwfp
// run --attach`), all reached over one control socket (docs/running-as-a-service.md).
#pragma once

#include <string>
#include <vector>

namespace openwfp::host {

struct EngineOptions {
  std::string socketPath;            // "" = control::defaultEnginePath()
  std::string stateDir;              // "" = defaultStateDir()
  bool verifier = false;             // print verifier violations on stderr
  std::string traceFile;             // JSON lines, one per classify ("" = none)
  double pendTimeoutSeconds = 30;    // S6.4
  int blockErrno = 111;              // ECONNREFUSED (S13.3)
  std::vector<std::string> drivers;  // loaded at start, in order
};

// $XDG_STATE_HOME/openwfp, else ~/.local/state/openwfp; for root /var/lib/openwfp.
std::string defaultStateDir();

// Runs the engine until SIGTERM, SIGINT or SIGHUP; returns the exit status (0 after a clean
// stop, 1 with one line on stderr when it cannot start, e.g. another engine holds the socket).
int runEngine(const EngineOptions& options);

}  // namespace openwfp::host

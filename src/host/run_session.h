// host/run_session.h - `openwfp run`: the engine, the loaded drivers, the control channel and the
// seccomp supervisor of one COMMAND, put together (SPEC S13).
#pragma once

#include <string>
#include <vector>

namespace openwfp::host {

struct RunOptions {
  std::vector<std::string> drivers;    // shared objects to load, in order
  std::string policyFile;              // rules file (docs/policy.md), "" = none
  bool handOff = false;                // `proxy =` rules hand the upstream socket over (no relay)
  bool verifier = false;               // print verifier violations on stderr
  bool failOnViolation = false;        // exit 3 when COMMAND exited 0 but a violation was reported
  std::string traceFile;               // JSON lines, one per classify ("" = none)
  std::string traceTextFile;           // the same records for people (as sim and demo print them)
  double pendTimeoutSeconds = 30;      // S6.4
  int blockErrno = 111;                // ECONNREFUSED (S13.3)
  std::vector<std::string> command;    // COMMAND ARGS
  // Attach to the engine service instead of running an engine here (S14.3, engine_client.h):
  // drivers, verifier and trace then belong to the engine.
  bool attach = false;
  std::string waitForDevice;           // attach: start COMMAND once a proxy waits on it (S14.8)
  double waitTimeoutSeconds = 30;
};

// Runs the command to completion; returns its exit status (or 127 not found, 1 for openwfp's
// own failures, with one clear line on stderr; 3 with failOnViolation, S16.2).
int runCommand(const RunOptions& options);

}  // namespace openwfp::host

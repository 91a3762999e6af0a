// host/demo.h - `openwfp demo`: the verify-before-accept scenario (SPEC S10) on real processes,
// shown as a timeline.
//
// The engine process (this one) loads the verify_proxy driver, serves the control channel and
// runs a loopback upstream server on 127.0.0.2. Under interception it starts one session
// process (`openwfp demo-session`) which starts the proxy (`openwfp proxy`) and then two
// applications (`openwfp fetch`): one to the upstream server (reachable) and one to a closed
// port on 127.0.0.3 (unreachable). Every process stamps its lines with CLOCK_MONOTONIC, which is
// also the clock of the engine's classify trace, so everything merges into one timeline.
#pragma once

#include <string>
#include <vector>

namespace openwfp::host {

struct DemoOptions {
  std::string self;          // path of the openwfp executable (for the child processes)
  std::string driver;        // verify_proxy.so
  bool verbose = false;      // also print the full classify trace records
};

// Returns 0 when both cases behaved as specified, 1 otherwise (the summary says what failed).
int runDemo(const DemoOptions& options);

// The session run under interception: proxy, then the two applications, then proxy stop.
// Prints every child's (stamped) lines on stdout. Returns 0 when the session ran.
int runDemoSession(const std::string& self, const std::string& reachable, const std::string& unreachable);

// Starts `self proxy`, waits until it listens, runs each `self COMMAND...` in turn (stdout
// inherited), stops the proxy. The proxy's lines are forwarded to stdout. Returns 0.
int runProxySession(const std::string& self, const std::vector<std::vector<std::string>>& commands);

}  // namespace openwfp::host

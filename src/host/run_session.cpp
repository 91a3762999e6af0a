#include "host/run_session.h"
#include "host/policy_session.h"
#include "host/supervised_tree.h"

#include <signal.h>

#include <atomic>
#include <chrono>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>

#include "openwfp/control.h"
#include "openwfp/host.h"
#include "openwfp/linux_backend.h"
#include "openwfp/openwfp.h"
#include "openwfp/trace.h"
#include "verifier/verifier.h"

namespace openwfp::host {

namespace {
// SIGINT/SIGTERM/SIGHUP sent to `openwfp run` go to COMMAND, which decides how to end; openwfp
// ends when the last process of the tree does (S13.9). Once COMMAND has exited, such a signal
// ends the wait for the processes that outlive it (they then fail closed, S13.5).
std::atomic<linux_backend::Supervisor*> gSupervisor{nullptr};
void forwardSignal(int sig) {
  if (auto* s = gSupervisor.load()) s->forwardSignal(sig);
}
}  // namespace

int runCommand(const RunOptions& options) {
  if (auto missing = linux_backend::checkLinuxFeatures()) {
    std::fprintf(stderr, "%s\n", missing->c_str());
    return 1;
  }
  RuntimeOptions ro;
  ro.verifier = options.verifier || options.failOnViolation;
  // Trace records only for a consumer (--trace / --trace-text): see engine_service.cpp.
  ro.trace = !options.traceFile.empty() || !options.traceTextFile.empty();
  ro.pendDeadline = std::chrono::milliseconds(static_cast<long long>(options.pendTimeoutSeconds * 1000));
  Runtime::reset(ro);
  Runtime& rt = Runtime::current();

  std::ofstream trace;
  std::mutex traceMu;
  if (!options.traceFile.empty()) {
    trace.open(options.traceFile, std::ios::out | std::ios::trunc);
    if (!trace) {
      std::fprintf(stderr, "openwfp run: cannot write trace file %s: %s\n", options.traceFile.c_str(),
                   std::strerror(errno));
      return 1;
    }
    rt.tracer().addSink([&](const trace::ClassifyRecord& r) {
      std::lock_guard lk(traceMu);
      trace << r.toJsonLine() << '\n';
      trace.flush();
    });
  }
  std::ofstream traceText;
  if (!options.traceTextFile.empty()) {
    traceText.open(options.traceTextFile, std::ios::out | std::ios::trunc);
    if (!traceText) {
      std::fprintf(stderr, "openwfp run: cannot write trace file %s: %s\n", options.traceTextFile.c_str(),
                   std::strerror(errno));
      return 1;
    }
    rt.tracer().addSink([&](const trace::ClassifyRecord& r) {
      std::lock_guard lk(traceMu);
      traceText << r.toText() << '\n';
      traceText.flush();
    });
  }
  // Each violation is one line on stderr, the verifier's own log line (S16.3).

  // The control channel: proxies (in the supervised tree, or given OPENWFP_SOCKET) reach the
  // engine's socket controls and the drivers' devices through it. Processes inside the supervised
  // tree are restricted code for device descriptors (S14.6) and always served (S14.9).
  SupervisedTree tree;
  control::ControlServerOptions serverOptions;
  serverOptions.insideSupervisedTree = tree.insidePredicate();
  serverOptions.alwaysServe = tree.alwaysServePredicate();
  control::ControlServer server(serverOptions);
  if (auto err = server.start()) {
    std::fprintf(stderr, "%s\n", err->c_str());
    return 1;
  }

  DriverHost drivers;
  for (const auto& path : options.drivers) {
    auto r = drivers.load(path);
    if (!r) {
      std::fprintf(stderr, "openwfp run: %s\n", r.error.c_str());
      return 1;
    }
  }

  PolicyProxy policyProxy;
  if (!options.policyFile.empty()) {
    const std::string env = server.envEntry();
    if (auto err = startPolicy(drivers, options.policyFile, env.substr(env.find('=') + 1), policyProxy,
                               options.handOff);
        !err.empty()) {
      std::fprintf(stderr, "openwfp run: %s\n", err.c_str());
      return 1;
    }
  }

  linux_backend::SupervisorOptions so;
  so.interceptor.blockErrno = options.blockErrno;
  so.extraEnv = {server.envEntry()};
  int status;
  {
    linux_backend::Supervisor supervisor(rt.classifier(), so);
    auto started = supervisor.start(options.command);
    if (!started.ok) {
      std::fprintf(stderr, "%s\n", started.error.c_str());
      return started.exitCode;
    }
    server.setLookup(linux_backend::connectionLookup(*supervisor.interceptor()));
    // COMMAND's parent is the tree's root process (a child of this one); orphans of the tree
    // are reparented to that root, which SupervisedTree counts as inside (see its header).
    tree.setRoot(supervisor.childPid());
    gSupervisor = &supervisor;
    struct sigaction sa {};
    sa.sa_handler = forwardSignal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &sa, nullptr);
    status = supervisor.wait();
    gSupervisor = nullptr;
    server.setLookup(nullptr);
  }
  policyProxy.stop();
  drivers.unloadAll();  // leaks count as violations too
  server.stop();
  if (options.failOnViolation && status == 0 && !rt.verifier().violations().empty()) {
    std::fprintf(stderr, "openwfp run: %zu verifier violation(s): exit 3 (--fail-on-violation)\n",
                 rt.verifier().violations().size());
    return 3;
  }
  return status;
}

}  // namespace openwfp::host

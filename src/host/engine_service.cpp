// host/engine_service.cpp - `openwfp engine` (engine_service.h): start-up (socket directory,
// single-instance lock, runtime, control server, drivers), the engine operations of the control
// channel, and the clean stop on SIGTERM (S14.1).
#include "host/engine_service.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include <spdlog/spdlog.h>

#include "engine/engine.h"
#include "host/attached_sessions.h"
#include "host/engine_protocol.h"
#include "host/engine_state.h"
#include "host/policy_session.h"
#include "km/device_io.h"
#include "net/unique_fd.h"
#include "openwfp/control.h"
#include "openwfp/host.h"
#include "openwfp/openwfp.h"
#include "openwfp/trace.h"
#include "um/management_service.h"
#include "verifier/verifier.h"

namespace openwfp::host {

using nlohmann::json;
namespace fs = std::filesystem;

std::string defaultStateDir() {
  if (::geteuid() == 0) return "/var/lib/openwfp";
  if (const char* x = std::getenv("XDG_STATE_HOME"); x != nullptr && x[0] == '/') return std::string(x) + "/openwfp";
  if (const char* h = std::getenv("HOME"); h != nullptr && h[0] == '/') return std::string(h) + "/.local/state/openwfp";
  return "/tmp/openwfp-" + std::to_string(::geteuid()) + "/state";
}

namespace {

// The socket's directory: created 0700 (0755 for /run/openwfp, where other users' proxies may
// reach the root engine's socket controls) when missing; refused when another user owns it
// or others may write to it.
std::optional<std::string> prepareDirectory(const std::string& socketPath) {
  const fs::path dir = fs::path(socketPath).parent_path();
  if (dir.empty()) return "openwfp engine: socket path has no directory: " + socketPath;
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    const mode_t mode = dir == "/run/openwfp" ? 0755 : 0700;
    std::error_code ec;
    fs::create_directories(dir.parent_path(), ec);
    if (::mkdir(dir.c_str(), mode) != 0 && errno != EEXIST) {
      return "openwfp engine: cannot create " + dir.string() + ": " + std::strerror(errno);
    }
    ::chmod(dir.c_str(), mode);
    if (::stat(dir.c_str(), &st) != 0) return "openwfp engine: cannot use " + dir.string() + ": " + std::strerror(errno);
  }
  if (!S_ISDIR(st.st_mode)) return "openwfp engine: " + dir.string() + " is not a directory";
  if (st.st_uid != ::geteuid() && st.st_uid != 0) {
    return "openwfp engine: " + dir.string() + " belongs to uid " + std::to_string(st.st_uid) + ", not to this user";
  }
  if ((st.st_mode & 0022) != 0 && (st.st_mode & S_ISVTX) == 0) {
    return "openwfp engine: " + dir.string() + " is writable by others; refusing to serve a socket there";
  }
  return std::nullopt;
}

// One engine per socket: an flock on PATH.lock, holding our pid.
std::optional<std::string> takeInstanceLock(const std::string& socketPath, net::UniqueFd& lock) {
  const std::string lockPath = socketPath + ".lock";
  lock.reset(::open(lockPath.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!lock) return "openwfp engine: cannot open " + lockPath + ": " + std::strerror(errno);
  if (::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
    char buf[32] = {};
    [[maybe_unused]] ssize_t n = ::pread(lock.get(), buf, sizeof buf - 1, 0);
    const long pid = std::strtol(buf, nullptr, 10);
    return "openwfp engine: another engine (pid " + (pid > 0 ? std::to_string(pid) : std::string("?")) +
           ") serves " + socketPath;
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(lock.get(), 0) != 0 || ::pwrite(lock.get(), pid.data(), pid.size(), 0) < 0) {
    return "openwfp engine: cannot write " + lockPath + ": " + std::strerror(errno);
  }
  return std::nullopt;
}

bool authorized(const control::ServiceRequest& r) { return r.uid == ::geteuid() || r.uid == 0; }

json leaksJson(const std::vector<Leak>& leaks) {
  json a = json::array();
  for (const auto& l : leaks) a.push_back(l.driver + ": " + l.what);
  return a;
}

control::ServiceResult reply(int status, json body) { return {status, engine_ops::encode(body)}; }
control::ServiceResult failure(int status, const std::string& line) { return reply(status, json{{"error", line}}); }

std::string commandLineOf(const json& argv) {
  std::string out;
  if (!argv.is_array()) return out;
  for (const auto& a : argv) {
    if (!a.is_string()) continue;
    if (!out.empty()) out += ' ';
    out += a.get<std::string>();
  }
  return out.size() > 512 ? out.substr(0, 509) + "..." : out;
}

}  // namespace

struct EngineServiceState {
  EngineOptions options;
  std::string socketPath;
  std::chrono::system_clock::time_point started = std::chrono::system_clock::now();
  std::mutex driversMu;  // DriverHost is single-owner: every use under it
  DriverHost drivers;
  std::map<std::string, std::string> driverPaths;
  std::unique_ptr<AttachedSessions> sessions;
  std::unique_ptr<um::ManagementService> management;  // fwpmu.h calls (S14.4-S14.6)
  PolicyProxy policyProxy;  // the built-in proxy of `proxy =` rules, started with the first such rules
  bool policyProxyRunning = false;

  // `openwfp policy load FILE` (S17): the rules into the built-in policy driver, loaded on first use.
  control::ServiceResult policyLoad(const json& in) {
    const std::string path = in.value("path", "");
    if (path.empty() || path[0] != '/') return failure(EINVAL, "policy load: an absolute path is needed");
    auto parsed = policy::parseFile(path);
    if (!parsed) return failure(EINVAL, parsed.error);
    std::lock_guard lock(driversMu);
    if (auto err = loadPolicy(drivers, *parsed.policy); !err.empty()) return failure(EINVAL, err);
    driverPaths["policy"] = policyDriverPath();
    if (parsed.policy->hasProxyRules() && !policyProxyRunning) {
      if (auto err = policyProxy.start(socketPath); !err.empty()) {
        return failure(EIO, path + ": the built-in proxy: " + err);
      }
      policyProxyRunning = true;
    }
    json filters = json::array();
    for (const auto& l : describePolicyFilters(*parsed.policy)) filters.push_back(l);
    spdlog::info("openwfp engine: policy {} loaded: {} rule(s)", path, parsed.policy->rules.size());
    return reply(0, json{{"rules", parsed.policy->rules.size()}, {"filters", filters}});
  }

  control::ServiceResult policyUnload() {
    std::lock_guard lock(driversMu);
    if (auto err = unloadPolicy(drivers); !err.empty()) return failure(EINVAL, "policy unload: " + err);
    spdlog::info("openwfp engine: policy rules removed");
    return reply(0, json::object());
  }

  control::ServiceResult driverLoad(const json& in) {
    const std::string path = in.value("path", "");
    if (path.empty() || path[0] != '/') return failure(EINVAL, "driver load: an absolute path is needed");
    std::lock_guard lock(driversMu);
    LoadResult r = drivers.load(path);
    if (!r) {
      spdlog::error("openwfp engine: driver load {}: {}", path, r.error);
      json body{{"error", r.error}, {"leaks", leaksJson(r.leaks)}};
      return reply(r.status != 0 ? EIO : EINVAL, body);
    }
    driverPaths[r.name] = path;
    return reply(0, json{{"name", r.name}});
  }

  control::ServiceResult driverUnload(const json& in) {
    const std::string name = in.value("name", "");
    std::lock_guard lock(driversMu);
    const auto names = drivers.loaded();
    if (std::find(names.begin(), names.end(), name) == names.end()) {
      return failure(ENOENT, "driver unload: no driver named '" + name + "' is loaded");
    }
    auto leaks = drivers.unload(name);
    driverPaths.erase(name);
    for (const auto& l : leaks) spdlog::warn("openwfp engine: {} leaked at unload: {}", l.driver, l.what);
    return reply(0, json{{"leaks", leaksJson(leaks)}});
  }

  json driverList() {
    std::lock_guard lock(driversMu);
    json a = json::array();
    for (const auto& n : drivers.loaded()) a.push_back(json{{"name", n}, {"path", driverPaths[n]}});
    return a;
  }

  control::ServiceResult attach(control::ServiceRequest& r, const json& in) {
    if (r.fds.size() != 1) return failure(EINVAL, "attach: exactly one descriptor (the seccomp listener) is needed");
    AttachRequest a;
    a.connection = r.connection;
    a.listenerFd = r.fds[0];
    r.fds[0] = -1;
    a.client = r.pid;  // the kernel's credentials, never a claimed pid
    a.root = in.value("root", 0);
    a.command = in.value("command", 0);
    a.group = in.value("group", 0);
    a.commandLine = commandLineOf(in.value("argv", json::array()));
    std::string error;
    const uint64_t id = sessions->attach(std::move(a), error);
    if (id == 0) return failure(EINVAL, "attach: " + error);
    return reply(0, json{{"session", id}});
  }

  // A process holds an IOCTL pended on the device: a proxy waits for work (S14.8).
  control::ServiceResult waitDevice(const json& in) {
    std::string device = in.value("device", "");
    if (device.empty()) return failure(EINVAL, "wait for device: no device name");
    if (device.rfind("\\\\.\\", 0) != 0) device = "\\\\.\\" + device;
    const long timeoutMs = in.value("timeoutMs", 30000L);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
    for (;;) {
      if (const void* dev = km::device::deviceIdentity(device)) {
        for (const auto& f : km::device::openFiles()) {
          if (f.device == dev && f.pendedIrps > 0) return reply(0, json{{"proxy", f.openerPid}});
        }
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        return failure(ETIMEDOUT, "no proxy is waiting on " + device + " after " + std::to_string(timeoutMs / 1000.0).substr(0, 4) + " s");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  control::ServiceResult handleEngineOp(control::ServiceRequest& r) {
    auto in = engine_ops::decode(r.payload);
    if (!in) return failure(EINVAL, "malformed request");
    if (r.op == engine_ops::Hello) {
      return reply(0, json{{"pid", ::getpid()}, {"uid", ::geteuid()}, {"socket", socketPath}});
    }
    if (!authorized(r)) {
      return failure(EACCES, "access denied: the engine (uid " + std::to_string(::geteuid()) +
                                 ") takes this from its own uid and root only");
    }
    switch (r.op) {
      case engine_ops::DriverLoad:
        return driverLoad(*in);
      case engine_ops::DriverUnload:
        return driverUnload(*in);
      case engine_ops::DriverList:
        return reply(0, json{{"drivers", driverList()}});
      case engine_ops::Attach:
        return attach(r, *in);
      case engine_ops::WaitDevice:
        return waitDevice(*in);
      case engine_ops::PolicyLoad:
        return policyLoad(*in);
      case engine_ops::PolicyUnload:
        return policyUnload();
      case engine_ops::ShowObjects: {
        const std::string kind = in->value("kind", "");
        const bool asJson = in->value("json", false);
        std::string out = management->show(kind, asJson);
        if (!asJson && out.rfind("openwfp: show: ", 0) == 0) return failure(EINVAL, out.substr(std::strlen("openwfp: ")));
        return reply(0, json{{"text", out}});
      }
      case engine_ops::ShowState: {
        json state = engineState(EngineStateInputs{socketPath, started, driverList(), sessions->list()});
        if (in->value("json", false)) return reply(0, state);
        return reply(0, json{{"text", renderEngineState(state)}});
      }
      default:
        return failure(EOPNOTSUPP, "unknown engine operation " + std::to_string(r.op));
    }
  }
};

int runEngine(const EngineOptions& options) {
  if (auto missing = linux_backend::checkLinuxFeatures()) {
    std::fprintf(stderr, "%s\n", missing->c_str());
    return 1;
  }
  auto st = std::make_unique<EngineServiceState>();
  st->options = options;
  st->socketPath = options.socketPath.empty() ? control::defaultEnginePath() : options.socketPath;
  if (auto err = prepareDirectory(st->socketPath)) {
    std::fprintf(stderr, "%s\n", err->c_str());
    return 1;
  }
  net::UniqueFd instanceLock;
  if (auto err = takeInstanceLock(st->socketPath, instanceLock)) {
    std::fprintf(stderr, "%s\n", err->c_str());
    return 1;
  }
  // As the standalone supervisor (S13.8): no same-uid process may ptrace the engine or take its
  // descriptors (the sessions' listeners) with pidfd_getfd.
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  // Signals are taken by sigwait below: blocked in every thread from here on.
  sigset_t stopSignals;
  sigemptyset(&stopSignals);
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&stopSignals, sig);
  pthread_sigmask(SIG_BLOCK, &stopSignals, nullptr);

  RuntimeOptions ro;
  ro.verifier = options.verifier;
  // A classify's trace record is built only for a consumer (--trace FILE): nothing else reads
  // it, and building it cost 15-70 us a connection on a PVM VM (docs/performance.md).
  ro.trace = !options.traceFile.empty();
  ro.pendDeadline = std::chrono::milliseconds(static_cast<long long>(options.pendTimeoutSeconds * 1000));
  Runtime::reset(ro);
  Runtime& rt = Runtime::current();
  std::ofstream trace;
  std::mutex traceMu;
  if (!options.traceFile.empty()) {
    trace.open(options.traceFile, std::ios::out | std::ios::app);
    if (!trace) {
      std::fprintf(stderr, "openwfp engine: cannot write trace file %s: %s\n", options.traceFile.c_str(),
                   std::strerror(errno));
      return 1;
    }
    rt.tracer().addSink([&](const trace::ClassifyRecord& r) {
      std::lock_guard lk(traceMu);
      trace << r.toJsonLine() << '\n';
      trace.flush();
    });
  }
  if (options.verifier) {
    rt.verifier().addListener([](const verifier::Violation& v) {
      spdlog::warn("openwfp verifier: {}: {} (driver {})", verifier::toString(v.code), v.message,
                   v.driver.empty() ? "?" : v.driver);
    });
  }
  // Management (fwpmu.h) and persistent objects: restored before any driver loads.
  const std::string stateDir = options.stateDir.empty() ? defaultStateDir() : options.stateDir;
  {
    std::error_code ec;
    fs::create_directories(stateDir, ec);
    if (ec) {
      std::fprintf(stderr, "openwfp engine: cannot create the state directory %s: %s\n", stateDir.c_str(),
                   ec.message().c_str());
      return 1;
    }
    ::chmod(stateDir.c_str(), 0700);
  }
  st->management = std::make_unique<um::ManagementService>(um::ManagementOptions{::geteuid(), stateDir});
  if (auto line = st->management->restore()) spdlog::error("openwfp engine: {}", *line);
  linux_backend::InterceptorOptions io;
  io.blockErrno = options.blockErrno;
  st->sessions = std::make_unique<AttachedSessions>(rt.classifier(), io);

  control::ControlServerOptions so;
  so.socketPath = st->socketPath;
  so.socketMode = 0666;  // the directory decides who reaches it; each request is checked
  AttachedSessions* sessions = st->sessions.get();
  so.insideSupervisedTree = [sessions](pid_t pid) { return sessions->membership(pid) != TreeMembership::Outside; };
  so.alwaysServe = [sessions](pid_t pid) { return sessions->membership(pid) == TreeMembership::Inside; };
  EngineServiceState* state = st.get();
  so.serviceHandler = [state](control::ServiceRequest& r) -> control::ServiceResult {
    if (r.service == control::kServiceEngine) return state->handleEngineOp(r);
    if (r.service == control::kServiceManagement) return state->management->handle(r);
    return failure(EOPNOTSUPP, "unknown service " + std::to_string(r.service));
  };
  so.connectionClosed = [state](uint64_t connection) {
    state->sessions->detach(connection);
    state->management->connectionClosed(connection);  // its dynamic sessions' objects go
  };
  control::ControlServer server(so);
  if (auto err = server.start()) {
    std::fprintf(stderr, "%s\n", err->c_str());
    return 1;
  }
  server.setLookup(st->sessions->lookup());
  for (const auto& path : options.drivers) {
    json in{{"path", fs::absolute(path).string()}};
    auto r = st->driverLoad(in);
    if (r.status != 0) {
      std::fprintf(stderr, "openwfp engine: %s\n", engine_ops::decode(r.payload)->value("error", "?").c_str());
      server.stop();
      return 1;
    }
  }
  spdlog::info("openwfp engine: pid {} serving {}", ::getpid(), st->socketPath);

  int sig = 0;
  while (sigwait(&stopSignals, &sig) != 0) {
  }
  spdlog::info("openwfp engine: {}: stopping", strsignal(sig));
  // Pended classifies end as BLOCK (the applications see their connect refused), then the
  // sessions stop (later calls of their trees fail closed), then drivers unload with their leak
  // report, then the socket goes.
  if (size_t n = rt.engine().blockPended("engine stopped while the classify was pended")) {
    spdlog::info("openwfp engine: {} pended classif{} completed as BLOCK", n, n == 1 ? "y" : "ies");
  }
  server.setLookup(nullptr);
  st->sessions->stopAll();
  st->policyProxy.stop();
  server.stop();               // no more calls; every client's handles and sessions closed
  st->management.reset();
  {
    std::lock_guard lock(st->driversMu);
    for (const auto& l : st->drivers.unloadAll()) spdlog::warn("openwfp engine: {} leaked at unload: {}", l.driver, l.what);
  }
  spdlog::info("openwfp engine: stopped");
  return 0;
}

}  // namespace openwfp::host
